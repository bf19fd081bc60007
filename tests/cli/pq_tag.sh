#!/bin/bash
# The tagged recipient types of c2sp.org/age, encrypted to natively: age1tag1... (p256tag
# stanzas, HPKE with DHKEM(P-256)) and age1tagpq1... (mlkem768p256tag, HPKE with
# MLKEM768-P256, post-quantum). Their identities live in hardware, so the files are opened
# by tests/tools/tagid, a software identity that recomputes the tag on its own and opens
# the stanza with HPKE: this proves the file key is recoverable by the key's holder.
. "$(dirname "$0")/../lib.sh"

TAGID="$TOOLS/tagid"
SEED1=$(printf '%064d' 1)
SEED2=$(printf '%064d' 2)
B64='[A-Za-z0-9+/]'

# bech32 HRP HEX: the bech32 string of the bytes HEX (for malformed recipients)
bech32() {
    python3 - "$1" "$2" <<'PY'
import sys
C = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
def polymod(v):
    g = [0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3]
    c = 1
    for x in v:
        b = c >> 25
        c = (c & 0x1ffffff) << 5 ^ x
        for i in range(5):
            c ^= g[i] if (b >> i) & 1 else 0
    return c
hrp, data = sys.argv[1], bytes.fromhex(sys.argv[2])
acc = bits = 0
d = []
for byte in data:
    acc = acc << 8 | byte
    bits += 8
    while bits >= 5:
        bits -= 5
        d.append(acc >> bits & 31)
if bits:
    d.append(acc << (5 - bits) & 31)
e = [ord(x) >> 5 for x in hrp] + [0] + [ord(x) & 31 for x in hrp]
p = polymod(e + d + [0] * 6) ^ 1
print(hrp + "1" + "".join(C[x] for x in d + [p >> 5 * (5 - i) & 31 for i in range(6)]))
PY
}

test_tag_recipients_encrypt_to_stanzas_their_holder_opens() {
    local kind type enclen r1 r2
    : >empty
    printf 'psk=hunter2\n' >small
    head -c 200000 /dev/urandom >big
    for kind in tag tagpq; do
        if [ $kind = tag ]; then type=p256tag enclen=87; else type=mlkem768p256tag enclen=1538; fi
        r1=$("$TAGID" recipient $kind "$SEED1") && r2=$("$TAGID" recipient $kind "$SEED2") ||
            _fail "tagid failed"
        for f in empty small big; do
            for armor in "" -a; do
                run "$M3AGE" encrypt $armor -r "$r1" -r "$r2" -o "$f.age" "$f"
                assert_status 0
                if [ -n "$armor" ]; then
                    sed '1d;$d' "$f.age" | base64 -d >"$f.bin"
                else
                    cp "$f.age" "$f.bin"
                fi
                # -> TYPE TAG ENC: a 4-byte tag and the encapsulated key, then a 32-byte body
                [ "$(grep -acE "^-> $type $B64{6} $B64{$enclen}\$" "$f.bin")" -eq 2 ] ||
                    _fail "$kind $f $armor: not two well-formed $type stanzas"
                [ "$(grep -a -A1 "^-> $type " "$f.bin" | grep -acE "^$B64{43}\$")" -eq 2 ] ||
                    _fail "$kind $f $armor: stanza bodies are not 32 bytes"
                for seed in "$SEED1" "$SEED2"; do
                    "$TAGID" decrypt $kind "$seed" <"$f.bin" >"$f.out" ||
                        _fail "$kind $f $armor: the key's holder cannot open it"
                    assert_same_file "$f" "$f.out"
                done
            done
        done
        # the tag names the key: m3age tells the two stanzas apart with public keys alone
        run "$M3AGE" keys inspect -r "$r1" small.age
        assert_status 0
        assert_eq "$(grep -c "${r1:0:30}" out)" 1 "stanzas matched to $kind key 1"
        # another key's holder opens nothing
        if "$TAGID" decrypt $kind "$(printf '%064d' 3)" <small.bin >x.out 2>/dev/null; then
            _fail "$kind: a third key opened the file"
        fi
    done
}

test_tagpq_is_post_quantum_and_tag_is_classical() {
    local t tq x pq
    t=$("$TAGID" recipient tag "$SEED1") tq=$("$TAGID" recipient tagpq "$SEED1")
    "$M3AGE_FIXTURE" keygen -o x.txt 2>/dev/null && x=$("$M3AGE_FIXTURE" keygen -y x.txt)
    "$M3AGE_FIXTURE" keygen --pq -o pq.txt 2>/dev/null && pq=$("$M3AGE_FIXTURE" keygen -y pq.txt)
    echo secret >plain
    run "$M3AGE" encrypt -r "$tq" -r "$x" -o f.age plain
    assert_status 2
    assert_one_error_line "post-quantum recipients cannot be mixed"
    assert_contains err "classical: ${x:0:24}"
    assert_absent f.age
    run "$M3AGE" encrypt -r "$pq" -r "$t" -o f.age plain
    assert_status 2
    assert_one_error_line "classical: ${t:0:20}"
    assert_absent f.age
    run "$M3AGE" encrypt -r "$tq" -r "$pq" -o f.age plain
    assert_status 0
    run "$M3AGE" decrypt -i pq.txt f.age
    assert_eq "$(cat out)" "secret"
    run "$M3AGE" keys inspect -r "$tq" f.age
    assert_contains out "mlkem768p256tag"
    assert_contains out "[post-quantum]"
    run "$M3AGE" encrypt -r "$t" -r "$x" -o g.age plain
    assert_status 0
}

test_malformed_tag_recipients_named_in_one_line() {
    local t bad
    t=$("$TAGID" recipient tag "$SEED1")
    echo secret >plain
    bad="${t:0:20}x${t:21}"
    run "$M3AGE" encrypt -r "$bad" -o f.age plain
    assert_status 1
    assert_one_error_line "malformed age1tag"
    run "$M3AGE" encrypt -r "$(bech32 age1tag 02"$(printf '%062d' 0)")" -o f.age plain
    assert_status 1
    assert_one_error_line "age1tag recipient holds 32 bytes, not a 33-byte compressed P-256 point"
    # x = 1: x^3 - 3x + b is not a square modulo p, so no point has it
    run "$M3AGE" encrypt -r "$(bech32 age1tag 02"$(printf '%064d' 1)")" -o f.age plain
    assert_status 1
    assert_one_error_line "age1tag recipient is not a point of P-256"
    run "$M3AGE" encrypt -r "$(bech32 age1tagpq "$(printf '%02x' $(seq 1 100))")" -o f.age plain
    assert_status 1
    assert_one_error_line "age1tagpq recipient holds 100 bytes"
    assert_absent f.age
}

test_registry_tag_keys_are_encrypted_to_and_rekeyed_lazily() {
    local t1 t2 x
    t1=$("$TAGID" recipient tag "$SEED1") t2=$("$TAGID" recipient tag "$SEED2")
    "$M3AGE_FIXTURE" keygen -o x.txt 2>/dev/null && x=$("$M3AGE_FIXTURE" keygen -y x.txt)
    printf 'let\n  m3tam3re = "%s";\n  yubikey = "%s";\nin\n{\n  "wifi.age".publicKeys = [ m3tam3re yubikey ];\n}\n' \
        "$x" "$t1" >secrets.nix
    printf '#!/bin/sh\nprintf "psk=hunter2\\n" >"$1"\n' >ed
    chmod +x ed
    run "$M3AGE" edit --editor "$PWD/ed" -i x.txt wifi.age
    assert_status 0
    "$TAGID" decrypt tag "$SEED1" <wifi.age >o.txt || _fail "the tag key's holder cannot open it"
    assert_eq "$(cat o.txt)" "psk=hunter2"
    run "$M3AGE" audit
    assert_not_contains out "M3A006"
    assert_not_contains out "M3A007"
    assert_not_contains out "M3A021"
    cp wifi.age before.age
    run "$M3AGE" rekey -i x.txt
    assert_status 0
    assert_same_file wifi.age before.age
    # the yubikey is replaced: the tag tells the file is for the old one
    sed -i "s|$t1|$t2|" secrets.nix
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "+yubikey"
    run "$M3AGE" rekey -i x.txt
    assert_status 0
    "$TAGID" decrypt tag "$SEED2" <wifi.age >o.txt || _fail "the new key's holder cannot open it"
    "$TAGID" decrypt tag "$SEED1" <wifi.age >/dev/null 2>&1 && _fail "the old key still opens it"
    run "$M3AGE" diff
    assert_status 0
}

run_tests
