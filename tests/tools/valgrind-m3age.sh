#!/bin/sh
# valgrind-m3age.sh: m3age under valgrind memcheck, for `make valgrind` (tests/lib.sh runs
# it as $M3AGE when M3AGE_WRAPPER names it). Any memory error or definite leak makes the
# command exit 99, which no test expects. Reached through a symlink named e.g. `age` or
# `agenix`, it runs m3age under that name. exec keeps the process id (tests signal it).
# BUILD comes from make; a test that runs m3age with a bare environment (an activation
# script, env -i) leaves it out: then the build folder beside the source tree.
: "${BUILD:=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)/build}"
# No process is started before valgrind (each costs milliseconds, and the suite runs this
# ~1,100 times): the suppressions' path comes from make (M3AGE_VALGRIND_SUPP), the name from $0.
bin="$BUILD/m3age"
name=${0##*/}
case $name in
valgrind-m3age.sh | m3age) ;;
*)
    bin="$BUILD/valgrind-names/$name"
    [ -L "$bin" ] || { mkdir -p "$BUILD/valgrind-names" && ln -sf "$BUILD/m3age" "$bin"; }
    ;;
esac
# Through a symlink (agenix, age) $0 is the link: the suppressions are beside this script.
supp=${M3AGE_VALGRIND_SUPP:-$(dirname "$(readlink -f "$0")")/valgrind-known.supp}
# Debian's /usr/bin/valgrind is a shell script that only adds /usr/lib/debug to
# LD_LIBRARY_PATH (where no library is, so m3age's loader searched it in vain) and execs
# valgrind.bin: that is run directly, one process fewer per start.
# A test may run m3age with a PATH of its own, without valgrind's folder: then Debian's.
vg=$(command -v valgrind) || vg=/usr/bin/valgrind
[ "$vg" != /usr/bin/valgrind ] || [ ! -x /usr/bin/valgrind.bin ] || vg=/usr/bin/valgrind.bin
# Start-up, not m3age, is most of each run's cost: memcheck translates (and instruments)
# every block of code it runs, ~4,000 blocks for one encryption. --vex-guest-chase=no stops
# it from following jumps into blocks it then translates again as part of other traces
# (encrypt: 45,700 -> 31,700 guest instructions translated, ~20% less CPU per start);
# --read-inline-info=no skips reading m3age's inlining DWARF (reports still name each
# function and line, without the inlined callers' frames). Neither changes what memcheck
# checks.
exec $vg -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --child-silent-after-fork=yes \
    --vex-guest-chase=no --read-inline-info=no \
    --suppressions="$supp" "$bin" "$@"
