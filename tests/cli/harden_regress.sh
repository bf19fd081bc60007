#!/bin/bash
# Regression tests for bugs found by the hardening work (fuzzers, bad-input corpus); each is
# described in bugs-harden.md.
. "$(dirname "$0")/../lib.sh"

KEY="$SRCDIR/tests/bad/keys/good.txt"
RCPT=$(sed -n 's/^# public key: //p' "$KEY")

test_error_messages_do_not_echo_control_characters() {
    # A recipients file is data anyone with push access controls: an error quoting it must
    # not carry escape sequences or line breaks to the terminal.
    printf '%s\n\033]0;owned\007\033[2Jage1\n' "$RCPT" >rcpts.txt
    echo plain >plain.txt
    run "$M3AGE" encrypt -R rcpts.txt -o out.age plain.txt
    assert_status 1
    assert_contains err "m3age: error: rcpts.txt:2: "
    ! grep -q $'\033' err || _fail "stderr carries an escape sequence: $(od -c err | head -3)"
    run "$M3AGE" encrypt -r "$(printf 'x\nm3age: error: forged line')" -o out.age plain.txt
    assert_status 1
    assert_one_error_line "m3age: error: recipient "
}

test_low_order_recipient_is_rejected_as_a_recipient() {
    # age1 encoding of the all-zero point: a valid bech32 string. The error must name the
    # recipient, not the plaintext file being encrypted.
    echo plain >plain.txt
    run "$M3AGE" encrypt -r age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z \
        -o out.age plain.txt
    assert_status 1
    assert_one_error_line "m3age: error: recipient 'age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq5cu47z'"
    assert_not_contains err "plain.txt"
    assert_absent out.age
}

run_tests
