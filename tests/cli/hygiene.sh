#!/bin/bash
# Secret hygiene: no core dumps from a running m3age, no plaintext or key material left in
# the temporary folder after decrypt, encrypt and keygen, private keys created 0600.
. "$(dirname "$0")/../lib.sh"

KEY="$SRCDIR/tests/bad/keys/good.txt"
RCPT=$(sed -n 's/^# public key: //p' "$KEY")
MARK="m3age-hygiene-plaintext-$$"

# limits_of_running_decrypt: the /proc limits of an m3age kept waiting on a FIFO.
limits_of_running_decrypt() {
    mkfifo in.fifo
    exec 3<>in.fifo
    "$M3AGE" decrypt -i "$KEY" -o out.txt in.fifo 2>err &
    pid=$!
    sleep 0.5
    cat "/proc/$pid/limits" >limits 2>/dev/null
    grep -s '^State' "/proc/$pid/status" >state
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null || true
    exec 3>&-
}

test_core_dumps_are_off() {
    [ -z "${M3AGE_WRAPPER:-}" ] || skip "m3age runs under a wrapper (valgrind keeps its own limits)"
    # m3age lowers the soft and hard limits itself, whatever the caller allowed.
    ulimit -c unlimited 2>/dev/null || ulimit -c 100000 2>/dev/null ||
        skip "cannot raise the core limit here, so the test would prove nothing"
    limits_of_running_decrypt
    [ -s limits ] || _fail "could not read /proc/PID/limits of a running m3age"
    grep -E '^Max core file size +0 +0 ' limits >/dev/null ||
        _fail "core dumps are not off: $(grep 'core' limits)"
}

# no_secret_under DIR: no file under DIR holds the plaintext marker or the key made by the
# test (only these: other programs on this machine may keep their own keys there). Only
# files whose status changed since ./started are read: m3age can have left nothing in the
# others, and /dev/shm may hold gigabytes of other programs' files.
no_secret_under() {
    local hits
    hits=$(find "$1" -type f -cnewer started -print0 2>/dev/null |
        xargs -0r grep -laF -e "$MARK" -e "$(grep '^AGE-SECRET-KEY-1' new.txt)" 2>/dev/null | head -3)
    [ -z "$hits" ] || _fail "secret material left in $1: $hits"
}

test_no_plaintext_left_in_temp_folder() {
    touch started
    mkdir tmp
    export TMPDIR=$PWD/tmp
    printf '%s\n' "$MARK" >plain.txt
    run "$M3AGE" encrypt -r "$RCPT" -o s.age plain.txt
    assert_status 0
    run "$M3AGE" encrypt -a -R <(echo "$RCPT") -o s.asc plain.txt
    assert_status 0
    run "$M3AGE" decrypt -i "$KEY" -o dec.txt s.age
    assert_status 0
    run_in s.asc "$M3AGE" decrypt -i "$KEY"
    assert_status 0
    assert_contains out "$MARK"
    run "$M3AGE" keygen -o new.txt
    assert_status 0
    run "$M3AGE" keygen -y new.txt
    assert_status 0
    # A failing run too: a tampered payload after a good header.
    head -c -1 s.age >bad.age
    run "$M3AGE" decrypt -i "$KEY" -o bad.txt bad.age
    assert_status 1
    assert_absent bad.txt
    assert_eq "$(ls -A tmp)" "" "files left in TMPDIR"
    grep -q '^AGE-SECRET-KEY-1' new.txt || _fail "keygen wrote no key"
    no_secret_under tmp
    [ ! -d /dev/shm ] || no_secret_under /dev/shm
    assert_no_temp .
}

test_private_key_files_are_0600() {
    umask 022
    run "$M3AGE" keygen -o key.txt
    assert_status 0
    assert_eq "$(stat -c %a key.txt)" "600" "mode of a new key file"
}

run_tests
