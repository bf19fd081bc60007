#!/bin/bash
# m3age rekey: lazy, per host, all or nothing, lockout guard, leftovers of killed runs.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

snapshot() { mkdir -p "$1" && cp -p secrets/*.age "$1/"; }
unchanged() { for f in "$@"; do assert_same_file "snap/$f" "secrets/$f"; done; }

test_rekey_up_to_date_repo_writes_nothing() {
    mkrepo
    snapshot snap
    run "$M3AGE" rekey secrets/a.age secrets/b.age
    assert_status 0
    assert_contains out "0 rekeyed, 2 already up to date, 0 failed"
    unchanged a.age b.age
}

test_rekey_is_lazy_and_header_only() {
    mkrepo
    # A damaged payload is not noticed by a lazy rekey: only headers are compared.
    printf 'X' | dd of=secrets/a.age bs=1 seek=$(($(stat -c %s secrets/a.age) - 2)) conv=notrunc status=none
    snapshot snap
    run "$M3AGE" rekey secrets/a.age
    assert_status 0
    assert_contains out "0 rekeyed, 1 already up to date"
    unchanged a.age
    run "$M3AGE" rekey --force secrets/a.age
    assert_status 1
    assert_contains err "secrets/a.age: cannot decrypt"
    unchanged a.age
}

test_rekey_after_a_registry_change_rewrites_only_what_changed() {
    mkrepo
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \];|"secrets/a.age".publicKeys = [ user h3 ];|' secrets.nix
    snapshot snap
    run "$M3AGE" rekey --dry-run secrets/a.age secrets/b.age
    assert_status 1 # a plan with changes, as diff and hosts --dry-run
    assert_contains out "secrets/a.age: rekey: +h3, -h1"
    assert_contains out "secrets/b.age: up to date"
    unchanged a.age b.age
    run "$M3AGE" rekey secrets/a.age secrets/b.age
    assert_status 0
    assert_contains out "1 rekeyed, 1 already up to date, 0 failed"
    unchanged b.age
    assert_eq "$(plain secrets/a.age hostkeys/h3)" "alpha"
    run "$M3AGE" decrypt -i hostkeys/h1 secrets/a.age
    assert_status 1
    assert_no_temp secrets
}

test_rekey_dry_run_counts_x25519_recipients() {
    mkrepo
    sed -i 's|publicKeys = \[ user h2 agekey \];|publicKeys = [ user h2 ];|' secrets.nix
    run "$M3AGE" rekey -n secrets/b.age
    assert_status 1
    assert_contains out "secrets/b.age: rekey: -1 X25519 recipient no longer in the registry (the header cannot tell which)"
}

test_rekey_armor_change_is_a_difference() {
    mkrepo
    sed -i 's|armor = true;|armor = false;|' secrets.nix
    run "$M3AGE" rekey secrets/b.age
    assert_status 0
    assert_contains out "1 rekeyed"
    [ "$(head -c 3 secrets/b.age)" = "age" ] || _fail "b.age is still armored"
    assert_eq "$(plain secrets/b.age age.key)" "bravo"
}

test_rekey_host_chooses_the_hosts_secrets() {
    mkrepo
    cp hostkeys/h2 home/.ssh/id_rsa # not rsa: the name is only a default path
    snapshot snap
    run "$M3AGE" rekey --force --host h2 -i home/.ssh/id_ed25519 -i hostkeys/h2
    assert_status 0
    assert_contains out "2 rekeyed, 0 already up to date, 0 failed"
    unchanged a.age
    cmp -s snap/b.age secrets/b.age && _fail "b.age was not rewritten"
    cmp -s snap/c.age secrets/c.age && _fail "c.age was not rewritten"
    assert_eq "$(plain secrets/c.age hostkeys/h2)" "charlie"
    run "$M3AGE" rekey --host nosuchhost
    assert_status 2
    assert_contains err "nosuchhost"
}

test_rekey_is_all_or_nothing() {
    mkrepo
    snapshot snap
    # The registry adds the user to c.age, but the user cannot open it yet: nothing is written.
    sed -i 's|"secrets/c.age".publicKeys = \[ h2 \];|"secrets/c.age".publicKeys = [ user h2 ];|' secrets.nix
    run "$M3AGE" rekey --force
    assert_status 1
    assert_contains err "secrets/c.age: cannot decrypt"
    assert_contains err "nothing was written"
    assert_contains err "--partial"
    assert_contains out "0 rekeyed"
    unchanged a.age b.age c.age
    assert_no_temp secrets
    run "$M3AGE" rekey --force --partial
    assert_status 1
    assert_contains out "2 rekeyed, 0 already up to date, 1 failed"
    unchanged c.age
    assert_eq "$(plain secrets/a.age)" "alpha"
}

test_rekey_lockout_guard() {
    mkrepo
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \];|"secrets/a.age".publicKeys = [ h1 ];|' secrets.nix
    snapshot snap
    run "$M3AGE" rekey secrets/a.age
    assert_status 1
    assert_contains err "none of this run's identities could open the new file"
    assert_contains err "--allow-lockout"
    unchanged a.age
    run "$M3AGE" rekey --allow-lockout secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age hostkeys/h1)" "alpha"
}

test_rekey_removes_leftovers_of_a_killed_run() {
    mkrepo
    echo junk >secrets/.a.age.m3tmp.0123456789ab
    run "$M3AGE" rekey secrets/a.age
    assert_status 0
    assert_contains err "removed 1 temporary file"
    assert_no_temp secrets
}

test_rekey_with_an_age_identity_and_jobs() {
    mkrepo
    run "$M3AGE" rekey --force -j 3 -i age.key secrets/b.age
    assert_status 0
    assert_contains out "1 rekeyed"
    assert_eq "$(plain secrets/b.age hostkeys/h2)" "bravo"
    run "$M3AGE" rekey -j 0
    assert_status 2
    assert_contains err "--jobs"
}

test_rekey_no_identity() {
    mkrepo
    rm home/.ssh/id_ed25519
    run "$M3AGE" rekey --force secrets/a.age
    assert_status 2
    assert_contains err "no identity"
}

test_rekey_missing_files_are_reported() {
    mkrepo
    run "$M3AGE" rekey -n
    assert_contains out "secrets/new.age: missing"
}

test_rekey_asks_a_passphrase_once_per_run() {
    mkrepo
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    ssh-keygen -q -p -P '' -N 'pw-123' -f home/.ssh/id_ed25519
    run "$TOOLS/ptyrun" -S -e "passphrase" -s "pw-123" -- "$M3AGE" rekey --force secrets/a.age secrets/b.age
    assert_status 0
    assert_contains out "2 rekeyed"
    assert_eq "$(grep -c 'passphrase' out)" 1
}

run_tests
