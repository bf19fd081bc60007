#!/bin/bash
# tests/cli/age_errors.sh: bad input to `m3age decrypt` (issue 2, point 5). Every rejected
# input gives exactly one line on stderr, "m3age: error: INPUT: cause", exit status 1, and
# with -o FILE no file (partial or temporary) is left behind and an existing FILE is kept as
# it was. When -o names something that is not a regular file (a character device such as
# /dev/null, a FIFO) m3age writes to it directly. Binary output to a terminal is refused.
#
# The damaged files are made from files encrypted by the real Go age when it is installed
# (so the reader is not only tested against its own writer), else by m3age.
. "$(dirname "$0")/../lib.sh"

# setup: ./key.txt, ./plain and ./good.age, $rcpt, $hdr (the header's length) and $size. The
# first test makes them (its keygen runs are checked like any other); the next tests copy
# them (under make valgrind each m3age start costs more than half a CPU second).
setup() {
    [ -x "$M3AGE" ] || _fail "$M3AGE not built"
    local t=$T_ROOT/setup
    if [ ! -f "$t/.done" ]; then
        mkdir -p "$t"
        (cd "$t" && setup_make)
        touch "$t/.done"
    fi
    cp "$t/key.txt" "$t/plain" "$t/good.age" .
    read -r rcpt <"$t/rcpt"
    read -r hdr <"$t/hdr"
    read -r size <"$t/size"
}
setup_make() {
    "$M3AGE" keygen -o key.txt 2>/dev/null || _fail "m3age keygen failed"
    rcpt=$("$M3AGE" keygen -y key.txt)
    head -c 200000 /dev/urandom >plain # four chunks: 3 x 64 KiB + 3392 bytes
    if command -v age >/dev/null; then
        age -r "$rcpt" -o good.age plain
    else
        "$M3AGE" encrypt -r "$rcpt" -o good.age plain
    fi
    hdr=$(grep -abo -m1 -- '^--- ' good.age | cut -d: -f1)
    hdr=$((hdr + 4 + 43 + 1)) # header length: the MAC line is "--- " + 43 + "\n"
    size=$(wc -c <good.age)
    echo "$rcpt" >rcpt
    echo "$hdr" >hdr
    echo "$size" >size
}

# flip FILE OFFSET: xor the byte at OFFSET with 0x01
flip() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "$(printf '\\%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# reader_done PID: waits for the FIFO reader; if the writer never opened the FIFO (a bug),
# opens it once so the reader sees end-of-file instead of hanging the test.
reader_done() {
    if kill -0 "$1" 2>/dev/null; then
        sleep 1
        kill -0 "$1" 2>/dev/null && timeout 5 sh -c ': >pipe' 2>/dev/null
    fi
    wait "$1" || true
}

# known_leak: the ASan build reports a leak of the -o path for a FIFO or device (bugs-agetests.md
# #7, cmd/io.c m3_out_commit); skip only when that exact leak is what failed.
known_leak() {
    if [ "$status" -ne 0 ] && grep -q 'LeakSanitizer' err && grep -q 'm3_out_open' err; then
        skip "known bug: cmd/io.c m3_out_commit leaks o->path with -o on a FIFO/device (LeakSanitizer)"
    fi
    return 0
}

# rejected FILE [CAUSE-REGEX]: decrypting FILE with -o fails cleanly
rejected() {
    local f=$1
    echo previous >out.txt
    run "$M3AGE" decrypt -i key.txt -o out.txt "$f"
    assert_status 1
    assert_empty out
    assert_lines err 1
    grep -q "^m3age: error: .*$f" err || _fail "error line does not name $f: $(cat err)"
    [ -z "${2:-}" ] || grep -qiE "$2" err || _fail "error does not say '$2': $(cat err)"
    assert_eq "$(cat out.txt)" previous "an existing -o file must be kept as it was"
    assert_no_temp .
    [ "$(ls -A | grep -vcE '^(\.log|\.skip|key.txt|plain|good.age|out.txt|out|err|'"$f"')$')" -eq 0 ] ||
        _fail "files left behind: $(ls -A)"
    # without the old file: nothing created
    rm -f out.txt
    run "$M3AGE" decrypt -i key.txt -o out.txt "$f"
    assert_status 1
    assert_absent out.txt
    assert_no_temp .
}

test_good_file_decrypts() {
    setup
    run "$M3AGE" decrypt -i key.txt -o dec good.age
    assert_status 0
    assert_empty err
    assert_same_file dec plain
}

test_truncated_in_header() {
    setup
    head -c 40 good.age >bad.age
    rejected bad.age header
}

test_truncated_before_nonce() {
    setup
    head -c "$hdr" good.age >bad.age
    rejected bad.age
}

test_truncated_in_payload() {
    setup
    head -c $((size - 10)) good.age >bad.age
    rejected bad.age
}

test_truncated_at_chunk_boundary() {
    setup
    # header + nonce + two whole chunks: valid chunks but no final one
    head -c $((hdr + 16 + 2 * 65552)) good.age >bad.age
    rejected bad.age
}

test_empty_file() {
    setup
    : >bad.age
    rejected bad.age
}

test_not_an_age_file() {
    setup
    printf 'hello, this is not age\n' >bad.age
    rejected bad.age
}

test_tampered_header_mac() {
    setup
    # change the first character of the MAC (any base64 letter stays canonical there)
    local mac_at=$((hdr - 44)) c
    c=$(dd if=good.age bs=1 skip=$mac_at count=1 status=none)
    cp good.age bad.age
    if [ "$c" = A ]; then printf B; else printf A; fi |
        dd of=bad.age bs=1 seek=$mac_at conv=notrunc status=none
    rejected bad.age 'MAC'
}

test_tampered_stanza() {
    setup
    cp good.age bad.age
    # a letter inside the first stanza's body line
    local at
    at=$(($(head -2 good.age | wc -c) + 5))
    flip bad.age "$at"
    rejected bad.age
}

test_tampered_payload_first_chunk() {
    setup
    cp good.age bad.age
    flip bad.age $((hdr + 16 + 100))
    rejected bad.age
}

test_tampered_payload_last_chunk() {
    setup
    cp good.age bad.age
    flip bad.age $((size - 5))
    rejected bad.age
}

test_trailing_data() {
    setup
    cp good.age bad.age
    printf 'x' >>bad.age
    rejected bad.age
}

test_swapped_chunks() {
    setup
    # chunks 0 and 1 exchanged: each authenticates only at its own position
    {
        head -c $((hdr + 16)) good.age
        tail -c +$((hdr + 16 + 65552 + 1)) good.age | head -c 65552
        tail -c +$((hdr + 16 + 1)) good.age | head -c 65552
        tail -c +$((hdr + 16 + 2 * 65552 + 1)) good.age
    } >bad.age
    [ "$(wc -c <bad.age)" -eq "$size" ] || _fail "swap made a file of another size"
    rejected bad.age
}

test_wrong_key() {
    setup
    "$M3AGE" keygen -o other.txt 2>/dev/null
    echo previous >out.txt
    run "$M3AGE" decrypt -i other.txt -o out.txt good.age
    assert_status 1
    assert_lines err 1
    assert_contains err good.age
    grep -qi 'no identity' err || _fail "error should say no identity matched: $(cat err)"
    assert_eq "$(cat out.txt)" previous "existing -o file changed"
    assert_no_temp .
}

test_stdout_gets_only_authenticated_chunks() {
    setup
    cp good.age bad.age
    flip bad.age $((hdr + 16 + 65552 + 10)) # in the second chunk
    run "$M3AGE" decrypt -i key.txt bad.age
    assert_status 1
    assert_lines err 1
    # exactly the first chunk was released, and it is the right plaintext
    assert_eq "$(wc -c <out)" 65536 "bytes released before the bad chunk"
    cmp -s -n 65536 out plain || _fail "released bytes are not the plaintext"
}

test_header_failure_releases_nothing_on_stdout() {
    setup
    cp good.age bad.age
    flip bad.age $((hdr - 10))
    run "$M3AGE" decrypt -i key.txt bad.age
    assert_status 1
    assert_empty out
    assert_lines err 1
}

test_output_to_character_device_is_written_directly() {
    setup
    [ "$(id -u)" -eq 0 ] || skip "needs root to make a device node"
    # a private copy of /dev/null: if m3age replaced it by a regular file, only this goes
    mknod null c 1 3
    run "$M3AGE" decrypt -i key.txt -o null good.age
    known_leak
    assert_status 0
    [ -c null ] || _fail "-o on a character device replaced it: $(ls -l null)"
    assert_no_temp .
    run "$M3AGE" encrypt -r "$rcpt" -o null plain
    assert_status 0
    [ -c null ] || _fail "encrypt -o replaced the device"
    # then the real one
    run "$M3AGE" decrypt -i key.txt -o /dev/null good.age
    assert_status 0
    [ -c /dev/null ] || _fail "/dev/null is no longer a device"
}

test_output_to_fifo_is_written_directly() {
    setup
    mkfifo pipe
    cat pipe >got &
    local reader=$!
    run "$M3AGE" decrypt -i key.txt -o pipe good.age
    reader_done $reader
    known_leak
    assert_status 0
    [ -p pipe ] || _fail "-o on a FIFO replaced it"
    assert_same_file got plain
    assert_no_temp .
}

test_output_to_fifo_failure() {
    setup
    mkfifo pipe
    cp good.age bad.age
    flip bad.age $((size - 5))
    cat pipe >got &
    local reader=$!
    run "$M3AGE" decrypt -i key.txt -o pipe bad.age
    reader_done $reader
    assert_status 1
    assert_lines err 1
    [ -p pipe ] || _fail "-o on a FIFO replaced it"
    # three authenticated chunks went through, the bad final one did not
    assert_eq "$(wc -c <got)" 196608 "bytes written to the FIFO"
}

test_binary_output_to_terminal_refused() {
    setup
    [ -x "$TOOLS/ptyrun" ] || _fail "ptyrun not built"
    if "$TOOLS/ptyrun" -i plain -- "$M3AGE" encrypt -r "$rcpt" >tty.log 2>&1; then
        _fail "binary output to a terminal was not refused"
    fi
    grep -q 'error:' tty.log || _fail "no error message on the terminal: $(head -c 300 tty.log)"
    ! grep -aq 'age-encryption.org' tty.log || _fail "binary written to the terminal"
    # armored output is text: allowed
    "$TOOLS/ptyrun" -i plain -- "$M3AGE" encrypt -a -r "$rcpt" >tty.log 2>&1 ||
        _fail "armored output to a terminal refused: $(head -3 tty.log)"
    grep -q -- '-----BEGIN AGE ENCRYPTED FILE-----' tty.log || _fail "no armor on the terminal"
    # with -o, the terminal does not matter
    "$TOOLS/ptyrun" -i plain -- "$M3AGE" encrypt -r "$rcpt" -o f.age >tty.log 2>&1 ||
        _fail "encrypt -o under a terminal failed: $(head -3 tty.log)"
    [ -s f.age ] || _fail "no output file"
}

test_missing_input_age_mode() {
    setup
    run "$M3AGE" -d -i key.txt -o out.txt no-such.age
    assert_status 1
    assert_lines err 1
    assert_contains err no-such.age
    assert_absent out.txt
}

test_bad_recipient_age_mode() {
    setup
    run "$M3AGE" -e -r age1notakey -o out.age plain
    assert_status 1
    assert_lines err 1
    assert_contains err age1notakey
    assert_absent out.age
}

test_usage_error_native() {
    setup
    run "$M3AGE" decrypt --no-such-option good.age
    assert_status 2
    [ -s err ] || _fail "no usage message"
}

run_tests
