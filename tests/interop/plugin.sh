#!/bin/bash
# tests/interop/plugin.sh: the age plugin protocol, m3age against Go age 1.1.1 (Debian's
# `age`, a conforming plugin client), both driving the test plugin tests/plugin/
# age-plugin-m3test. Every flow gives the same result through age and through m3age, and
# files encrypted through the plugin by one open through the plugin in the other. Without
# this the test plugin could agree with m3age and both be wrong.
. "$(dirname "$0")/../lib.sh"

PLUGDIR=$SRCDIR/tests/plugin
export PATH="$PLUGDIR:$PATH"

need() {
    command -v age >/dev/null || skip "Go age is not installed"
    command -v python3 >/dev/null || skip "python3 is not installed"
    [ -x "$M3AGE" ] || _fail "$M3AGE not built"
}
# key MODE: ./MODE.id (identity file), $R (its recipient), $P (the same key in mode ok)
key() {
    age-plugin-m3test --generate "$1" >"$1.id"
    R=$(sed -n 's/^# recipient: //p' "$1.id")
    P=$(sed -n 's/^# plain-recipient: //p' "$1.id")
}
# tty INPUT CMD: runs CMD on a pseudo-terminal (script(1)) that types INPUT after a moment;
# the transcript goes to ./tty.
tty() {
    local input=$1
    shift
    command -v script >/dev/null || skip "script(1) is not installed"
    set +e
    (sleep 1; printf '%s\n' "$input") | timeout 30 script -qec "$*" /dev/null >tty 2>&1
    status=$?
    set -e
}

test_files_cross_decrypt_through_the_plugin() {
    need
    key ok
    printf 'secret one\n' >plain
    run age -r "$R" -o go.age plain
    assert_status 0
    run "$M3AGE" encrypt -r "$R" -o m3.age plain
    assert_status 0
    assert_empty err
    for f in go.age m3.age; do
        run age -d -i ok.id "$f"
        assert_status 0
        assert_eq "$(cat out)" "secret one"
        run "$M3AGE" decrypt -i ok.id "$f"
        assert_status 0
        assert_eq "$(cat out)" "secret one"
        assert_empty err
    done
    # The plugin's stanza, as age wrote it and as m3age did.
    grep -a -q '^-> m3test ' go.age || _fail "no m3test stanza from age"
    grep -a -q '^-> m3test ' m3.age || _fail "no m3test stanza from m3age"
}

test_plugin_and_native_recipients_together_armored() {
    need
    key ok
    age-keygen -o native.key 2>/dev/null
    printf 'mixed\n' >plain
    run "$M3AGE" encrypt -a -r "$R" -r "$(age-keygen -y native.key)" -o m3.age plain
    assert_status 0
    run age -d -i native.key m3.age
    assert_eq "$(cat out)" "mixed"
    run age -d -i ok.id m3.age
    assert_eq "$(cat out)" "mixed"
    # The plugin identity listed first, a native one after: either opens it.
    cat ok.id native.key >both.key
    run "$M3AGE" decrypt -i both.key m3.age
    assert_status 0
    assert_eq "$(cat out)" "mixed"
}

test_j_default_identity_both_ways() {
    need
    printf 'by default\n' >plain
    run age -e -j m3test -o go.age plain
    assert_status 0
    run "$M3AGE" -e -j m3test -o m3.age plain
    assert_status 0
    for f in go.age m3.age; do
        run age -d -j m3test "$f"
        assert_eq "$(cat out)" "by default"
        run "$M3AGE" -d -j m3test "$f"
        assert_status 0
        assert_eq "$(cat out)" "by default"
    done
    run "$M3AGE" -d -j m3test-absent m3.age
    assert_status 1
    assert_contains err "age-plugin-m3test-absent not found in PATH"
}

test_msg_is_one_line_on_stderr() {
    need
    key msg
    printf 'touched\n' >plain
    age -r "$P" -o f.age plain
    run age -d -i msg.id f.age
    assert_status 0
    assert_contains err "Touch your m3test key"
    run "$M3AGE" decrypt -i msg.id f.age
    assert_status 0
    assert_eq "$(cat out)" "touched"
    # The plugin's two lines are one line for the user, with m3age's prefix.
    assert_lines err 1
    assert_contains err "m3age: age-plugin-m3test: Touch your m3test key now"
}

test_pin_through_request_secret_on_the_terminal() {
    need
    key pin
    printf 'pinned\n' >plain
    age -r "$P" -o f.age plain
    tty 1234 age -d -i pin.id -o go.out f.age
    assert_status 0
    assert_eq "$(cat go.out)" "pinned"
    tty 1234 "$M3AGE" decrypt -i pin.id -o m3.out f.age
    assert_status 0
    assert_eq "$(cat m3.out)" "pinned"
    assert_contains tty "age-plugin-m3test: Enter the PIN of the m3test key:"
    # Echo is off: the PIN is not in the transcript.
    assert_not_contains tty "1234"
    # A wrong PIN: the plugin's error, nothing written, for both.
    tty 9999 age -d -i pin.id -o go.bad f.age
    assert_status 1
    assert_contains tty "wrong PIN"
    tty 9999 "$M3AGE" decrypt -i pin.id -o m3.bad f.age
    assert_status 1
    assert_contains tty "m3age: error: f.age: age-plugin-m3test: wrong PIN"
    assert_absent go.bad
    assert_absent m3.bad
    # No terminal: request-secret gets fail, as from age.
    run "$M3AGE" decrypt -i pin.id f.age
    assert_status 1
    assert_contains err "age-plugin-m3test: wrong PIN"
}

test_confirm_and_request_public() {
    need
    key confirm
    printf 'confirmed\n' >plain
    age -r "$P" -o f.age plain
    tty 1 age -d -i confirm.id -o go.out f.age
    assert_status 0
    tty 1 "$M3AGE" decrypt -i confirm.id -o m3.out f.age
    assert_status 0
    assert_eq "$(cat m3.out)" "confirmed"
    assert_contains tty "Use the m3test key for this file? ([1] yes, [2] no)"
    tty 2 "$M3AGE" decrypt -i confirm.id -o m3.no f.age
    assert_status 1
    assert_contains tty "no identity matched any of the recipients"
    assert_absent m3.no
    key public
    age -r "$P" -o p.age plain
    tty m3 age -d -i public.id -o go.p p.age
    assert_status 0
    tty m3 "$M3AGE" decrypt -i public.id -o m3.p p.age
    assert_status 0
    assert_eq "$(cat m3.p)" "confirmed"
    assert_contains tty "Type m3 to go on: m3"
}

test_a_plugin_opens_native_x25519_stanzas() {
    need
    key x25519
    N=$(sed -n 's/^# native-recipient: //p' x25519.id)
    age-keygen -o other.key 2>/dev/null
    printf 'native\n' >plain
    run age -r "$N" -o go.age plain
    assert_status 0
    run "$M3AGE" encrypt -a -r "$(age-keygen -y other.key)" -r "$N" -o m3.age plain
    assert_status 0
    for f in go.age m3.age; do
        run age -d -i x25519.id "$f"
        assert_status 0
        assert_eq "$(cat out)" "native"
        run "$M3AGE" decrypt -i x25519.id "$f"
        assert_status 0
        assert_eq "$(cat out)" "native"
    done
    # another key's X25519 stanza: no file key, as for age
    age -r "$(age-keygen -y other.key)" -o not.age plain
    run age -d -i x25519.id not.age
    assert_status 1
    run "$M3AGE" decrypt -i x25519.id not.age
    assert_status 1
    assert_contains err "m3age: error: not.age: no identity matched any of the recipients"
}

# fault MODE MESSAGE: a file for the key in MODE fails to open through age and m3age alike;
# m3age says MESSAGE in one line and writes nothing.
fault_decrypt() {
    key "$1"
    printf 'x\n' >plain
    age -r "$P" -o f.age plain
    set +e
    timeout 10 age -d -i "$1.id" -o go.out f.age >/dev/null 2>go.err
    local gs=$?
    set -e
    [ "$gs" -ne 0 ] || _fail "age opened the file of mode $1"
    M3AGE_PLUGIN_TIMEOUT=2 run "$M3AGE" decrypt -i "$1.id" -o m3.out f.age
    assert_status 1
    assert_contains err "m3age: error: f.age: $2"
    [ "$(grep -c '^m3age:' err)" -eq 1 ] || _fail "more than one m3age line: $(cat err)"
    assert_absent m3.out
    assert_no_temp .
}

test_decrypt_faults_are_one_clear_error_and_nothing_written() {
    need
    fault_decrypt crash "age-plugin-m3test: the plugin exited in the middle of the protocol"
    assert_contains err "m3test: simulated crash" # the plugin's own stderr reaches the user
    fault_decrypt garbage "age-plugin-m3test: sent something that is not a protocol stanza"
    fault_decrypt shortkey "age-plugin-m3test: sent a file key of 15 bytes instead of 16"
    fault_decrypt error "age-plugin-m3test: simulated failure"
}

test_silent_plugin_times_out() {
    need
    key silence
    printf 'x\n' >plain
    age -r "$P" -o f.age plain
    SECONDS=0
    M3AGE_PLUGIN_TIMEOUT=2 run "$M3AGE" decrypt -i silence.id -o m3.out f.age
    assert_status 1
    assert_contains err "m3age: error: f.age: age-plugin-m3test: no answer within 2 s (M3AGE_PLUGIN_TIMEOUT)"
    [ "$SECONDS" -lt 8 ] || _fail "took $SECONDS s"
    assert_absent m3.out
}

# fault_encrypt MODE MESSAGE: encryption to the recipient in MODE fails, nothing written.
fault_encrypt() {
    key "$1"
    printf 'x\n' >plain
    M3AGE_PLUGIN_TIMEOUT=2 run "$M3AGE" encrypt -r "$R" -o m3.age plain
    assert_status "$3"
    assert_contains err "$2"
    [ "$(grep -c '^m3age:' err)" -eq 1 ] || _fail "more than one m3age line: $(cat err)"
    assert_absent m3.age
    assert_no_temp .
}

test_encrypt_faults_are_one_clear_error_and_nothing_written() {
    need
    fault_encrypt crash "age-plugin-m3test: the plugin exited in the middle of the protocol" 1
    fault_encrypt garbage "age-plugin-m3test: sent something that is not a protocol stanza" 1
    fault_encrypt error "age-plugin-m3test: simulated failure for recipient 0" 2
    fault_encrypt silence "age-plugin-m3test: no answer within 2 s" 1
    # age fails on all of these too
    for m in crash garbage error; do
        key $m
        set +e
        age -r "$R" -o go.age plain 2>/dev/null
        [ $? -ne 0 ] || _fail "age encrypted to mode $m"
        set -e
    done
    # The spec forbids more stanzas than recipients; age 1.1.1 does not check it, m3age does.
    fault_encrypt toomany "age-plugin-m3test: sent more stanzas than recipients" 2
}

test_missing_plugin_is_named() {
    need
    key ok
    printf 'x\n' >plain
    PATH=/usr/bin:/bin run "$M3AGE" encrypt -r "$R" -o m3.age plain
    assert_status 1
    assert_contains err "age-plugin-m3test not found in PATH"
    assert_absent m3.age
    age -r "$R" -o f.age plain
    PATH=/usr/bin:/bin run "$M3AGE" decrypt -i ok.id -o m3.out f.age
    assert_status 1
    assert_contains err "m3age: error: f.age: age-plugin-m3test not found in PATH"
    assert_absent m3.out
}

test_malformed_plugin_identity_is_one_line_without_the_secret() {
    need
    key ok
    sed -i '/^AGE-PLUGIN/s/.$/q/' ok.id
    run "$M3AGE" decrypt -i ok.id /dev/null
    assert_status 1
    assert_one_error_line "m3age: error: ok.id:3: malformed plugin identity (bad bech32 encoding)"
    assert_not_contains err "AGE-PLUGIN-M3TEST-1"
}

run_tests
