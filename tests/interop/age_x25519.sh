#!/bin/bash
# tests/interop/age_x25519.sh: m3age and the real Go age (Debian's `age`) read each other's
# X25519 files in both directions, binary and armored, at sizes around the 64 KiB chunk
# boundaries (0, 1, 65535, 65536, 65537, 200 KiB, 5 MiB), with several recipients per file,
# and use each other's key files.
. "$(dirname "$0")/../lib.sh"

SIZES="0 1 65535 65536 65537 204800 5242880"

need_age() {
    command -v age >/dev/null && command -v age-keygen >/dev/null || skip "Go age is not installed"
    [ -x "$M3AGE" ] || _fail "$M3AGE not built"
}

# keys: m3.key/m3.pub (made by m3age keygen), go.key/go.pub (made by age-keygen)
keys() {
    run "$M3AGE" keygen -o m3.key
    assert_status 0
    run "$M3AGE" keygen -y m3.key
    assert_status 0
    cp out m3.pub
    grep -qE '^age1[02-9ac-hj-np-z]{58}$' m3.pub || _fail "m3age keygen -y printed: $(cat m3.pub)"
    age-keygen -o go.key 2>/dev/null
    age-keygen -y go.key >go.pub
}

plain() { # plain SIZE: ./plain with SIZE random bytes
    head -c "$1" /dev/urandom >plain
    [ "$(wc -c <plain)" -eq "$1" ] || _fail "could not make $1 bytes"
}

# expected binary size: header + 16-byte nonce + chunks of up to 64 KiB, 16 bytes of tag each
payload_size() {
    local n=$1 chunks
    chunks=$(((n + 65535) / 65536))
    [ "$chunks" -eq 0 ] && chunks=1
    echo $((16 + n + 16 * chunks))
}

m3_to_age() { # m3_to_age SIZE ARMOR(0/1)
    need_age
    keys
    plain "$1"
    local a=()
    [ "$2" = 1 ] && a=(-a)
    run "$M3AGE" encrypt -r "$(cat go.pub)" "${a[@]}" -o f.age plain
    assert_status 0
    assert_empty out
    if [ "$2" = 1 ]; then
        head -1 f.age | grep -qx -- '-----BEGIN AGE ENCRYPTED FILE-----' || _fail "not armored"
        tail -1 f.age | grep -qx -- '-----END AGE ENCRYPTED FILE-----' || _fail "no armor end line"
        awk 'length($0) > 64 { exit 1 }' f.age || _fail "armor line longer than 64 columns"
    else
        head -1 f.age | grep -qx 'age-encryption.org/v1' || _fail "no version line"
        local hdr body
        hdr=$(grep -abo -m1 -- '^--- ' f.age | cut -d: -f1)
        hdr=$((hdr + 4 + 43 + 1))
        body=$(($(wc -c <f.age) - hdr))
        assert_eq "$body" "$(payload_size "$1")" "payload size of $1 bytes"
    fi
    # (to stdout: Go age does not create an -o file for an empty plaintext)
    run age -d -i go.key f.age
    assert_status 0
    assert_same_file out plain
}

age_to_m3() { # age_to_m3 SIZE ARMOR(0/1)
    need_age
    keys
    plain "$1"
    local a=()
    [ "$2" = 1 ] && a=(-a)
    age -r "$(cat m3.pub)" "${a[@]}" -o f.age plain || _fail "age could not encrypt"
    run "$M3AGE" decrypt -i m3.key -o dec f.age
    assert_status 0
    assert_empty err
    assert_same_file dec plain
    # and to standard output
    run "$M3AGE" decrypt -i m3.key f.age
    assert_status 0
    assert_same_file out plain
}

for s in $SIZES; do
    eval "test_m3age_to_age_binary_$s() { m3_to_age $s 0; }"
    eval "test_m3age_to_age_armored_$s() { m3_to_age $s 1; }"
    eval "test_age_to_m3age_binary_$s() { age_to_m3 $s 0; }"
    eval "test_age_to_m3age_armored_$s() { age_to_m3 $s 1; }"
done

test_several_recipients_m3age_encrypts() {
    need_age
    keys
    plain 70000
    age-keygen -o other.key 2>/dev/null
    printf '# the fleet\n%s\n\n%s  \n' "$(age-keygen -y other.key)" "$(cat m3.pub)" >rcpts.txt
    run "$M3AGE" encrypt -r "$(cat go.pub)" -R rcpts.txt -o f.age plain
    assert_status 0
    [ "$(grep -c '^-> X25519 ' f.age)" -eq 3 ] || _fail "expected 3 X25519 stanzas"
    for k in go other; do
        run age -d -i $k.key -o dec.$k f.age
        assert_status 0
        assert_same_file dec.$k plain
    done
    run "$M3AGE" decrypt -i m3.key -o dec.m3 f.age
    assert_status 0
    assert_same_file dec.m3 plain
}

test_several_recipients_age_encrypts() {
    need_age
    keys
    plain 200000
    age-keygen -o other.key 2>/dev/null
    age -r "$(age-keygen -y other.key)" -r "$(cat go.pub)" -r "$(cat m3.pub)" -o f.age plain
    # an identity file with several keys, the matching one last
    cat go.key other.key | grep -v '^#' >unrelated.keys
    age-keygen 2>/dev/null >>unrelated.keys
    run "$M3AGE" decrypt -i m3.key -o dec f.age
    assert_status 0
    assert_same_file dec plain
    run "$M3AGE" decrypt -i unrelated.keys -o dec2 f.age
    assert_status 0
    assert_same_file dec2 plain
}

test_key_files_interchange() {
    need_age
    keys
    plain 1000
    # m3age uses a key made by age-keygen (comments and all) and age uses one made by m3age
    run "$M3AGE" keygen -y go.key
    assert_status 0
    assert_eq "$(cat out)" "$(cat go.pub)" "m3age keygen -y of an age-keygen key"
    assert_eq "$(age-keygen -y m3.key)" "$(cat m3.pub)" "age-keygen -y of an m3age key"
    age -r "$(cat go.pub)" -o f.age plain
    run "$M3AGE" decrypt -i go.key -o dec f.age
    assert_status 0
    assert_same_file dec plain
    run "$M3AGE" encrypt -r "$(cat m3.pub)" -o g.age plain
    assert_status 0
    run age -d -i m3.key -o dec2 g.age
    assert_status 0
    assert_same_file dec2 plain
}

test_keygen_file_mode() {
    need_age
    run "$M3AGE" keygen -o new.key
    assert_status 0
    assert_eq "$(stat -c %a new.key)" 600 "mode of a new key file"
    grep -q '^AGE-SECRET-KEY-1' new.key || _fail "no secret key in the file"
}

test_age_mode_pipes_both_ways() {
    need_age
    keys
    plain 300000
    # m3age with age's flags in a pipeline, then age decrypting it, and the reverse
    "$M3AGE" -r "$(cat go.pub)" <plain | age -d -i go.key >dec1 || _fail "pipeline m3age | age failed"
    assert_same_file dec1 plain
    age -r "$(cat m3.pub)" -a <plain | "$M3AGE" --decrypt --identity m3.key >dec2 ||
        _fail "pipeline age | m3age failed"
    assert_same_file dec2 plain
    "$M3AGE" -e -a -r "$(cat go.pub)" -o f.age -- plain || _fail "m3age -e -a -o ... -- FILE failed"
    age -d -i go.key f.age >dec3
    assert_same_file dec3 plain
}

test_age_mode_version() {
    need_age
    run "$M3AGE" --version
    assert_status 0
    [ -s out ] || _fail "--version printed nothing"
}

run_tests
