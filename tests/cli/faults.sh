#!/bin/bash
# Fault injection: outputs that cannot be written (a full file system, a file size limit,
# /dev/full, a read-only folder) and a decryption killed halfway. Whatever happens, the old
# output stays as it was, no partial output and no temporary file is left behind, and the
# error names the output and the cause in one line.
. "$(dirname "$0")/../lib.sh"

KEY="$SRCDIR/tests/bad/keys/good.txt"
RCPT=$(sed -n 's/^# public key: //p' "$KEY")

# big_age N: N KiB of known plaintext in plain.txt, encrypted to big.age.
big_age() {
    head -c $(($1 * 1024)) /dev/zero | tr '\0' 'p' >plain.txt
    "$M3AGE_FIXTURE" encrypt -r "$RCPT" -o big.age plain.txt || _fail "cannot encrypt the test input"
}

# small_fs DIR SIZE: a tmpfs of SIZE mounted at DIR, unmounted when the test ends. Skips
# when this machine does not allow mounting (not root, or in a container without the right).
small_fs() {
    mkdir -p "$1"
    [ "$(id -u)" -eq 0 ] || skip "not root: cannot mount a small tmpfs"
    mount -t tmpfs -o "size=$2,mode=0755" m3age-faults "$1" 2>/dev/null ||
        skip "mount -t tmpfs is not allowed here"
    trap "umount -l '$PWD/$1' 2>/dev/null" EXIT
}

test_decrypt_to_full_filesystem_keeps_old_output() {
    big_age 512
    small_fs full 256k
    echo "old secret" >full/out.txt
    run "$M3AGE" decrypt -i "$KEY" -o full/out.txt big.age
    assert_status 1
    assert_one_error_line "m3age: error: full/out.txt: write error: No space left on device"
    assert_eq "$(cat full/out.txt)" "old secret" "old output"
    assert_no_temp full
    assert_eq "$(ls -A full)" "out.txt" "files on the full file system"
}

test_encrypt_to_full_filesystem_leaves_nothing() {
    big_age 512
    small_fs full 256k
    run "$M3AGE" encrypt -r "$RCPT" -o full/secret.age plain.txt
    assert_status 1
    assert_one_error_line "m3age: error: full/secret.age: write error: No space left on device"
    assert_eq "$(ls -A full)" "" "files on the full file system"
}

test_keygen_to_full_filesystem_leaves_nothing() {
    small_fs full 4k
    head -c 4096 /dev/zero >full/filler 2>/dev/null || true
    run "$M3AGE" keygen -o full/key.txt
    [ "$status" -ne 0 ] || _fail "keygen succeeded on a full file system"
    assert_contains err "m3age: error: full/key.txt: "
    assert_absent full/key.txt
    assert_no_temp full
}

test_file_size_limit_fails_cleanly() {
    # RLIMIT_FSIZE works without privileges: writes past it fail with EFBIG once SIGXFSZ is
    # ignored (ignored signals stay ignored across exec).
    big_age 300
    echo "old" >out.txt
    set +e
    (trap '' XFSZ && ulimit -f 128 && exec "$M3AGE" decrypt -i "$KEY" -o out.txt big.age) >out 2>err
    status=$?
    set -e
    assert_status 1
    assert_one_error_line "m3age: error: out.txt: write error: File too large"
    assert_eq "$(cat out.txt)" "old" "old output"
    assert_no_temp .
}

test_decrypt_to_dev_full() {
    big_age 100
    set +e
    "$M3AGE" decrypt -i "$KEY" big.age >/dev/full 2>err
    status=$?
    set -e
    assert_status 1
    assert_one_error_line "m3age: error: standard output: write error: No space left on device"
    run "$M3AGE" decrypt -i "$KEY" -o /dev/full big.age
    assert_status 1
    assert_one_error_line "m3age: error: /dev/full: write error: No space left on device"
}

test_read_only_output_folder() {
    big_age 10
    mkdir ro
    echo "old" >ro/out.txt
    if [ "$(id -u)" -eq 0 ]; then
        # Permissions do not stop root: make the folder a read-only mount.
        mount -t tmpfs -o size=64k m3age-ro ro 2>/dev/null || skip "mount -t tmpfs is not allowed here"
        trap "umount -l '$PWD/ro' 2>/dev/null" EXIT
        echo "old" >ro/out.txt
        mount -o remount,ro ro || skip "cannot remount read-only"
    else
        chmod 555 ro
    fi
    run "$M3AGE" decrypt -i "$KEY" -o ro/out.txt big.age
    assert_status 2
    assert_one_error_line "m3age: error: ro/out.txt: cannot create output: "
    assert_eq "$(cat ro/out.txt)" "old" "old output"
    run "$M3AGE" encrypt -r "$RCPT" -o ro/new.age plain.txt
    assert_status 2
    assert_one_error_line "m3age: error: ro/new.age: cannot create output: "
    assert_absent ro/new.age
}

# start_slow_decrypt: decrypt -o out.txt from a FIFO that has been given the header and the
# first chunks but stays open, so m3age has its temporary output open when it is signalled.
out_open() {
    find "/proc/$pid/fd" -lname "$PWD/*" ! -lname '*in.fifo' 2>/dev/null | grep -q .
}
start_slow_decrypt() {
    big_age 1024
    mkfifo in.fifo
    exec 3<>in.fifo
    "$M3AGE" decrypt -i "$KEY" -o out.txt in.fifo 2>err &
    pid=$!
    head -c 300000 big.age >&3
    # The output is open once m3age holds a file of this folder other than the FIFO (a named
    # temporary or an unnamed O_TMPFILE one).
    for _ in $(seq 100); do
        out_open && break
        sleep 0.1
    done
    out_open || { kill -9 $pid; _fail "m3age never opened its output"; }
}

test_sigterm_during_decrypt_removes_temp() {
    start_slow_decrypt
    kill -TERM $pid
    wait $pid || true
    exec 3>&-
    assert_absent out.txt
    assert_no_temp .
}

test_sigkill_during_decrypt_leaves_no_plaintext() {
    start_slow_decrypt
    kill -KILL $pid
    wait $pid 2>/dev/null || true
    exec 3>&-
    assert_absent out.txt
    # A process killed with SIGKILL cannot clean up: the partial plaintext must never have
    # had a name (O_TMPFILE), or the next run must remove what an earlier one left.
    run "$M3AGE" decrypt -i "$KEY" -o out.txt big.age
    assert_status 0
    assert_same_file out.txt plain.txt
    assert_no_temp .
}

test_pipe_closed_early() {
    big_age 512
    set +e
    "$M3AGE" decrypt -i "$KEY" big.age 2>err | head -c 10 >/dev/null
    st=${PIPESTATUS[0]}
    set -e
    [ "$st" -ne 0 ] || _fail "decrypt into a closed pipe exited 0"
}

run_tests
