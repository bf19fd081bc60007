#!/bin/bash
# Post-quantum (mlkem768x25519) keys from the command line: keygen --pq / -pq and -y,
# encryption to age1pq1 recipients and decryption with AGE-SECRET-KEY-PQ-1 identities (binary
# and armored, several recipients, empty and multi-chunk payloads), edit and rekey of a
# registry with post-quantum keys, the refusal to mix post-quantum and classical recipients,
# malformed PQ keys and stanzas named in one line, and Go age 1.1.1 (no post-quantum support)
# failing cleanly on m3age's post-quantum files.
. "$(dirname "$0")/../lib.sh"

pq_key() { # pq_key FILE: a new post-quantum identity in FILE, its recipient on stdout
    "$M3AGE_FIXTURE" keygen --pq -o "$1" 2>/dev/null && "$M3AGE_FIXTURE" keygen -y "$1"
}

test_keygen_pq_writes_a_pq_identity() {
    run "$M3AGE" keygen --pq -o id.txt
    assert_status 0
    assert_contains err "Public key: age1pq1"
    [ "$(stat -c %a id.txt)" = 600 ] || _fail "mode $(stat -c %a id.txt), expected 600"
    grep -qE '^AGE-SECRET-KEY-PQ-1[0-9A-Z]{58}$' id.txt || _fail "no PQ secret key: $(cat id.txt)"
    grep -q '^# public key: age1pq1' id.txt || _fail "no public key comment"
    run "$M3AGE" keygen -y id.txt
    assert_status 0
    assert_lines out 1
    [ "$(wc -c <out)" -eq 1960 ] || _fail "recipient is $(wc -c <out) bytes with its newline"
    assert_eq "$(cat out)" "$(sed -n 's/^# public key: //p' id.txt)" "keygen -y"
}

test_keygen_single_dash_pq_as_age_keygen() {
    run "$M3AGE" keygen -pq
    assert_status 0
    grep -q '^AGE-SECRET-KEY-PQ-1' out || _fail "-pq did not make a PQ key: $(head -c 300 out)"
    run "$M3AGE" keygen -y --pq id.txt
    assert_status 2
}

test_pq_round_trip_binary_armored_empty_multichunk() {
    local r1 r2
    r1=$(pq_key a.txt) && r2=$(pq_key b.txt) || _fail "keygen failed"
    : >empty
    head -c 200000 /dev/urandom >big
    for f in empty big; do
        for armor in "" -a; do
            run "$M3AGE" encrypt $armor -r "$r1" -r "$r2" -o "$f.age" "$f"
            assert_status 0
            if [ -z "$armor" ]; then
                [ "$(grep -ac '^-> mlkem768x25519 ' "$f.age")" -eq 2 ] ||
                    _fail "$f: not two mlkem768x25519 stanzas"
            else
                assert_contains "$f.age" "-----BEGIN AGE ENCRYPTED FILE-----"
            fi
            for id in a.txt b.txt; do
                run "$M3AGE" decrypt -i "$id" -o "$f.out" "$f.age"
                assert_status 0
                assert_same_file "$f" "$f.out"
                rm -f "$f.out"
            done
        done
    done
}

test_pq_wrong_identity_is_no_match() {
    local r
    r=$(pq_key a.txt) && pq_key b.txt >/dev/null || _fail "keygen failed"
    echo secret >plain
    "$M3AGE_FIXTURE" encrypt -r "$r" -o f.age plain || _fail "encrypt failed"
    run "$M3AGE" decrypt -i b.txt -o out.txt f.age
    assert_status 1
    assert_one_error_line "f.age"
    assert_absent out.txt
}

test_pq_and_classical_recipients_are_refused() {
    local r x
    r=$(pq_key a.txt) || _fail "keygen failed"
    "$M3AGE_FIXTURE" keygen -o x.txt 2>/dev/null
    x=$("$M3AGE_FIXTURE" keygen -y x.txt)
    echo secret >plain
    run "$M3AGE" encrypt -r "$r" -r "$x" -o f.age plain
    assert_status 2
    assert_one_error_line "classical: ${x:0:24}"
    assert_contains err "post-quantum recipients cannot be mixed"
    assert_absent f.age
    assert_no_temp .
}

test_edit_and_rekey_with_pq_keys_and_no_mixing() {
    local r x
    r=$(pq_key a.txt) || _fail "keygen failed"
    "$M3AGE_FIXTURE" keygen -o x.txt 2>/dev/null
    x=$("$M3AGE_FIXTURE" keygen -y x.txt)
    printf 'let\n  u = "%s";\n  x = "%s";\nin\n{\n  "wifi.age".publicKeys = [ u ];\n  "mixed.age".publicKeys = [ u x ];\n}\n' \
        "$r" "$x" >secrets.nix
    printf '#!/bin/sh\nprintf "psk=hunter2\\n" >"$1"\n' >ed
    chmod +x ed
    run "$M3AGE" edit --editor "$PWD/ed" -i a.txt wifi.age
    assert_status 0
    run "$M3AGE" decrypt -i a.txt wifi.age
    assert_status 0
    assert_eq "$(cat out)" "psk=hunter2"
    run "$M3AGE" rekey -i a.txt
    assert_status 0
    run "$M3AGE" decrypt -i a.txt wifi.age
    assert_eq "$(cat out)" "psk=hunter2"
    # an entry that lists a post-quantum and a classical key is refused before the editor
    # runs (nothing typed is lost), naming the classical key as the registry does
    printf '#!/bin/sh\ntouch "%s/editor-ran"\nprintf "psk=hunter2\\n" >"$1"\n' "$PWD" >ed
    run "$M3AGE" edit --editor "$PWD/ed" -i a.txt mixed.age
    assert_status 2
    assert_one_error_line "mixed.age: post-quantum recipients cannot be mixed"
    assert_contains err "classical: x"
    assert_absent editor-ran
    assert_absent mixed.age
    assert_no_temp .
}

test_pq_stanzas_counted_against_age1pq1_keys() {
    local r x
    r=$(pq_key a.txt) || _fail "keygen failed"
    "$M3AGE_FIXTURE" keygen -o x.txt 2>/dev/null
    x=$("$M3AGE_FIXTURE" keygen -y x.txt)
    printf 'let\n  u = "%s";\nin\n{\n  "wifi.age".publicKeys = [ u ];\n}\n' "$r" >secrets.nix
    echo psk >plain
    "$M3AGE_FIXTURE" encrypt -r "$r" -o wifi.age plain || _fail "encrypt failed"
    # in step: no drift, no finding, nothing to rekey
    run "$M3AGE" diff
    assert_status 0
    run "$M3AGE" audit
    assert_not_contains out "M3A007"
    assert_not_contains out "M3A021"
    assert_not_contains out "M3A008"
    run "$M3AGE" keys inspect --rules secrets.nix -i a.txt wifi.age
    assert_status 0
    assert_contains out "mlkem768x25519"
    assert_contains out "a.txt [post-quantum]"
    # a file still encrypted to a classical key where the entry now lists a PQ one: drift
    "$M3AGE_FIXTURE" encrypt -r "$x" -o wifi.age plain || _fail "encrypt failed"
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "1 post-quantum (mlkem768x25519) recipient not in the registry before (one of: u)"
    assert_contains out "1 X25519 recipient no longer in the registry"
    run "$M3AGE" audit
    assert_contains out "0 post-quantum (mlkem768x25519) recipients in the file, 1 age1pq1 key"
    run "$M3AGE" rekey -i x.txt -i a.txt
    assert_status 0
    assert_contains wifi.age "-> mlkem768x25519 "
    assert_not_contains wifi.age "-> X25519 "
    run "$M3AGE" decrypt -i a.txt wifi.age
    assert_eq "$(cat out)" "psk"
    # in step again: a lazy rekey leaves the file alone
    cp wifi.age before.age
    run "$M3AGE" rekey -i a.txt
    assert_status 0
    assert_same_file wifi.age before.age
}

test_malformed_pq_recipients_named() {
    local r bad
    r=$(pq_key a.txt) || _fail "keygen failed"
    echo secret >plain
    bad="${r:0:100}x${r:101}" # one character changed: bad checksum
    run "$M3AGE" encrypt -r "$bad" -o f.age plain
    assert_status 1
    assert_one_error_line "malformed post-quantum recipient"
    run "$M3AGE" encrypt -r "${r:0:500}" -o f.age plain
    assert_status 1
    assert_one_error_line "post-quantum recipient"
    assert_absent f.age
}

test_malformed_pq_identity_named_without_echo() {
    printf 'AGE-SECRET-KEY-PQ-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n' >id.txt
    echo x >f.age
    run "$M3AGE" decrypt -i id.txt -o out f.age
    [ "$status" -ne 0 ] || _fail "accepted a malformed identity"
    assert_one_error_line "id.txt:1: malformed post-quantum secret key"
    assert_not_contains err "QQQQ"
}

test_pq_stanza_with_bad_body_is_a_header_error() {
    local r
    r=$(pq_key a.txt) || _fail "keygen failed"
    echo secret >plain
    "$M3AGE_FIXTURE" encrypt -r "$r" -o f.age plain || _fail "encrypt failed"
    # a 33-byte body instead of 32: the stanza's body line grows by two base64 characters
    awk 'p == 1 { sub(/$/, "AA"); p = 2 } /^-> mlkem768x25519 / { p = 1 } { print }' f.age >g.age
    run "$M3AGE" decrypt -i a.txt -o out.txt g.age
    assert_status 1
    assert_one_error_line "g.age"
    assert_absent out.txt
}

test_pq_keys_work_without_libcrypto_and_tag_keys_say_they_need_it() {
    local r t
    r=$(pq_key a.txt) || _fail "keygen failed"
    t=$("$TOOLS/tagid" recipient tagpq "$(printf '%064d' 1)")
    echo secret >plain
    "$M3AGE_FIXTURE" encrypt -r "$r" -o f.age plain || _fail "encrypt failed"
    # an unusable libcrypto.so.3 first on the library path: ML-KEM's SHA-3 is m3age's own
    # (libage/sha3.h), so a post-quantum identity needs only libsodium, like X25519
    mkdir lib && : >lib/libcrypto.so.3
    LD_LIBRARY_PATH=$PWD/lib run "$M3AGE" decrypt -i a.txt -o out.txt f.age
    assert_status 0
    assert_same_file plain out.txt
    LD_LIBRARY_PATH=$PWD/lib run "$M3AGE" encrypt -r "$r" -o g.age plain
    assert_status 0
    # the tagged types' P-256 is libcrypto's: one line naming it, nothing written
    LD_LIBRARY_PATH=$PWD/lib run "$M3AGE" encrypt -r "$t" -o h.age plain
    assert_status 1
    assert_one_error_line "cannot use libcrypto"
    assert_absent h.age
}

test_go_age_fails_cleanly_on_pq_files() {
    command -v age >/dev/null || skip "age not installed"
    local r
    r=$(pq_key a.txt) || _fail "keygen failed"
    echo secret >plain
    "$M3AGE_FIXTURE" encrypt -r "$r" -o f.age plain || _fail "encrypt failed"
    run age -d -i a.txt -o out.txt f.age
    [ "$status" -ne 0 ] || _fail "Go age decrypted a post-quantum file"
    assert_absent out.txt
    run age -r "$r" -o g.age plain
    [ "$status" -ne 0 ] || _fail "Go age accepted an age1pq1 recipient"
}

run_tests
