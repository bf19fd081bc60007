#!/bin/bash
# The real cause, always: a broken registry, a missing identity, a module named secrets.nix
# and an audit without hosts are reported as what they are.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

NOID_HINT="m3age: hint: give one with -i FILE (an age key file or an ssh private key); the default keys ~/.ssh/id_ed25519 and ~/.ssh/id_rsa were not found"

add_h3_to_a() {
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \]|"secrets/a.age".publicKeys = [ user h1 h3 ]|' secrets.nix
}

test_decrypt_reports_a_broken_registry_not_no_identity() {
    mkrepo
    sed -i 's|^in$|in ;|' secrets.nix
    run "$M3AGE" decrypt secrets/a.age
    assert_status 2
    assert_one_error_line "secrets.nix:7:4: unexpected ';'"
    assert_not_contains err "no identity"
    assert_empty out
}

test_rekey_dry_run_needs_no_identity() {
    mkrepo
    add_h3_to_a
    cp secrets/a.age before
    HOME=$PWD/nohome run "$M3AGE" rekey --dry-run
    assert_status 1
    assert_contains out "secrets/a.age: rekey: +h3"
    assert_contains out "secrets/b.age: up to date"
    assert_not_contains out "allow-lockout"
    assert_not_contains err "allow-lockout"
    assert_contains err "no identity was given"
    assert_same_file before secrets/a.age
}

test_rekey_dry_run_exit_status_is_0_with_nothing_to_do() {
    mkrepo
    run "$M3AGE" rekey --dry-run
    assert_status 0
    assert_contains out "secrets/a.age: up to date"
}

test_no_identity_is_one_message_and_one_hint_everywhere() {
    mkrepo
    add_h3_to_a
    command -v git >/dev/null || skip "git not installed"
    git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm init
    export HOME=$PWD/nohome
    run "$M3AGE" decrypt secrets/a.age
    assert_status 2
    assert_contains err "m3age: error: secrets/a.age: no identity to decrypt with"
    assert_contains err "$NOID_HINT"
    run "$M3AGE" edit --editor true secrets/a.age
    assert_status 2
    assert_contains err "m3age: error: secrets/a.age: no identity to decrypt with"
    assert_contains err "$NOID_HINT"
    run "$M3AGE" rekey
    assert_status 2
    assert_contains err "m3age: error: no identity to decrypt with"
    assert_contains err "$NOID_HINT"
    run "$M3AGE" diff secrets/a.age
    assert_status 2
    assert_contains err "m3age: error: no identity to decrypt with"
    assert_contains err "$NOID_HINT"
}

test_stray_file_says_the_default_keys_are_for_registry_secrets() {
    mkrepo
    printf 'stray\n' | "$M3AGE" encrypt -r "$(cat home/.ssh/id_ed25519.pub)" -o secrets/stray.age
    run "$M3AGE" decrypt secrets/stray.age
    assert_status 2
    assert_contains err "m3age: error: secrets/stray.age: no identity to decrypt with"
    assert_contains err "are used only for the secrets secrets.nix names"
}

test_missing_or_unreadable_key_file_is_status_2() {
    mkrepo
    run "$M3AGE" decrypt -i nosuch secrets/a.age
    assert_status 2
    assert_one_error_line "m3age: error: nosuch: No such file or directory"
}

test_discovery_walks_past_a_host_module_named_secrets_nix() {
    mkrepo
    mkdir -p .git hosts/m3-atlas
    printf '{ config, ... }:\n{\n  age.secrets.a.file = ../../secrets/a.age;\n}\n' >hosts/m3-atlas/secrets.nix
    add_h3_to_a
    cd hosts/m3-atlas
    run "$M3AGE" rekey --dry-run
    assert_status 1
    assert_contains out "secrets/a.age: rekey: +h3"
    assert_not_contains err "top-level function"
    run "$M3AGE" decrypt ../../secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" "alpha"
}

test_discovery_stops_at_the_repository_root() {
    mkrepo
    mkdir -p sub/.git sub/deeper
    cd sub/deeper
    run "$M3AGE" rekey --dry-run
    assert_status 2
    assert_contains err "no secrets.nix in"
}

test_audit_without_hosts_says_so() {
    mkrepo
    run "$M3AGE" audit
    assert_contains out "(4 secrets, 0 hosts)"
    assert_contains err "m3age: warning: no host found"
}

run_tests
