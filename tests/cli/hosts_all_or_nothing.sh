#!/bin/bash
# m3age hosts rm / sync --rekey / add: the identity the rekey needs is checked before the
# registry is written, and a no-op says nothing is stale.
. "$(dirname "$0")/../lib.sh"

repo() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    mkdir -p home/.ssh
    export HOME=$PWD/home
    cd repo
    chmod 600 demo-keys/*
    cp secrets.nix ../secrets.nix.orig
    cp -r secrets ../secrets.orig
}
untouched() {
    cmp -s secrets.nix ../secrets.nix.orig || _fail "secrets.nix changed: $(diff ../secrets.nix.orig secrets.nix)"
    diff -r ../secrets.orig secrets >/dev/null || _fail "secrets/ changed"
}

test_hosts_rm_without_identity_changes_nothing() {
    repo
    run "$M3AGE" hosts rm m3-atlas
    assert_status 2
    assert_contains err "m3age: error: no identity to decrypt with"
    assert_contains err "secrets.nix was not changed"
    assert_contains err "--no-rekey"
    assert_not_contains out "removed"
    untouched
    # With the identity the same command does it all.
    run "$M3AGE" hosts rm m3-atlas -i demo-keys/m3tam3re-age.txt
    assert_status 0
    assert_contains out "m3-atlas: removed"
    ! grep -q "m3-atlas =" secrets.nix || _fail "m3-atlas still bound"
}

test_hosts_sync_rekey_without_identity_changes_nothing() {
    repo
    ssh-keygen -q -t ed25519 -N '' -f ../new-atlas
    cp ../new-atlas.pub hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-atlas --rekey
    assert_status 2
    assert_contains err "no identity to decrypt with"
    assert_contains err "leaving out --rekey"
    assert_not_contains out "updated secrets.nix"
    untouched
}

test_hosts_add_of_a_present_host_is_a_no_op() {
    repo
    key=$(cat hosts/m3-ares/ssh_host_ed25519_key.pub)
    run "$M3AGE" hosts add m3-ares "$key"
    assert_status 0
    assert_contains out "m3-ares: already in the registry with this key"
    assert_not_contains out "now"
    assert_not_contains err "still encrypted"
    untouched
}

run_tests
