#!/bin/sh
# deps.sh PROFILE...: make sure the Debian packages a make target needs are installed.
# Installs what is missing with apt-get (through sudo when not root) and says so.
# On systems without apt-get (a Nix dev shell, another distribution) it only checks
# and names what is missing.
set -eu

pkgs_build="gcc make pkg-config libsodium-dev libssl-dev libssh-dev libbsd-dev"
# nodejs and npm: the interop tests with typage (tests/interop/typage.sh), which npm installs
# into the build folder; Debian 12's nodejs is 18 (typage.mjs gives it the global Web Crypto
# that Node.js has from 19 on); npm is Debian's package, or the one a NodeSource nodejs
# provides (below). procps: pgrep, with which tests find the children of m3age (Nix, an
# editor); a minimal Debian has no procps.
pkgs_check="$pkgs_build libcriterion-dev zlib1g-dev age python3 python3-yaml nix-bin openssh-client openssh-server git mandoc zsh fish valgrind nodejs npm procps"
pkgs_asan="$pkgs_check clang libclang-rt-14-dev"
pkgs_fuzz="$pkgs_check clang libclang-rt-14-dev"
pkgs_bench="$pkgs_check hyperfine"
pkgs_valgrind="$pkgs_check valgrind"
pkgs_demo="$pkgs_build git"
pkgs_man="mandoc"
# make fresh-check: a minimal Debian root made with debootstrap, in which `make demo` and
# `make check` install everything else themselves (build-aux/fresh-check.sh).
pkgs_fresh="debootstrap git"
pkgs_node="nodejs npm"

want=""
for profile in "$@"; do
    eval "list=\${pkgs_$profile:-}"
    [ -n "$list" ] || { echo "deps.sh: unknown profile '$profile'" >&2; exit 2; }
    want="$want $list"
done

if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    # Not Debian: trust the environment (e.g. `nix develop`) and only check the libraries.
    if ! pkg-config --exists libsodium openssl libssh libbsd 2>/dev/null; then
        echo "m3age build: missing libraries (need libsodium, openssl, libssh, libbsd via pkg-config);" \
             "install them with your package manager" >&2
        exit 1
    fi
    exit 0
fi

missing=""
for p in $want; do
    case " $missing " in *" $p "*) continue ;; esac
    st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
    [ "$st" = installed ] || missing="$missing $p"
done
[ -n "$missing" ] || exit 0
# A package that an installed one provides is there too: e.g. npm, which NodeSource's nodejs
# provides and conflicts with (installing Debian's npm would replace that nodejs).
provided=$(dpkg-query -W -f='${db:Status-Status} ${Provides}\n' 2>/dev/null |
    sed -n 's/^installed //p' | tr ',' '\n' | sed 's/(.*)//; s/ //g' | sort -u)
still=""
for p in $missing; do
    printf '%s\n' "$provided" | grep -qxF -- "$p" || still="$still $p"
done
missing=$still
[ -n "$missing" ] || exit 0

if [ "$(id -u)" -eq 0 ]; then
    sudo=""
elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
else
    echo "m3age build: missing packages:$missing (run as root or install sudo)" >&2
    exit 1
fi

echo "m3age build: installing missing packages:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
# The package lists may be empty on a fresh machine; refresh them once if needed.
if ! $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null 2>&1; then
    echo "m3age build: refreshing package lists (apt-get update)" >&2
    $sudo apt-get update -q >/dev/null
    $sudo apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
echo "m3age build: installed:$missing" >&2
