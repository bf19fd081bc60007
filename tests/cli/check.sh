#!/bin/bash
# m3age check --host H [--key FILE | --scan]: the pre-deploy gate for one host.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "check: skipped (no ssh-keygen)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"

test_ready_host_with_public_and_private_key() {
    make_repo
    run "$M3AGE" check --host h1 --key "$AK/h1.pub"
    assert_status 0
    assert_contains out "ok    key: the key given is the registry's key for this host"
    assert_contains out "ok    secrets/a.age"
    assert_contains out "h1: ready (1 secret)"
    run "$M3AGE" check --host h1 --key "$AK/h1"
    assert_status 0
    assert_contains out "h1: ready"
}

test_wrong_key_is_not_ready() {
    make_repo
    run "$M3AGE" check --host h1 --key "$AK/h2.pub"
    assert_status 1
    assert_contains out "FAIL  key: the key given is not the registry's key for this host"
    fp1=$(ssh-keygen -lf "$AK/h1.pub" | awk '{print $2}')
    fp2=$(ssh-keygen -lf "$AK/h2.pub" | awk '{print $2}')
    assert_contains out "the registry key 'h1' ($fp1) is not the key in --key ($fp2) (M3A020)"
    assert_contains out "h1: not ready: 1 error"
}

test_secret_not_encrypted_to_host() {
    make_repo
    enc secrets/a.age alice
    run "$M3AGE" check --host h1 --key "$AK/h1.pub"
    assert_status 1
    assert_contains out "FAIL  secrets/a.age: not encrypted to h1"
    enc secrets/a.age alice h1
    run "$M3AGE" check --host h1 --key "$AK/h1.pub"
    assert_status 0
}

test_stale_recipient_and_missing_file() {
    make_repo
    enc secrets/b.age alice h2 h1
    run "$M3AGE" check --host h2
    assert_status 1
    assert_contains out "still encrypted to h1"
    rm secrets/b.age
    run "$M3AGE" check --host h2
    assert_status 1
    assert_contains out "M3A001"
    # another host is not concerned
    run "$M3AGE" check --host h1
    assert_status 0
}

test_host_without_registry_key() {
    make_repo
    mkdir -p hosts/h3
    echo '{ age.secrets.a.file = ../../secrets/a.age; }' >hosts/h3/default.nix
    run "$M3AGE" check --host h3 --key "$AK/h3.pub"
    assert_status 1
    assert_contains out "M3A010"
    # a finding about a whole folder has no line: no ":0", no "0" glued to the name
    assert_contains out "  FAIL  hosts/h3: host h3 uses 1 secret but the registry binds no key named 'h3' (M3A010)"
}

test_usage_errors() {
    make_repo
    run "$M3AGE" check
    assert_status 2
    assert_contains err "--host HOST is required"
    run "$M3AGE" check --host h1 --key "$AK/h1.pub" --scan
    assert_status 2
    assert_contains err "--key and --scan exclude each other"
    run "$M3AGE" check --host h1 --key nosuch.pub
    assert_status 2
    assert_contains err "nosuch.pub"
    run "$M3AGE" check --host h9
    assert_status 2
    assert_one_error_line "no host 'h9'"
    run "$M3AGE" check --help
    assert_status 0
    assert_contains out "Usage: m3age check"
}

test_gate_in_a_shell_pipeline() {
    make_repo
    "$M3AGE" check --host h1 --key "$AK/h1.pub" >/dev/null && echo deployed >log
    assert_eq "$(cat log)" deployed
    enc secrets/a.age alice h2
    rm log
    "$M3AGE" check --host h1 --key "$AK/h1.pub" >/dev/null && echo deployed >log
    assert_absent log
}

test_key_committed_in_the_repository() {
    make_repo
    run "$M3AGE" check --host h1
    assert_status 0
    assert_contains out "key: not compared"
    cp "$AK/h1.pub" hosts/h1/ssh_host_ed25519_key.pub
    run "$M3AGE" check --host h1
    assert_status 0
    assert_contains out "ok    key: hosts/h1/ssh_host_ed25519_key.pub is the registry's key"
    cp "$AK/h2.pub" hosts/h1/ssh_host_ed25519_key.pub
    run "$M3AGE" check --host h1
    assert_status 1
    assert_contains out "FAIL  key: hosts/h1/ssh_host_ed25519_key.pub is not the registry's key"
    run "$M3AGE" check --host h1 --key "$AK/h1.pub" # --key wins
    assert_status 0
}

test_color_only_on_terminal_and_json() {
    make_repo
    enc secrets/a.age alice
    run "$M3AGE" check --host h1
    assert_status 1
    assert_not_contains out $'\033['
    command -v script >/dev/null || skip "script(1) not installed"
    env -u NO_COLOR TERM=xterm script -qec "$M3AGE check --host h1" /dev/null >tty.out </dev/null || true
    grep -q $'\033\[1;31mFAIL' tty.out || _fail "no color on a terminal: $(head -c 300 tty.out)"
    run "$M3AGE" check --host h1 --json
    assert_status 1
    assert_contains out '"version": 2'
    assert_contains out '"code": "M3A006", "severity": "error", "file": "secrets/a.age"'
    assert_not_contains out $'\033['
}

test_help_of_every_command() {
    for c in audit check diff git-setup git; do
        run "$M3AGE" "$c" --help
        assert_status 0
        assert_contains out "Usage: m3age $c"
    done
}

run_tests
