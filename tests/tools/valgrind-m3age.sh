#!/bin/sh
# valgrind-m3age.sh: m3age under valgrind memcheck, for `make valgrind` (tests/lib.sh runs
# it as $M3AGE when M3AGE_WRAPPER names it). Any memory error or definite leak makes the
# command exit 99, which no test expects. Reached through a symlink named e.g. `age` or
# `agenix`, it runs m3age under that name. exec keeps the process id (tests signal it).
: "${BUILD:?}"
# No process is started before valgrind (each costs milliseconds, and the suite runs this
# ~1,700 times): the suppressions' path comes from make (M3AGE_VALGRIND_SUPP), the name from $0.
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
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --child-silent-after-fork=yes \
    --suppressions="$supp" "$bin" "$@"
