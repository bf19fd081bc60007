#!/bin/sh
# build-aux/config.sh OUT: writes the build's configuration, the flags that depend on what
# is installed, as make variables to OUT ($(BUILD)/config.mk), which the Makefile includes.
# The Makefile runs it after build-aux/deps.sh has installed the packages (so the answers
# are the same whether they were there before `make` or `make` installed them), and on every
# run; OUT is rewritten only when its text changes, and the objects and programs depend on
# it, so a change of flags rebuilds and relinks them and no change rebuilds nothing.
#
# Inputs (environment): CC, PKG_CONFIG, STATIC_DEPS (1: link libsodium and libbsd from their
# static archives when all are installed); LIBC_RUNPATH, LIBSSH_SONAME, LIBCRYPTO_SONAME
# when set (even empty) are taken as given, otherwise found out here.
# Exit status 0, or 2 when pkg-config does not know the libraries (message on stderr).
set -eu

out=$1
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
STATIC_DEPS=${STATIC_DEPS:-1}
PKGS="libsodium openssl libssh libbsd"

pc() { "$PKG_CONFIG" "$@" 2>/dev/null; }

if ! cflags=$(pc --cflags $PKGS); then
    echo "m3age build: error: $PKG_CONFIG: cannot find $PKGS" >&2
    echo "m3age build: hint: run 'build-aux/deps.sh build', or install them with your package manager" >&2
    exit 2
fi
# libssh and libcrypto are not linked into m3age (it opens them when needed, by SONAME); the
# tests and benchmarks that call OpenSSL themselves link libcrypto (TEST_LIBS).
libs="$(pc --libs libsodium libbsd) -ldl"
if [ "$STATIC_DEPS" = 1 ]; then
    n=0
    for a in "$(pc --variable=libdir libsodium)/libsodium.a" "$(pc --variable=libdir libbsd)/libbsd.a" \
        "$(pc --variable=libdir libmd)/libmd.a"; do
        [ -f "$a" ] && n=$((n + 1))
    done
    [ "$n" -ne 3 ] || libs="-Wl,-Bstatic -lsodium -lbsd -lmd -Wl,-Bdynamic -ldl"
fi
test_libs=$(pc --libs libcrypto || true)

# soname_of PACKAGE FILE: the SONAME of FILE in PACKAGE's library folder.
soname_of() {
    objdump -p "$(pc --variable=libdir "$1")/$2" 2>/dev/null | awk '$1 == "SONAME" { print $2 }'
}
[ "${LIBSSH_SONAME+set}" ] || LIBSSH_SONAME=$(soname_of libssh libssh.so)
[ "${LIBCRYPTO_SONAME+set}" ] || LIBCRYPTO_SONAME=$(soname_of libcrypto libcrypto.so)

# The folder of the C library the compiler links against (only a folder that holds it: a
# compiler that cannot say prints the bare name, and the current folder must never become a
# run path).
if [ -z "${LIBC_RUNPATH+set}" ]; then
    LIBC_RUNPATH=""
    so=$("$CC" -print-file-name=libc.so.6 2>/dev/null || true)
    case $so in
    /*) [ ! -e "$so" ] || LIBC_RUNPATH=$(cd "$(dirname "$so")" && pwd) ;;
    esac
fi

mkdir -p "$(dirname "$out")"
tmp="$out.tmp.$$"
trap 'rm -f "$tmp"' EXIT
{
    echo "# Written by build-aux/config.sh (CC=$CC STATIC_DEPS=$STATIC_DEPS); do not edit."
    echo "PKG_CFLAGS := $cflags"
    echo "PKG_LIBS := $libs"
    echo "TEST_LIBS := $test_libs"
    echo "LIBSSH_SONAME := $LIBSSH_SONAME"
    echo "LIBCRYPTO_SONAME := $LIBCRYPTO_SONAME"
    echo "LIBC_RUNPATH := $LIBC_RUNPATH"
} >"$tmp"
if cmp -s "$tmp" "$out"; then
    exit 0
fi
mv "$tmp" "$out"
echo "  CONFIG  $out"
