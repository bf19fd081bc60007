#!/bin/bash
# A cloned repository is untrusted: an age header made to cost (tens of thousands of X25519
# stanzas, each an unwrap attempt, or megabytes of stanza body) is refused as it is read, by
# every command that reads headers, with one line naming the file and the limit
# (AGE_HEADER_MAX_STANZAS, AGE_HEADER_MAX in libage/age.h). A header at the caps still opens.
. "$(dirname "$0")/../lib.sh"
command -v python3 >/dev/null || { echo "hostile_headers: skipped (no python3)"; exit 0; }
command -v git >/dev/null || { echo "hostile_headers: skipped (no git)"; exit 0; }
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org \
    GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org

KEY="$SRCDIR/tests/bad/keys/good.txt"
RCPT=$(sed -n 's/^# public key: //p' "$KEY")

# header N BODYLINES OUT: an age file whose header has N X25519 stanzas (random shares) and
# then one stanza of BODYLINES full body lines, a MAC and a few payload bytes.
header() {
    python3 - "$@" <<'PY'
import base64, os, sys
n, lines, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
b64 = lambda b: base64.b64encode(b).rstrip(b"=")
h = [b"age-encryption.org/v1\n"]
h += [b"-> X25519 " + b64(os.urandom(32)) + b"\n" + b64(os.urandom(32)) + b"\n" for _ in range(n)]
if lines:
    h.append(b"-> big\n" + (b"A" * 64 + b"\n") * lines + b"\n")
h.append(b"--- " + b64(bytes(32)) + b"\n" + bytes(40))
open(out, "wb").write(b"".join(h))
PY
}

# repo FILE: a repository whose registry names secrets/a.age, which is FILE.
repo() {
    git init -q .
    mkdir -p secrets
    printf '{ "secrets/a.age".publicKeys = [ "%s" ]; }\n' "$RCPT" >secrets.nix
    cp "$1" secrets/a.age
    git add -A && git commit -qm v1
}

# every_reader FILE MESSAGE: each command that reads FILE's header ends with status 1 or 2
# (never a signal), says MESSAGE on exactly one line and names FILE (an error line, or the
# command's report for audit, diff and rekey --dry-run), and changes no file.
every_reader() {
    local c n
    cp secrets/a.age before.age
    for c in "decrypt -i $KEY -o out.txt secrets/a.age" "keys inspect secrets/a.age" \
        "audit" "rekey -i $KEY" "rekey --dry-run -i $KEY" "diff"; do
        # shellcheck disable=SC2086 # the words of the command
        run "$M3AGE" $c
        [ "$status" -eq 1 ] || [ "$status" -eq 2 ] ||
            _fail "m3age $c: exit status $status; stderr: $(head -c 300 err)"
        [ "$(wc -l <err)" -le 1 ] || _fail "m3age $c: stderr: $(head -c 300 err)"
        n=$(cat out err | grep -c -- "$2\$" || true)
        [ "$n" -eq 1 ] && grep -q -- "$1" out err ||
            _fail "m3age $c: '$2' $n times: $(head -c 300 out) $(cat err)"
        assert_same_file before.age secrets/a.age
        assert_absent out.txt
    done
}

test_tens_of_thousands_of_stanzas_are_refused_at_once() {
    # 4 MiB: 42,797 stanzas took 4.4 s of CPU per decryption attempt before the cap
    header 42797 0 big.age
    repo big.age
    every_reader secrets/a.age "header has more than 1024 recipient stanzas"
}

test_a_header_over_one_mebibyte_is_refused() {
    header 1 17000 big.age
    repo big.age
    every_reader secrets/a.age "header larger than 1048576 bytes"
}

test_a_header_at_the_caps_is_read() {
    # 1024 stanzas (an agenix fleet of hundreds of hosts stays well below): read, tried,
    # and refused only because no identity matches
    header 1024 0 cap.age
    run "$M3AGE" decrypt -i "$KEY" -o out.txt cap.age
    assert_status 1
    assert_one_error_line "m3age: error: cap.age: no identity matched any of the recipients"
    run "$M3AGE" keys inspect cap.age
    assert_status 0
    assert_eq "$(grep -c X25519 out)" 1024
}

test_files_at_the_cap_interoperate_with_go_age() {
    # 1024 recipients, written by either tool, open in both (Go age 1.1.1 has no cap)
    local args=() i
    command -v age >/dev/null || skip "no age binary"
    for i in $(seq 1 1023); do args+=(-r age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p); done
    args+=(-r "$RCPT")
    echo plain >plain.txt
    run "$M3AGE" encrypt "${args[@]}" -o m.age plain.txt
    assert_status 0
    run age -d -i "$KEY" -o m.txt m.age
    assert_status 0
    assert_same_file plain.txt m.txt
    age "${args[@]}" -o g.age plain.txt
    run "$M3AGE" decrypt -i "$KEY" -o g.txt g.age
    assert_status 0
    assert_same_file plain.txt g.txt
    age "${args[@]}" -r "$RCPT" -o g2.age plain.txt
    run "$M3AGE" decrypt -i "$KEY" -o g2.txt g2.age
    assert_status 1
    assert_one_error_line "m3age: error: g2.age: header has more than 1024 recipient stanzas"
    assert_absent g2.txt
}

test_encrypting_past_the_caps_is_refused() {
    local args=() i
    for i in $(seq 1 1025); do args+=(-r "$RCPT"); done
    echo plain >plain.txt
    run "$M3AGE" encrypt "${args[@]}" -o out.age plain.txt
    assert_status 2
    assert_one_error_line "m3age: error: plain.txt: too many recipients: a header holds at most 1024 stanzas and 1048576 bytes"
    assert_absent out.age
}

run_tests
