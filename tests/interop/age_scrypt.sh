#!/bin/bash
# tests/interop/age_scrypt.sh: passphrase (scrypt) files between m3age and the real Go age,
# both directions, binary and armored. Go age reads passphrases only from the terminal, so it
# runs under tests/tools/ptyrun; m3age gets its passphrase from M3AGE_PASSPHRASE, and in two
# tests from the terminal too (its readpassphrase prompt, echo off).
#
# Each scrypt operation costs about a second (work factor 2^18), so the sizes are a subset of
# the X25519 ones: the empty file, the chunk boundary and a multi-chunk file.
. "$(dirname "$0")/../lib.sh"

PW='correct horse battery staple'

need_age() {
    command -v age >/dev/null || skip "Go age is not installed"
    [ -x "$TOOLS/ptyrun" ] || _fail "$TOOLS/ptyrun not built"
    [ -x "$M3AGE" ] || _fail "$M3AGE not built"
}

plain() {
    head -c "$1" /dev/urandom >plain
}

# go_encrypt ARMOR: Go age -p answering both of its prompts
go_encrypt() {
    local a=()
    [ "$1" = 1 ] && a=(-a)
    "$TOOLS/ptyrun" -q -S -e 'Enter passphrase' -s "$PW" -e 'Confirm passphrase' -s "$PW" \
        -- age -p "${a[@]}" -o f.age plain >pty.log 2>&1 || _fail "age -p failed: $(cat pty.log)"
}

go_decrypt() { # go_decrypt FILE OUT [PASSPHRASE]
    # stdout to the file: Go age makes no -o file for an empty plaintext
    "$TOOLS/ptyrun" -S -o "$2" -e 'Enter passphrase' -s "${3:-$PW}" -- age -d "$1" >pty.log 2>&1
}

m3_to_age() { # SIZE ARMOR
    need_age
    plain "$1"
    local a=()
    [ "$2" = 1 ] && a=(-a)
    M3AGE_PASSPHRASE="$PW" run "$M3AGE" encrypt -p "${a[@]}" -o f.age plain
    assert_status 0
    grep -aq '^-> scrypt ' f.age || [ "$2" = 1 ] || _fail "no scrypt stanza"
    [ "$(grep -ac '^-> ' f.age)" -le 1 ] || _fail "scrypt must be the only stanza"
    go_decrypt f.age dec || _fail "age could not decrypt: $(cat pty.log)"
    assert_same_file dec plain
}

age_to_m3() { # SIZE ARMOR
    need_age
    plain "$1"
    go_encrypt "$2"
    M3AGE_PASSPHRASE="$PW" run "$M3AGE" decrypt -o dec f.age
    assert_status 0
    assert_same_file dec plain
}

test_m3age_to_age_binary_0() { m3_to_age 0 0; }
test_m3age_to_age_armored_65536() { m3_to_age 65536 1; }
test_m3age_to_age_binary_5242880() { m3_to_age 5242880 0; }
test_age_to_m3age_binary_0() { age_to_m3 0 0; }
test_age_to_m3age_armored_1() { age_to_m3 1 1; }
test_age_to_m3age_binary_65537() { age_to_m3 65537 0; }
test_age_to_m3age_armored_204800() { age_to_m3 204800 1; }

test_m3age_work_factor_matches_age() {
    need_age
    plain 10
    M3AGE_PASSPHRASE="$PW" run "$M3AGE" encrypt -p -o f.age plain
    assert_status 0
    # `-> scrypt SALT LOG2N`: a 16-byte salt (22 base64 characters) and Go age's factor 18
    grep -aqE '^-> scrypt [A-Za-z0-9+/]{22} 18$' f.age || _fail "stanza: $(grep -a '^->' f.age)"
}

test_m3age_terminal_prompt_decrypts_age_file() {
    need_age
    plain 1000
    go_encrypt 0
    # no M3AGE_PASSPHRASE: m3age must ask on the terminal with echo off
    "$TOOLS/ptyrun" -S -e 'assphrase' -s "$PW" -- "$M3AGE" decrypt -o dec f.age >pty.log 2>&1 ||
        _fail "m3age decrypt on a terminal failed: $(cat pty.log)"
    assert_same_file dec plain
    ! grep -qF "$PW" pty.log || _fail "the passphrase was echoed"
}

test_m3age_terminal_prompt_encrypts_for_age() {
    need_age
    plain 1000
    # m3age may ask once or twice (confirmation); answer whatever it asks
    "$TOOLS/ptyrun" -e 'assphrase' -s "$PW" -e 'assphrase' -s "$PW" \
        -- "$M3AGE" encrypt -p -o f.age plain >pty.log 2>&1 ||
        _fail "m3age encrypt -p on a terminal failed: $(cat pty.log)"
    ! grep -qF "$PW" pty.log || _fail "the passphrase was echoed"
    go_decrypt f.age dec || _fail "age could not decrypt: $(cat pty.log)"
    assert_same_file dec plain
}

test_wrong_passphrase_both_ways() {
    need_age
    plain 1000
    go_encrypt 0
    M3AGE_PASSPHRASE="not it" run "$M3AGE" decrypt -o dec f.age
    assert_status 1
    assert_absent dec
    assert_one_error_line "f.age"
    M3AGE_PASSPHRASE="$PW" run "$M3AGE" encrypt -p -o g.age plain
    assert_status 0
    if go_decrypt g.age dec2 "not it"; then _fail "age accepted a wrong passphrase"; fi
}

test_passphrase_with_recipient_refused() {
    need_age
    plain 10
    # scrypt must be the only stanza: -p with -r is refused, like age does
    M3AGE_PASSPHRASE="$PW" run "$M3AGE" encrypt -p -r age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef -o f.age plain
    [ "$status" -ne 0 ] || _fail "-p with -r accepted"
    assert_absent f.age
}

run_tests
