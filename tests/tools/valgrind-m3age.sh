#!/bin/sh
# valgrind-m3age.sh: m3age under valgrind memcheck, for `make valgrind` (tests/lib.sh runs
# it as $M3AGE when M3AGE_WRAPPER names it). Any memory error or definite leak makes the
# command exit 99, which no test expects. Reached through a symlink named e.g. `age` or
# `agenix`, it runs m3age under that name. exec keeps the process id (tests signal it).
: "${BUILD:?}"
bin="$BUILD/m3age"
# Through a symlink (agenix, age) $0 is the link: find the suppressions beside this script.
here=$(dirname "$(readlink -f "$0")")
name=$(basename "$0")
case $name in
valgrind-m3age.sh | m3age) ;;
*)
    mkdir -p "$BUILD/valgrind-names"
    ln -sf "$bin" "$BUILD/valgrind-names/$name"
    bin="$BUILD/valgrind-names/$name"
    ;;
esac
exec valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
    --show-leak-kinds=definite --child-silent-after-fork=yes \
    --suppressions="$here/valgrind-known.supp" "$bin" "$@"
