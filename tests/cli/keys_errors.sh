#!/bin/bash
# Bad keys: truncated and corrupted key files, unsupported types, public keys where private
# ones are expected, small RSA keys, exposed key files. One clear line each, exit status 1.
. "$(dirname "$0")/../lib.sh"

DATA="$SRCDIR/tests/data/keys"

setup() {
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    cp "$DATA"/ed25519 "$DATA"/ed25519.pub "$DATA"/rsa2048 "$DATA"/rsa2048.pub "$DATA"/ecdsa \
        "$DATA"/ecdsa.pub "$DATA"/rsa1024.pub "$DATA"/age.key .
    chmod 600 ed25519 rsa2048 ecdsa age.key
    printf 'secret\n' >plain
    "$M3AGE_FIXTURE" encrypt -R ed25519.pub -R rsa2048.pub -o f.age plain
}

test_truncated_key() {
    setup
    head -c 200 ed25519 >cut && chmod 600 cut
    run "$M3AGE" decrypt -i cut f.age
    assert_status 1
    assert_one_error_line "cut: truncated OpenSSH private key"
    head -n 10 rsa2048 >cut2 && echo "-----END OPENSSH PRIVATE KEY-----" >>cut2 && chmod 600 cut2
    run "$M3AGE" decrypt -i cut2 f.age
    assert_status 1
    assert_one_error_line "cut2: truncated or corrupted OpenSSH private key"
    head -c 300 rsa2048 >cut3 && chmod 600 cut3
    run "$M3AGE" keygen -y cut3
    assert_status 1
    assert_one_error_line "cut3: truncated OpenSSH private key (no END line)"
}

test_corrupted_key() {
    setup
    # Change one base64 character in the seed (line 5 of the key) and one in the lengths.
    awk 'NR==5 { c = substr($0,12,1); $0 = substr($0,1,11) (c == "A" ? "B" : "A") substr($0,13) } 1' ed25519 >bad
    chmod 600 bad
    run "$M3AGE" decrypt -i bad f.age
    assert_status 1
    assert_one_error_line "bad: corrupted key: the ssh-ed25519 private key does not match its public key"
    assert_empty out
    awk 'NR==3 { c = substr($0,40,1); $0 = substr($0,1,39) (c == "A" ? "B" : "A") substr($0,41) } 1' rsa2048 >bad2
    chmod 600 bad2
    run "$M3AGE" decrypt -i bad2 f.age
    assert_status 1
    assert_one_error_line "bad2: "
    assert_contains err "corrupted"
}

test_unsupported_recipient_types() {
    setup
    run "$M3AGE" encrypt -R ecdsa.pub plain
    assert_status 1
    assert_one_error_line "ecdsa.pub:1: SSH key type 'ecdsa-sha2-nistp256' is not supported: age can only encrypt to ssh-ed25519 and ssh-rsa keys"
    for t in sk-ssh-ed25519@openssh.com ssh-dss; do
        run "$M3AGE" encrypt -r "$t AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29t" plain
        assert_status 1
        assert_one_error_line "error:"
    done
    run "$M3AGE" encrypt -r "sk-ssh-ed25519@openssh.com $(printf '\0\0\0\032sk-ssh-ed25519@openssh.com' | base64 -w0)" plain
    assert_status 1
    assert_one_error_line "SSH key type 'sk-ssh-ed25519@openssh.com' is not supported"
    run "$M3AGE" encrypt -R rsa1024.pub plain
    assert_status 1
    assert_one_error_line "ssh-rsa key of 1024 bits is too small: age needs at least 2048 bits"
}

test_unsupported_identity_type() {
    setup
    run "$M3AGE" decrypt -i ecdsa f.age
    assert_status 1
    assert_one_error_line "ecdsa: ecdsa-sha2-nistp256 keys are not supported"
}

test_public_key_given_as_identity() {
    setup
    run "$M3AGE" decrypt -i ed25519.pub f.age
    assert_status 1
    assert_one_error_line "this is a public key, not a private key (identity); give the private key file, without .pub"
    ssh-keygen -e -f ed25519.pub >rfc4716.pub
    run "$M3AGE" decrypt -i rfc4716.pub f.age
    assert_status 1
    assert_one_error_line "this is an SSH public key, not a private key"
}

test_private_key_given_as_recipient() {
    setup
    run "$M3AGE" encrypt -R ed25519 plain
    assert_status 1
    assert_one_error_line "this is a private key file, not a recipient"
}

test_authorized_keys_options_and_comments() {
    setup
    {
        echo "# m3age recipients"
        echo
        echo "no-pty,command=\"echo a b\" $(cat ed25519.pub)"
        cat rsa2048.pub
    } >recipients
    run "$M3AGE" encrypt -R recipients -o g.age plain
    assert_status 0
    run "$M3AGE" decrypt -i rsa2048 g.age
    assert_status 0
    assert_eq "$(cat out)" secret
}

test_exposed_private_key_warns() {
    setup
    chmod 644 ed25519
    run "$M3AGE" decrypt -i ed25519 f.age
    assert_status 0
    assert_one_error_line "warning: ed25519: private key file is accessible by others (mode 0644)"
    chmod 600 ed25519
    run "$M3AGE" decrypt -i ed25519 f.age
    assert_empty err
}

test_keys_usage_and_help() {
    run "$M3AGE" keys --help
    assert_status 0
    assert_contains out "Usage: m3age keys convert"
    run "$M3AGE" keys
    assert_status 2
    run "$M3AGE" keys frobnicate
    assert_status 2
    assert_contains err "unknown subcommand 'keys frobnicate'"
    run "$M3AGE" keys convert --private --private x
    assert_status 2
    run "$M3AGE" keys inspect
    assert_status 2
    run "$M3AGE" keys inspect --rules secrets.nix x.age
    assert_status 2
}

test_convert_skips_other_types_in_a_key_scan() {
    setup
    { echo "m3-atlas $(cat rsa2048.pub)"; echo "m3-atlas $(cat ed25519.pub)"; echo "m3-atlas $(cat ecdsa.pub)"; } >scan
    run "$M3AGE" keys convert scan
    assert_status 0
    assert_lines out 1
    assert_eq "$(cat out)" "$("$M3AGE" keys convert ed25519.pub)"
    run "$M3AGE" keys convert --private rsa2048
    assert_status 1
    assert_one_error_line "only ssh-ed25519 keys have an age X25519 form (this is ssh-rsa)"
}

run_tests
