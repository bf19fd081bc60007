#!/bin/bash
# Every man page is valid mdoc, clean under mandoc's linter.
. "$(dirname "$0")/../lib.sh"

test_man_pages_lint_clean() {
    command -v mandoc >/dev/null || skip "mandoc not installed"
    local n=0
    for m in "$SRCDIR"/man/*.[1-8]; do
        [ -f "$m" ] || continue
        run mandoc -Tlint -W warning "$m"
        [ "$status" -eq 0 ] || _fail "$(basename "$m"): $(cat out err)"
        n=$((n + 1))
    done
    [ "$n" -gt 0 ] || _fail "no man pages found"
}

test_every_command_has_help() {
    for c in encrypt decrypt keygen; do
        run "$M3AGE" "$c" --help
        assert_status 0
        assert_contains out "Usage: m3age $c"
    done
    run "$M3AGE" --help
    assert_status 0
    for c in encrypt decrypt keygen; do assert_contains out "$c"; done
}

run_tests
