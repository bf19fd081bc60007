#!/bin/sh
# valgrind-run.sh CMD...: runs CMD (tests/run.sh, for `make valgrind`) so that each of the
# ~1,500 m3age processes the command-line tests start under memcheck starts faster.
#
# memcheck needs the symbol table of the dynamic linker (Debian's libc6-dbg provides it), but
# at every start it also reads all the DWARF of that package for libc: 0.25 s of the 0.55 s
# that `valgrind /bin/true` costs on the development machine, about six CPU minutes over the
# suite. As root, and where a private mount namespace can be made, CMD runs in one in which
# /usr/lib/debug holds only ld.so's symbol table, cut from the installed debug file (reports
# keep function names; libc frames lose their line numbers). Anywhere else CMD runs as is.
: "${BUILD:?}"
dbg=/usr/lib/debug
ldso=$(readlink -f /lib64/ld-linux-x86-64.so.2 2>/dev/null || true)
if [ "$(id -u)" != 0 ] || [ -z "$ldso" ] || ! command -v unshare >/dev/null ||
    ! command -v objcopy >/dev/null || ! unshare -m true 2>/dev/null; then
    exec "$@"
fi
id=$(readelf -n "$ldso" 2>/dev/null | awk '/Build ID/ { print $3 }')
src="$dbg/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug"
[ -n "$id" ] && [ -f "$src" ] || exec "$@"
slim="$BUILD/valgrind-debug"
dst="$slim/.build-id/$(echo "$id" | cut -c1-2)/$(echo "$id" | cut -c3-).debug"
if [ ! -f "$dst" ] || [ "$src" -nt "$dst" ]; then
    rm -rf "$slim" && mkdir -p "$(dirname "$dst")" &&
        objcopy --strip-debug "$src" "$dst" 2>/dev/null || exec "$@"
fi
echo "valgrind-run: memcheck sees only ld.so's symbols under $dbg (private mount)" >&2
# The mount is private to this namespace: nothing outside CMD sees it, and it goes with CMD.
exec unshare -m --propagation private sh -c \
    'mount --bind "$0" '"$dbg"' ||
        echo "valgrind-run: cannot mount; memcheck reads the full debug info" >&2
    exec "$@"' "$slim" "$@"
