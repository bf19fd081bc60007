#!/bin/bash
# tests/interop/age_input_path.sh: m3age's encryption input path (whole-batch reads into
# page-aligned buffers, sealed out of place, the final chunk learnt from the next read; with
# workers, a ring of chunk slots after the first batch, whose chunks the workers read with
# pread() from a regular file) read back by the real Go age: from a file and from pipes that
# deliver odd amounts per read, on one and two threads, at sizes around the page, the 64 KiB
# chunk and the 256 KiB batch,
# including inputs that end exactly at a batch's end (whose last chunk is sealed again as
# final) and a payload of several batches; and the decryption of Go age's files by m3age
# from a regular file (read with pread() by the workers), stdin and a pipe.
. "$(dirname "$0")/../lib.sh"

SIZES="0 1 4095 4096 4097 65536 262143 262144 262145 524288 786433 1048576 3145728"

need_age() {
    command -v age >/dev/null && command -v age-keygen >/dev/null || skip "Go age is not installed"
    [ -x "$M3AGE" ] || _fail "$M3AGE not built"
}

setup() { # setup SIZE: go.key/go.pub and ./plain of SIZE random bytes
    need_age
    age-keygen -o go.key 2>/dev/null
    age-keygen -y go.key >go.pub
    head -c "$1" /dev/urandom >plain
    [ "$(wc -c <plain)" -eq "$1" ] || _fail "could not make $1 bytes"
}

# check SIZE: f.age has the size the format gives SIZE bytes, and Go age opens it to ./plain
check() {
    local n=$1 chunks hdr body
    chunks=$(((n + 65535) / 65536))
    [ "$chunks" -eq 0 ] && chunks=1
    hdr=$(grep -abo -m1 -- '^--- ' f.age | cut -d: -f1)
    body=$(($(wc -c <f.age) - hdr - 4 - 43 - 1))
    assert_eq "$body" "$((16 + n + 16 * chunks))" "payload size of $n bytes"
    run age -d -i go.key f.age
    assert_status 0
    assert_same_file out plain
}

from_file() { # from_file SIZE THREADS
    setup "$1"
    M3AGE_THREADS=$2 run "$M3AGE" encrypt -r "$(cat go.pub)" -o f.age plain
    assert_status 0
    assert_empty err
    check "$1"
}

from_pipe() { # from_pipe SIZE THREADS BLOCK: the writer writes BLOCK bytes at a time
    setup "$1"
    dd if=plain bs="$3" status=none | M3AGE_THREADS=$2 "$M3AGE" encrypt -r "$(cat go.pub)" \
        >f.age 2>err || _fail "m3age failed on a pipe: $(cat err)"
    assert_empty err
    check "$1"
}

for s in $SIZES; do
    for t in 1 2; do
        eval "test_file_${s}_threads_$t() { from_file $s $t; }"
    done
done
for s in 4097 262144 262145 786433 3145728; do
    eval "test_pipe_${s}_blocks_of_7777_threads_1() { from_pipe $s 1 7777; }"
    eval "test_pipe_${s}_blocks_of_1000_threads_2() { from_pipe $s 2 1000; }"
    eval "test_pipe_${s}_blocks_of_300000_threads_2() { from_pipe $s 2 300000; }"
done

# Armored: Go age checks the armor strictly (64 columns, a short last line).
armored() { # armored SIZE THREADS
    setup "$1"
    M3AGE_THREADS=$2 run "$M3AGE" encrypt -a -r "$(cat go.pub)" -o f.age plain
    assert_status 0
    awk 'length($0) > 64 { exit 1 }' f.age || _fail "armor line longer than 64 columns"
    run age -d -i go.key f.age
    assert_status 0
    assert_same_file out plain
}
for s in 0 47 48 262144 262145 524288 786433 3145728 3145777; do
    eval "test_armored_${s}_threads_2() { armored $s 2; }"
done
test_armored_786433_threads_1() { armored 786433 1; }
# With workers, each chunk's whole 48-byte groups are encoded by the thread that sealed it and
# the group that straddles two chunks by the writer (encrypt.c's ring): a chunk's ciphertext
# (65552 bytes) starts at one of three offsets modulo 48 in turn, so files of 6 and 7 chunks
# cover them all; the last chunk's length moves its end around a line's end and around the
# first whole group.
for r in 0 1 15 16 17 31 32 33 47 48 49 95 96 97 65535; do
    eval "test_armored_6_chunks_and_${r}_threads_2() { armored $((6 * 65536 + r)) 2; }"
done
for r in 1 2 3 30 64 65535 65536; do
    eval "test_armored_7_chunks_and_${r}_threads_2() { armored $((7 * 65536 + r)) 2; }"
done

# A stream Go age wrote and m3age reads back to the same bytes: the other direction of the
# sizes that end at a batch boundary.
test_age_to_m3age_at_batch_ends() {
    setup 524288
    for s in 262144 524288; do
        head -c "$s" plain >p
        age -r "$(cat go.pub)" -o g.age p || _fail "age could not encrypt"
        M3AGE_THREADS=2 run "$M3AGE" decrypt -i go.key -o dec g.age
        assert_status 0
        assert_same_file dec p
    done
}

# Decryption with workers reads a regular file's chunks with pread() (each thread the chunks
# it opens) and a pipe's through read(): files Go age wrote, at sizes around the chunk, the
# first batch and the ring, give the same bytes from a named file, from stdin redirected from
# the file and from a pipe.
decrypt_ways() { # decrypt_ways SIZE
    setup "$1"
    age -r "$(cat go.pub)" -o g.age plain || _fail "age could not encrypt"
    M3AGE_THREADS=2 run "$M3AGE" decrypt -i go.key -o dec g.age
    assert_status 0
    assert_empty err
    assert_same_file dec plain
    M3AGE_THREADS=2 "$M3AGE" decrypt -i go.key <g.age >dec2 2>err || _fail "stdin: $(cat err)"
    assert_same_file dec2 plain
    cat g.age | M3AGE_THREADS=2 "$M3AGE" decrypt -i go.key >dec3 2>err || _fail "pipe: $(cat err)"
    assert_same_file dec3 plain
}
for s in 262145 327679 327680 327681 786432 786447 786448 786449 2621440 2634567; do
    eval "test_decrypt_file_stdin_pipe_${s}() { decrypt_ways $s; }"
done

# A file cut inside a chunk after the first batch, from a file (pread) and from a pipe: the
# same error line and exit status, and no output file left.
test_decrypt_truncated_file_and_pipe() {
    local hdr st
    setup 786432
    age -r "$(cat go.pub)" -o g.age plain || _fail "age could not encrypt"
    hdr=$(($(grep -abo -m1 -- '^--- ' g.age | cut -d: -f1) + 4 + 43 + 1 + 16))
    head -c $((hdr + 9 * 65552 + 100)) g.age >cut.age
    M3AGE_THREADS=2 run "$M3AGE" decrypt -i go.key -o dec cut.age
    assert_status 1
    assert_contains err "payload chunk 9 failed authentication"
    assert_absent dec
    set +e
    cat cut.age | M3AGE_THREADS=2 "$M3AGE" decrypt -i go.key -o dec >out 2>err.pipe
    st=$?
    set -e
    assert_eq "$st" 1 "exit status from a pipe"
    assert_absent dec
    assert_contains err.pipe "standard input: payload chunk 9 failed authentication"
}

run_tests
