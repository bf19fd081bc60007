#!/bin/bash
# The bad-input corpus (tests/bad/cases.txt): every malformed age file, key, recipient,
# registry, host module and command line gets its one expected error line and exit status,
# prints nothing on stdout, and leaves every file of the repository copy it runs in exactly as it was.
. "$(dirname "$0")/../lib.sh"

BAD="$SRCDIR/tests/bad"

m3age() { "$M3AGE" "$@"; }

# One copy of the corpus serves every case (copying it per case is slow on a loaded machine);
# a case that changes it fails and restores it.
WORK=$(mktemp -d "${TMPDIR:-/tmp}/m3bad.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
cp -a "$BAD/age" "$BAD/keys" "$BAD/reg" "$BAD/repos" "$WORK/" || exit 1

# snapshot: every path with its type and mode; files with size and modification time (ns).
# Directory times are left out: a temporary output created and removed again is no change.
# In find's order (one process per case, not three); same_as_before sorts both lists before
# it calls them different.
snapshot() {
    find "$WORK" -type d -printf '%P d %m\n' -o -printf '%P %y %m %s %T@\n'
}
SNAP=$(snapshot)
same_as_before() {
    [ "$1" = "$SNAP" ] || [ "$(sort <<<"$1")" = "$(sort <<<"$SNAP")" ]
}

# The cases, read once: status, error line and command by name.
declare -A C_STATUS C_ERR C_CMD
while IFS= read -r line; do
    case $line in '#'* | '') continue ;; esac
    name=${line%% | *} rest=${line#* | }
    C_STATUS[$name]=${rest%% | *} rest=${rest#* | }
    C_ERR[$name]=${rest%% | *} C_CMD[$name]=${rest#* | }
done <"$BAD/cases.txt"

# check_case NAME: runs the case of that name.
check_case() {
    local want_status=${C_STATUS[$1]} want_err=${C_ERR[$1]} cmd=${C_CMD[$1]} after here=$PWD
    local line first= n=0 nerr=0
    want_err=${want_err//@WORK@/$WORK}
    cd "$WORK"
    set +e
    eval "$cmd" >"$here/out" 2>"$here/err" </dev/null
    status=$?
    set -e
    cd "$here"
    after=$(snapshot)
    if ! same_as_before "$after"; then
        rm -rf "${WORK:?}"/* "$WORK"/.[!.]* && cp -a "$BAD/age" "$BAD/keys" "$BAD/reg" "$BAD/repos" "$WORK/"
        _fail "files changed: $(diff <(sort <<<"$SNAP") <(sort <<<"$after") | grep '^[<>]' | head -5)"
    fi
    [ "$status" -eq "$want_status" ] ||
        _fail "exit status $status, expected $want_status; stderr: $(head -c 400 err)"
    # The first line of stderr, and how many lines say error: (read here, not by head and grep)
    while IFS= read -r line || [ -n "$line" ]; do
        n=$((n + 1))
        [ "$n" -gt 1 ] || first=$line
        [[ $line != *error:* ]] || nerr=$((nerr + 1))
    done <err
    assert_eq "$first" "$want_err" "error line"
    [ "$nerr" -le 1 ] || _fail "more than one error line: $(cat err)"
    assert_empty out
}

test_corpus_is_big_enough() {
    local n
    n=$(grep -cE '^[a-z0-9_]+ \| ' "$BAD/cases.txt")
    [ "$n" -ge 150 ] || _fail "only $n cases in tests/bad/cases.txt"
    # Every input file is used by at least one case.
    for f in "$BAD"/age/*.age "$BAD"/keys/*.txt "$BAD"/reg/*.nix "$BAD"/repos/*; do
        case $(basename "$f") in good.age | good.txt | bech32.txt | inc_broken.nix) continue ;; esac
        grep -qF "$(basename "$f")" "$BAD/cases.txt" || _fail "$(basename "$f") is in no case"
    done
}

test_good_inputs_work() {
    # The corpus is made of near misses: the unmodified inputs decrypt.
    run "$M3AGE" decrypt -i "$BAD/keys/good.txt" "$BAD/age/good.age"
    assert_status 0
    assert_contains out "decryption worked"
}

for name in $(printf '%s\n' "${!C_CMD[@]}" | sort); do
    eval "test_bad_$name() { check_case $name; }"
done

run_tests
