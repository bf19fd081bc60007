#!/bin/bash
# ssh-ed25519 and ssh-rsa recipients both ways with Go age, with keys made by the real
# ssh-keygen: ed25519 and rsa 2048/3072/4096, each plain and passphrase-protected; files
# mixing X25519, ssh-ed25519 and ssh-rsa; armored and binary. Go age asks for ssh key
# passphrases on /dev/tty: ssh_pty plays the terminal.
. "$(dirname "$0")/../lib.sh"

PW="m3-ares passphrase"
KEYS=$(mktemp -d "${TMPDIR:-/tmp}/m3keys.XXXXXX")
trap 'rm -rf "$KEYS"' EXIT

make_keys() {
    command -v ssh-keygen >/dev/null || return 0
    ssh-keygen -q -t ed25519 -N '' -C 'm3tam3re@m3-ares' -f "$KEYS/ed25519"
    ssh-keygen -q -t ed25519 -N "$PW" -C 'm3tam3re@m3-daedalus' -f "$KEYS/ed25519_pw"
    for b in 2048 3072 4096; do
        ssh-keygen -q -t rsa -b $b -N '' -C "root@m3-atlas" -f "$KEYS/rsa$b"
        ssh-keygen -q -t rsa -b $b -N "$PW" -C "root@m3-helios" -f "$KEYS/rsa${b}_pw"
    done
    age-keygen -o "$KEYS/age.key" 2>/dev/null && age-keygen -y "$KEYS/age.key" >"$KEYS/age.pub"
}
make_keys
ALL="ed25519 ed25519_pw rsa2048 rsa2048_pw rsa3072 rsa3072_pw rsa4096 rsa4096_pw"

need() {
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    command -v age >/dev/null || skip "Go age not installed"
    [ -x "$TOOLS/ssh_pty" ] || skip "ssh_pty not built"
}

pass_for() { case $1 in *_pw) printf '%s' "$PW" ;; esac; }

# age_decrypt KEY IN OUT: Go age, typing the passphrase on a pseudo-terminal when needed.
age_decrypt() {
    case $1 in
    *_pw) "$TOOLS/ssh_pty" -t tty "$PW" -- age -d -i "$KEYS/$1" -o "$3" "$2" ;;
    *) age -d -i "$KEYS/$1" -o "$3" "$2" </dev/null ;;
    esac
}

test_m3age_encrypts_go_age_decrypts_each_key() {
    need
    head -c 3000 /dev/urandom >plain
    for k in $ALL; do
        for armor in "" -a; do
            run "$M3AGE" encrypt $armor -R "$KEYS/$k.pub" -o "f.age" plain
            assert_status 0
            rm -f dec
            age_decrypt "$k" f.age dec >log 2>&1 || _fail "age could not decrypt ($k $armor): $(cat log)"
            assert_same_file plain dec
        done
    done
}

test_go_age_encrypts_m3age_decrypts_each_key() {
    need
    head -c 70000 /dev/urandom >plain
    for k in $ALL; do
        for armor in "" -a; do
            age $armor -R "$KEYS/$k.pub" -o f.age plain
            M3AGE_PASSPHRASE=$(pass_for "$k") run setsid -w "$M3AGE" decrypt -i "$KEYS/$k" -o dec f.age
            assert_status 0
            assert_same_file plain dec
        done
    done
}

test_mixed_x25519_ed25519_rsa_both_ways() {
    need
    printf 'wifi: hunter2\n' >plain
    run "$M3AGE" encrypt -R "$KEYS/age.pub" -R "$KEYS/ed25519_pw.pub" -R "$KEYS/rsa3072.pub" \
        -r "$(cat "$KEYS/ed25519.pub")" -R "$KEYS/rsa2048_pw.pub" -o m.age plain
    assert_status 0
    age -a -R "$KEYS/age.pub" -R "$KEYS/ed25519_pw.pub" -R "$KEYS/rsa3072.pub" \
        -R "$KEYS/ed25519.pub" -R "$KEYS/rsa2048_pw.pub" -o g.age plain
    age -d -i "$KEYS/age.key" -o d0 m.age && assert_same_file plain d0
    for k in ed25519 ed25519_pw rsa3072 rsa2048_pw; do
        rm -f d1
        age_decrypt "$k" m.age d1 >log 2>&1 || _fail "age: $k: $(cat log)"
        assert_same_file plain d1
        M3AGE_PASSPHRASE=$(pass_for "$k") run setsid -w "$M3AGE" decrypt -i "$KEYS/$k" -o d2 g.age
        assert_status 0
        assert_same_file plain d2
    done
    run "$M3AGE" decrypt -i "$KEYS/age.key" -o d3 g.age
    assert_status 0
    assert_same_file plain d3
}

test_passphrase_asked_only_when_a_stanza_is_for_the_key() {
    need
    printf 'x\n' >plain
    age -R "$KEYS/ed25519.pub" -o f.age plain
    # The protected key comes first but the file is not for it: no prompt, no error.
    run setsid -w "$M3AGE" decrypt -i "$KEYS/rsa2048_pw" -i "$KEYS/ed25519" f.age
    assert_status 0
    assert_eq "$(cat out)" x
    assert_empty err
}

test_three_tries_on_a_terminal() {
    need
    printf 'x\n' >plain
    age -R "$KEYS/ed25519_pw.pub" -o f.age plain
    "$TOOLS/ssh_pty" -t tty wrong1 wrong2 "$PW" -- "$M3AGE" decrypt -i "$KEYS/ed25519_pw" -o ok f.age
    assert_eq "$(cat ok)" x
    assert_eq "$(grep -c 'Enter passphrase' tty)" 3
    set +e
    "$TOOLS/ssh_pty" -t tty a b c d -- "$M3AGE" decrypt -i "$KEYS/ed25519_pw" -o no f.age 2>err
    status=$?
    set -e
    assert_status 1
    assert_eq "$(grep -c 'Enter passphrase' tty)" 3
    assert_one_error_line "incorrect passphrase"
    assert_contains err "ed25519_pw"
    assert_absent no
}

test_wrong_passphrase_not_interactive() {
    need
    printf 'x\n' >plain
    age -R "$KEYS/rsa2048_pw.pub" -o f.age plain
    run setsid -w "$M3AGE" decrypt -i "$KEYS/rsa2048_pw" -o no f.age
    assert_status 1
    # the error, and the hint saying where a passphrase can come from without a terminal
    assert_lines err 2
    assert_eq "$(sed -n 1p err)" "m3age: error: f.age: $KEYS/rsa2048_pw: the key is protected by a passphrase and none was given"
    assert_contains err "m3age: hint: no terminal to ask the passphrase on"
    assert_contains err "M3AGE_PASSPHRASE"
    M3AGE_PASSPHRASE=wrong run setsid -w "$M3AGE" decrypt -i "$KEYS/rsa2048_pw" -o no f.age
    assert_status 1
    assert_one_error_line "rsa2048_pw: incorrect passphrase"
    assert_absent no
}

test_keygen_y_prints_ssh_recipients_without_passphrase() {
    need
    for k in ed25519_pw rsa4096_pw rsa2048; do
        run setsid -w "$M3AGE" keygen -y "$KEYS/$k"
        assert_status 0
        assert_eq "$(cat out)" "$(cut -d' ' -f1,2 "$KEYS/$k.pub")"
    done
}

test_convert_matches_age_keygen_and_decrypts() {
    need
    run "$M3AGE" keys convert "$KEYS/ed25519.pub"
    assert_status 0
    cp out recipient
    run "$M3AGE" keys convert --private "$KEYS/ed25519"
    assert_status 0
    cp out identity
    # The converted identity's public key is the converted recipient, per Go age itself.
    assert_eq "$(age-keygen -y identity)" "$(cat recipient)"
    M3AGE_PASSPHRASE=$PW run setsid -w "$M3AGE" keys convert --private "$KEYS/ed25519_pw"
    assert_status 0
    assert_eq "$(age-keygen -y out)" "$("$M3AGE" keys convert <"$KEYS/ed25519_pw.pub")"
    printf 'sops\n' >plain
    age -r "$(cat recipient)" -o f.age plain
    age -d -i identity f.age >dec && assert_same_file plain dec
    run "$M3AGE" keys convert "$KEYS/rsa2048.pub"
    assert_status 1
    assert_one_error_line "only ssh-ed25519"
}

test_inspect_names_keys_by_tag() {
    need
    printf 'x\n' >plain
    age -R "$KEYS/ed25519.pub" -R "$KEYS/rsa2048_pw.pub" -R "$KEYS/age.pub" -o f.age plain
    run setsid -w "$M3AGE" keys inspect f.age -i "$KEYS/rsa2048_pw" -R "$KEYS/ed25519.pub" -i "$KEYS/age.key"
    assert_status 0
    assert_contains out "f.age: 3 stanzas"
    assert_contains out "$KEYS/ed25519.pub:1"
    assert_contains out "$KEYS/rsa2048_pw"
    assert_contains out "$KEYS/age.key"
    assert_empty err
    run "$M3AGE" keys inspect f.age
    assert_status 0
    assert_eq "$(grep -c 'unknown' out)" 3
}

test_age_mode_reads_ssh_keys() {
    need
    ln -s "$M3AGE" age
    printf 'agenix\n' >plain
    age -R "$KEYS/ed25519.pub" -R "$KEYS/rsa2048_pw.pub" -o f.age plain
    run ./age -d -i "$KEYS/ed25519" f.age
    assert_status 0
    assert_eq "$(cat out)" agenix
    M3AGE_PASSPHRASE=$PW run setsid -w ./age -d -i "$KEYS/rsa2048_pw" f.age
    assert_status 0
    assert_eq "$(cat out)" agenix
    run ./age -e -R "$KEYS/rsa3072.pub" -o g.age plain
    assert_status 0
    command age -d -i "$KEYS/rsa3072" g.age >dec </dev/null
    assert_same_file plain dec
}

run_tests
