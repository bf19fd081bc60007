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
# done on the empty root each time). The root is unpacked in FRESH_WORK (default /var/tmp);
# the mounts live in a private mount namespace, so the host's mount table never sees them;
# the root is removed at the end, also when a step fails or the run is interrupted.
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

src=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot and mounts)" "run 'sudo make fresh-check'"
commit=$(git -C "$src" rev-parse --verify -q 'HEAD^{commit}') ||
    die "$src: not a git clone with a commit" "fresh-check tests a commit; commit first"
"$src/build-aux/deps.sh" fresh
for tool in debootstrap unshare chroot mount tar; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done

say "testing commit $(git -C "$src" log -1 --format='%h %s' "$commit")"
if [ -n "$(git -C "$src" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    say "(uncommitted changes in $src are not tested: only the commit is cloned)"
fi

arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
key=$(printf '%s\n' "$SUITE" "$MIRROR" "$VARIANT" "$INCLUDE" "$arch" | sha256sum | cut -c1-12)
tarball="$CACHE/$SUITE-$VARIANT-$arch-$key.tar"
mkdir -p "$CACHE/apt-archives"

root=""
# kill_inside: ends every process whose root folder is the Debian root (a test's sshd that
# outlived its test, a make that an interrupt did not reach).
kill_inside() {
    local p n
    for n in 1 2 3; do
        p=""
        for d in /proc/[0-9]*; do
            [ "$(readlink "$d/root" 2>/dev/null)" = "$root" ] && p="$p ${d#/proc/}"
        done
        [ -n "$p" ] || return 0
        kill -"$([ "$n" -lt 3 ] && echo TERM || echo KILL)" $p 2>/dev/null || true
        sleep 1
    done
}
cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ -n "$root" ] && [ -d "$root" ]; then
        kill_inside
        # The mounts were made in a namespace that is gone; never remove through one that a
        # failure might have left in this namespace (it would be the host's /dev or /sys).
        if grep -qF " $root/" /proc/self/mountinfo; then
            printf 'm3age: error: fresh-check: %s still has mounts; not removing it\n' "$root" >&2
        else
            rm -rf --one-file-system "$root"
        fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted (SIGINT); removing the root"; exit 130' INT
trap 'say "interrupted (SIGTERM); removing the root"; exit 143' TERM
trap 'say "interrupted (SIGHUP); removing the root"; exit 129' HUP

root=$(mktemp -d "$WORK/m3age-fresh.XXXXXX")
chmod 755 "$root"
t0=$(date +%s)
if [ -f "$tarball" ]; then
    say "Debian root from the cache ($tarball)"
    tar -C "$root" --numeric-owner -xpf "$tarball"
else
    say "making a minimal Debian root: debootstrap --variant=$VARIANT --include=$INCLUDE $SUITE"
    if ! debootstrap --variant="$VARIANT" --include="$INCLUDE" --arch="$arch" "$SUITE" "$root" \
        "$MIRROR" >"$root.debootstrap.log" 2>&1; then
        tail -20 "$root.debootstrap.log" >&2
        rm -f "$root.debootstrap.log"
        die "debootstrap failed (log above)"
    fi
    rm -f "$root.debootstrap.log"
    # (the .deb files debootstrap installed from are not part of the machine)
    rm -f "$root"/var/cache/apt/archives/*.deb
    # the pristine root, written whole or not at all
    rm -f "$CACHE"/"$SUITE-$VARIANT-$arch"-*.tar
    tar -C "$root" --numeric-owner -cpf "$tarball.tmp" .
    sync "$tarball.tmp"
    mv "$tarball.tmp" "$tarball"
fi
say "root ready in $(($(date +%s) - t0)) s"

cp /etc/resolv.conf "$root/etc/resolv.conf"
git clone -q --no-hardlinks "$src" "$root/root/m3age"
git -C "$root/root/m3age" checkout -q --detach "$commit"

# Inside a private mount namespace: the mounts vanish with it, whatever happens to this
# script. dev/shm is a tmpfs of its own, so the tests' files do not reach the host's.
log="$root/fresh-check.log"
inner='
set -e
r=$1
mount -t proc proc "$r/proc"
mount -t sysfs sysfs "$r/sys"
mount --rbind /dev "$r/dev"
mount -t tmpfs -o mode=1777,nosuid,nodev shm "$r/dev/shm"
mount --bind "$2" "$r/var/cache/apt/archives"
chroot "$r" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/bash -c "
    cd /root/m3age || exit 2
    echo \"fresh-check: # make demo\"
    make demo || { echo \"fresh-check: make demo failed (status \$?)\"; exit 1; }
    echo \"fresh-check: make demo took \$SECONDS s\"
    SECONDS=0
    echo \"fresh-check: # make check\"
    make check || { echo \"fresh-check: make check failed (status \$?)\"; exit 1; }
    echo \"fresh-check: make check took \$SECONDS s\"
"
'
t1=$(date +%s)
# In the foreground, so that an interrupt reaches every process of the run.
set +e
unshare --mount --propagation private bash -c "$inner" fresh-check "$root" "$CACHE/apt-archives" \
    </dev/null 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
total=$(grep -E '^total: [0-9]+ passed' "$log" | tail -1 || true)
say "make check: ${total:-no total line}"
say "demo + check in $(($(date +%s) - t1)) s"
if [ "$status" -ne 0 ]; then
    say "FAILED (status $status) on commit ${commit:0:12}"
    exit 1
fi
say "passed on commit ${commit:0:12}"
exit 0
}
