# tests/lib.sh: the harness for the shell tests in tests/cli and tests/interop.
#
# A test file defines functions named test_*; `run_tests` (called at the end of the file)
# runs each in its own subshell, in a fresh temporary folder as the working directory,
# and prints `ok`, `FAIL` or `skip` per test and a closing `N passed, N failed, N skipped`.
# Inside a test: `run CMD...` records status, stdout and stderr ($status, out, err files);
# the assert_* helpers fail the test with a message; `skip REASON` skips it.

set -u
: "${BUILD:=$(cd "$(dirname "$0")/../.." && pwd)/build}"
M3AGE="${M3AGE_WRAPPER:-$BUILD/m3age}" # make valgrind runs m3age through a wrapper
# M3AGE_FIXTURE: m3age itself, never through the wrapper, for runs that only make a fixture
# (a file encrypted for the test to work on) or read a result back for an assertion, where
# the command is not what the test checks. Under make valgrind each memcheck start costs
# ~0.3 s CPU; those commands run under memcheck in the tests that check them.
M3AGE_FIXTURE="$BUILD/m3age"
TOOLS="$BUILD/tools"
SRCDIR=$(cd "$(dirname "$0")/../.." && pwd)
TESTKIT="${M3AGE_TESTKIT:-$SRCDIR/tests/testkit}"
export LC_ALL=C NO_COLOR=1
# T_ROOT: this file's temporary folder, removed by run_tests at the end: the tests' folders,
# and fixtures that a file's tests share (made by the first test that needs them).
T_ROOT=$(mktemp -d "${TMPDIR:-/tmp}/m3t.XXXXXX") || exit 1
unset M3AGE_PASSPHRASE AGE_PASSPHRASE RULES EDITOR VISUAL 2>/dev/null || true

_fail() {
    printf '    %s\n' "$*" >&2
    exit 1
}
skip() {
    printf '%s\n' "$*" >"$T_SKIPFILE"
    exit 77
}

# run CMD...: run a command, keep its exit status in $status, stdout in ./out, stderr in ./err.
run() {
    set +e
    "$@" >out 2>err </dev/null
    status=$?
    set -e
}
# run_in INPUT CMD...: as run, with INPUT (a file) on stdin.
run_in() {
    local input=$1
    shift
    set +e
    "$@" >out 2>err <"$input"
    status=$?
    set -e
}
assert_status() {
    [ "$status" -eq "$1" ] || _fail "exit status $status, expected $1; stderr: $(head -c 600 err 2>/dev/null)"
}
assert_eq() {
    [ "$1" = "$2" ] || _fail "${3:-values differ}: got '$1', expected '$2'"
}
assert_contains() {
    grep -qF -- "$2" "$1" || _fail "$1 does not contain '$2'; it has: $(head -c 600 "$1")"
}
assert_not_contains() {
    ! grep -qF -- "$2" "$1" || _fail "$1 contains '$2'"
}
assert_lines() {
    local n
    n=$(wc -l <"$1")
    [ "$n" -eq "$2" ] || _fail "$1 has $n lines, expected $2: $(head -c 600 "$1")"
}
assert_empty() {
    [ ! -s "$1" ] || _fail "$1 is not empty: $(head -c 300 "$1" | od -c | head -5)"
}
assert_exists() {
    [ -e "$1" ] || _fail "$1 does not exist"
}
assert_absent() {
    [ ! -e "$1" ] || _fail "$1 exists but should not"
}
assert_same_file() {
    cmp -s "$1" "$2" || _fail "$1 and $2 differ"
}
# assert_no_temp DIR: no temporary file left behind in DIR.
assert_no_temp() {
    local left
    left=$(find "$1" -maxdepth 1 -name '.*.tmp*' -o -maxdepth 1 -name '*.m3tmp*' | head -3)
    [ -z "$left" ] || _fail "temporary files left in $1: $left"
}
# one_line_error: stderr is exactly one line starting with "m3age: error:" (or age's prefix)
assert_one_error_line() {
    assert_lines err 1
    assert_contains err "${1:-error:}"
}

run_tests() {
    set +e
    local fns fn pass=0 failn=0 skipn=0 rc tmp name
    name=$(basename "$0" .sh)
    local root=$T_ROOT i=0 dirs=()
    fns=$(declare -F | awk '{print $3}' | grep '^test_' | grep -E "${TEST_FILTER:-.}")
    # The tests' folders, made at once and removed at the end (starting a process costs
    # milliseconds: the suite runs more than a thousand tests, three times in CI).
    for fn in $fns; do dirs+=("$root/$((${#dirs[@]} + 1))"); done
    [ ${#dirs[@]} -eq 0 ] || mkdir -m 700 "${dirs[@]}" || return 1
    for fn in $fns; do
        i=$((i + 1))
        tmp=$root/$i
        T_SKIPFILE="$tmp/.skip"
        (cd "$tmp" && set -e && "$fn") >"$tmp/.log" 2>&1
        rc=$?
        case $rc in
        0) pass=$((pass + 1)); printf 'ok   %s/%s\n' "$name" "$fn" ;;
        77) skipn=$((skipn + 1)); printf 'skip %s/%s: %s\n' "$name" "$fn" "$(cat "$T_SKIPFILE" 2>/dev/null)" ;;
        *) failn=$((failn + 1)); printf 'FAIL %s/%s (status %s)\n' "$name" "$fn" "$rc"; sed 's/^/    /' "$tmp/.log" | tail -20 ;;
        esac
    done
    rm -rf "$root" 2>/dev/null || { chmod -R u+w "$root"; rm -rf "$root"; }
    printf '%s: %d passed, %d failed, %d skipped\n' "$name" "$pass" "$failn" "$skipn"
    [ "$failn" -eq 0 ]
}
