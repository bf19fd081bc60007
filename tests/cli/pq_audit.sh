#!/bin/bash
# Post-quantum in the repository commands: audit's per-secret post-quantum state (text and
# --json), `audit --require-pq` (M3A028), registry entries mixing post-quantum and classical
# keys (M3A027, and rekey's refusal naming the classical keys by their registry names), and
# lazy rekey of post-quantum keys of every type (age1pq1, age1tagpq1).
. "$(dirname "$0")/../lib.sh"

# repo: a registry with a post-quantum user (u), a classical one (x), and a tagpq hardware key
repo() {
    "$M3AGE_FIXTURE" keygen --pq -o u.txt 2>/dev/null && U=$("$M3AGE_FIXTURE" keygen -y u.txt)
    "$M3AGE_FIXTURE" keygen -o x.txt 2>/dev/null && X=$("$M3AGE_FIXTURE" keygen -y x.txt)
    T=$("$TOOLS/tagid" recipient tagpq "$(printf '%064d' 4)")
    cat >secrets.nix <<EOF
let
  u = "$U";
  x = "$X";
  yubikey = "$T";
in
{
  "pq.age".publicKeys = [ u yubikey ];
  "classic.age".publicKeys = [ x ];
}
EOF
    echo one >p1 && echo two >p2
    "$M3AGE_FIXTURE" encrypt -r "$U" -r "$T" -o pq.age p1 && "$M3AGE_FIXTURE" encrypt -r "$X" -o classic.age p2 ||
        _fail "encrypt failed"
}

test_audit_tells_per_secret_whether_post_quantum() {
    repo
    run "$M3AGE" audit
    assert_status 0
    assert_contains out "post-quantum protected: 1 of 2 secrets (not: classic.age)"
    assert_not_contains out "M3A028"
    run "$M3AGE" audit --json
    assert_status 0
    assert_contains out '{"file": "pq.age", "protected": true}'
    assert_contains out '{"file": "classic.age", "protected": false}'
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' out || _fail "not valid JSON"
    grep -q "^\.It Li post_quantum" "$SRCDIR/man/m3age-audit.1" || _fail "post_quantum not documented"
}

test_require_pq_makes_every_classical_secret_an_error() {
    repo
    run "$M3AGE" audit --require-pq
    assert_status 1
    assert_contains out "M3A028  not post-quantum protected: classical stanzas open it (1 X25519)"
    assert_eq "$(grep -c M3A028 out)" 1 "M3A028 findings"
    # the classical user moves to a post-quantum key: clean
    sed -i "s|\"$X\"|\"$U\"|" secrets.nix
    run "$M3AGE" rekey -i x.txt -i u.txt
    assert_status 0
    run "$M3AGE" audit --require-pq
    assert_status 0
    assert_contains out "post-quantum protected: 2 of 2 secrets"
}

test_entry_mixing_pq_and_classical_is_reported_and_refused() {
    repo
    sed -i 's|"pq.age".publicKeys = \[ u yubikey \];|"pq.age".publicKeys = [ u yubikey x ];|' secrets.nix
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "M3A027  line 7: 'pq.age' lists post-quantum and classical keys (classical: x; the first written at line 3, column 7)"
    cp pq.age before.age
    run "$M3AGE" rekey -i u.txt
    assert_status 1
    assert_one_error_line "pq.age: refusing to write: post-quantum recipients cannot be mixed with classical ones"
    assert_contains err "classical: x"
    assert_same_file pq.age before.age
    assert_no_temp .
}

test_lazy_rekey_of_pq_and_tagpq_keys() {
    repo
    cp pq.age before.age
    run "$M3AGE" rekey -i u.txt
    assert_status 0
    assert_same_file pq.age before.age
    # the hardware key is replaced: its tag tells the file is for the old one
    T2=$("$TOOLS/tagid" recipient tagpq "$(printf '%064d' 5)")
    sed -i "s|$T|$T2|" secrets.nix
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "pq.age"
    assert_contains out "+yubikey"
    run "$M3AGE" rekey -i u.txt
    assert_status 0
    "$TOOLS/tagid" decrypt tagpq "$(printf '%064d' 5)" <pq.age >o.txt || _fail "new key cannot open"
    assert_eq "$(cat o.txt)" "one"
    run "$M3AGE" decrypt -i u.txt pq.age
    assert_eq "$(cat out)" "one"
    cp pq.age after.age
    run "$M3AGE" rekey -i u.txt
    assert_same_file pq.age after.age
}

run_tests
