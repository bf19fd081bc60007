#!/bin/bash
# Output conventions: --color=auto|always|never, NO_COLOR only when non-empty, TERM=dumb.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

ESC=$'\033['

test_color_option_always_and_never() {
    mkrepo
    run "$M3AGE" audit --color=always
    grep -qF "$ESC" out || _fail "no color with --color=always: $(head -3 out)"
    run "$M3AGE" audit --color
    grep -qF "$ESC" out || _fail "no color with --color"
    run "$M3AGE" check --host h1 --color=never
    ! grep -qF "$ESC" out || _fail "color with --color=never"
    run "$M3AGE" audit --color=sometimes
    assert_status 2
    assert_one_error_line "m3age: error: --color: expected always, never or auto, not 'sometimes'"
}

test_color_auto_on_a_terminal_follows_no_color_and_term() {
    mkrepo
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    # lib.sh exports NO_COLOR=1 for every test: an empty one must not turn color off.
    NO_COLOR= TERM=xterm "$TOOLS/ptyrun" -- "$M3AGE" audit >tty1 2>&1 || true
    grep -qF "$ESC" tty1 || _fail "empty NO_COLOR turned color off: $(head -3 tty1)"
    NO_COLOR=1 TERM=xterm "$TOOLS/ptyrun" -- "$M3AGE" audit >tty2 2>&1 || true
    ! grep -qF "$ESC" tty2 || _fail "NO_COLOR=1 still colored"
    NO_COLOR= TERM=dumb "$TOOLS/ptyrun" -- "$M3AGE" audit >tty3 2>&1 || true
    ! grep -qF "$ESC" tty3 || _fail "TERM=dumb still colored"
}

run_tests
