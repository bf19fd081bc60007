#!/bin/bash
# tests/interop/age_rekey_sizes.sh: rekey --force keeps each secret's bytes from the read of
# its header (files that fit in that read, 16 KiB) and decrypts those instead of opening the
# file again; larger files are read again. Either way the rekeyed files are what the real Go
# age reads back with a host's ssh-ed25519 key, binary and armored, around that size.
. "$(dirname "$0")/../lib.sh"

SIZES="0 100 16000 16383 16384 16385 70000 300000"

need_tools() {
    command -v age >/dev/null || skip "Go age is not installed"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
}

# repo: home/.ssh/id_ed25519 (the user), hostkeys/h1, secrets.nix with s_SIZE.age (binary)
# and a_SIZE.age (armored) for each size, to both keys, encrypted by Go age to the user only
# (so that a rekey has something to change: h1 is added).
repo() {
    mkdir -p home/.ssh hostkeys secrets
    export HOME=$PWD/home
    ssh-keygen -q -t ed25519 -N '' -C user -f home/.ssh/id_ed25519
    ssh-keygen -q -t ed25519 -N '' -C h1 -f hostkeys/h1
    {
        echo "let"
        echo "  user = \"$(cut -d' ' -f1,2 home/.ssh/id_ed25519.pub)\";"
        echo "  h1 = \"$(cut -d' ' -f1,2 hostkeys/h1.pub)\";"
        echo "in"
        echo "{"
        for s in $SIZES; do
            echo "  \"secrets/s_$s.age\".publicKeys = [ user h1 ];"
            echo "  \"secrets/a_$s.age\" = { publicKeys = [ user h1 ]; armor = true; };"
        done
        echo "}"
    } >secrets.nix
    for s in $SIZES; do
        head -c "$s" /dev/urandom >"p_$s"
        age -R home/.ssh/id_ed25519.pub -o "secrets/s_$s.age" "p_$s" || _fail "age failed"
        age -a -R home/.ssh/id_ed25519.pub -o "secrets/a_$s.age" "p_$s" || _fail "age failed"
    done
}

test_rekey_force_output_read_by_go_age() {
    need_tools
    repo
    run "$M3AGE" rekey --force --jobs 2
    assert_status 0
    assert_contains out "$((2 * $(echo $SIZES | wc -w))) rekeyed, 0 already up to date, 0 failed"
    for s in $SIZES; do
        for k in s a; do
            run age -d -i hostkeys/h1 "secrets/${k}_$s.age"
            assert_status 0
            assert_same_file out "p_$s"
        done
        head -1 "secrets/a_$s.age" | grep -qx -- '-----BEGIN AGE ENCRYPTED FILE-----' ||
            _fail "a_$s.age is not armored"
    done
    assert_no_temp secrets
}

run_tests
