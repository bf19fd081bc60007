#!/bin/bash
# build-aux/fresh-check.sh (`make fresh-check`): the README's quick start on a machine that
# has nothing. A minimal Debian 12 root (debootstrap --variant=minbase, plus git, make, sudo
# and ca-certificates), a clone of the commit under test in it (/root/m3age), proc, sys, dev
# and dev/shm mounted, then exactly `make demo` and `make check` as root in the clone. It
# fails when either fails: a package that a build or a test needs and that the project's own
# files (build-aux/deps.sh) do not install shows up here, where on a developer's machine the
# package was there already.
#
# Needs root (debootstrap, chroot, mounts) and the Debian package registry. Only committed
# state is tested (HEAD of this clone). The pristine root is kept as a tarball in
# FRESH_CACHE (default /var/cache/m3age/fresh-check), named by what it was made from, and the
# .deb files that apt downloads inside the root are kept beside it (installing them is still
# done on the empty root each time). Everything else happens in a private mount namespace
# (the script runs itself there with --inside): the root is a tmpfs mounted on an empty
# folder in FRESH_WORK (default /var/tmp), with proc, sys, dev and dev/shm on it, so the
# host's mount table never sees them, and all of it is gone when the namespace ends, also
# when a step fails or the run is interrupted; only its /tmp is a folder on disk (as on a
# Debian machine), removed at the end. Processes left running in the root are ended.
# Exit status: 0 both commands passed, 1 one of them failed, 2 this script could not run.
# The whole script is one block, read before it runs: a run takes minutes, and bash would
# otherwise read an edited file from the old offset.
{
set -euo pipefail

SUITE=bookworm
MIRROR=http://deb.debian.org/debian
VARIANT=minbase
INCLUDE=git,make,sudo,ca-certificates
CACHE=${FRESH_CACHE:-/var/cache/m3age/fresh-check}
WORK=${FRESH_WORK:-/var/tmp}

say() { printf 'fresh-check: %s\n' "$*"; }
die() {
    printf 'm3age: error: fresh-check: %s\n' "$1" >&2
    [ -z "${2:-}" ] || printf 'm3age: hint: %s\n' "$2" >&2
    exit 2
}

# kill_inside ROOT: ends every process of the run (a test's sshd that outlived its test, a
# make that an interrupt did not reach): those in the PID namespace recorded in ROOT.pidns,
# and any whose root folder is ROOT.
kill_inside() {
    local p n d ns=""
    [ -f "$1.pidns" ] && ns=$(cat "$1.pidns")
    for n in 1 2 3; do
        p=""
        for d in /proc/[0-9]*; do
            { [ "$(readlink "$d/root" 2>/dev/null)" = "$1" ] ||
                { [ -n "$ns" ] && [ "$(readlink "$d/ns/pid" 2>/dev/null)" = "$ns" ]; }; } &&
                p="$p ${d#/proc/}"
        done
        [ -n "$p" ] || return 0
        kill -"$([ "$n" -lt 3 ] && echo TERM || echo KILL)" $p 2>/dev/null || true
        sleep 1
    done
}

# inside ROOT SRC COMMIT TARBALL TMP: in the private mount namespace. Exit status 0, 1 (make
# demo or make check failed) or 2.
inside() {
    local root=$1 src=$2 commit=$3 tarball=$4 tmp=$5 t0 status
    mount -t tmpfs -o mode=755 fresh-check "$root" || die "cannot mount a tmpfs on $root"
    t0=$(date +%s)
    if [ -f "$tarball" ]; then
        say "Debian root from the cache ($tarball)"
        tar -C "$root" --numeric-owner -xpf "$tarball" || die "$tarball: cannot unpack"
    else
        say "making a minimal Debian root: debootstrap --variant=$VARIANT --include=$INCLUDE $SUITE"
        if ! debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" \
            >"$root/debootstrap.log" 2>&1; then
            tail -20 "$root/debootstrap.log" >&2
            die "debootstrap failed (log above)"
        fi
        # (the .deb files debootstrap installed from are not part of the machine)
        rm -f "$root/debootstrap.log" "$root"/var/cache/apt/archives/*.deb
        # the pristine root, written whole or not at all
        rm -f "${tarball%-*}"-*.tar
        { tar -C "$root" --numeric-owner -cpf "$tarball.tmp" . && sync "$tarball.tmp" &&
            mv "$tarball.tmp" "$tarball"; } || die "$tarball: cannot write"
    fi
    say "root ready in $(($(date +%s) - t0)) s"
    cp /etc/resolv.conf "$root/etc/resolv.conf" || die "cannot copy /etc/resolv.conf"
    # The network's own certificate authorities (a TLS-inspecting egress, as on this
    # workplace's machines and many company networks) are the machine's, not the project's:
    # the root trusts what the host trusts locally, and Node.js (npm, for the typage interop
    # tests) is pointed at the system store, which it does not read by itself.
    extra_ca=""
    if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
        cp /usr/local/share/ca-certificates/*.crt "$root/usr/local/share/ca-certificates/" &&
            chroot "$root" update-ca-certificates >/dev/null 2>&1 ||
            die "cannot add the host's local certificate authorities to $root"
        extra_ca=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
    fi
    { git clone -q "$src" "$root/root/m3age" &&
        git -C "$root/root/m3age" checkout -q --detach "$commit"; } || die "cannot clone $src"
    # dev/shm: a tmpfs of its own, so the tests' files do not reach the host's /dev/shm;
    # /tmp on disk, as on a Debian 12 machine (tests check that m3age refuses a disk-backed
    # temporary folder)
    { mount -t proc proc "$root/proc" && mount -t sysfs sysfs "$root/sys" &&
        mount --rbind /dev "$root/dev" &&
        mount -t tmpfs -o mode=1777,nosuid,nodev shm "$root/dev/shm" &&
        mount --bind "$tmp" "$root/tmp" &&
        mount --bind "$CACHE/apt-archives" "$root/var/cache/apt/archives"; } ||
        die "cannot mount proc, sys, dev, dev/shm, tmp or the apt cache in $root"
    set +e
    # The root is made the root of a mount namespace of its own (pivot_root, not chroot) in a
    # PID namespace of its own, as on a machine: a program that re-enters the mount namespace
    # it started in (Nix does, to run git for a git+file: flake) stays in this root, which a
    # chroot does not give. Every process of the run is in that PID namespace: kill_inside
    # finds them by it (its first process writes it to ROOT.pidns), and they all end when that
    # first process does.
    unshare --mount --pid --fork --propagation private /bin/sh -c '
        readlink /proc/self/ns/pid >"$1.pidns"
        cd "$1" && mkdir .oldroot && pivot_root . .oldroot && cd / && umount -l /proc &&
            mount -t proc proc /proc && umount -l /.oldroot && rmdir /.oldroot || exit 2
        shift
        exec /usr/bin/env -i "$@"' sh "$root" HOME=/root TERM=dumb LANG=C.UTF-8 $extra_ca \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c '
        cd /root/m3age || exit 2
        echo "fresh-check: # make demo"
        make demo || { echo "fresh-check: make demo failed (status $?)"; exit 1; }
        echo "fresh-check: make demo took $SECONDS s"
        SECONDS=0
        echo "fresh-check: # make check"
        make check || { echo "fresh-check: make check failed (status $?)"; exit 1; }
        echo "fresh-check: make check took $SECONDS s"'
    status=$?
    set -e
    kill_inside "$root"
    return "$status"
}

if [ "${1:-}" = --inside ]; then
    shift
    inside "$@"
    exit
fi

src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts)" "run 'sudo make fresh-check'"
commit=$(git -C "$src" rev-parse --verify -q 'HEAD^{commit}') ||
    die "$src: not a git clone with a commit" "fresh-check tests a commit; commit first"
"$src/build-aux/deps.sh" fresh
for tool in debootstrap unshare chroot pivot_root mount tar; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done

say "testing commit $(git -C "$src" log -1 --format='%h %s' "$commit")"
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    say "(uncommitted changes in $src are not tested: only the commit is cloned)"
fi

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
key=$(printf '%s\n' "$SUITE" "$MIRROR" "$VARIANT" "$INCLUDE" "$arch" | sha256sum | cut -c1-12)
mkdir -p "$CACHE/apt-archives"

root="" log="" tmp=""
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$root" ]; then
        kill_inside "$root"
        rm -f "$root.pidns"
        # an empty folder here: the root was a tmpfs in the namespace, gone with it
        rmdir "$root" 2>/dev/null || printf 'm3age: error: fresh-check: %s is not empty\n' "$root" >&2
    fi
    [ -z "$tmp" ] || rm -rf --one-file-system "$tmp"
    rm -f "$log"
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted (SIGINT)"; exit 130' INT
trap 'say "interrupted (SIGTERM)"; exit 143' TERM
trap 'say "interrupted (SIGHUP)"; exit 129' HUP

root=$(mktemp -d "$WORK/m3age-fresh.XXXXXX")
log=$(mktemp "$WORK/m3age-fresh-log.XXXXXX")
tmp=$(mktemp -d "$WORK/m3age-fresh-tmp.XXXXXX")
chmod 1777 "$tmp"
t1=$(date +%s)
# In the foreground, so that an interrupt reaches every process of the run.
set +e
unshare --mount --propagation private "$src/build-aux/fresh-check.sh" --inside "$root" "$src" \
    "$commit" "$CACHE/$SUITE-$VARIANT-$arch-$key.tar" "$tmp" </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
total=$(grep -E '^total: [0-9]+ passed' "$log" | tail -1 || true)
say "make check: ${total:-no total line}"
say "in all $(($(date +%s) - t1)) s"
if [ "$status" -ne 0 ]; then
    say "FAILED (status $status) on commit ${commit:0:12}"
    [ "$status" -eq 1 ] || exit 2
    exit 1
fi
say "passed on commit ${commit:0:12}"
exit 0
}
