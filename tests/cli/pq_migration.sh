#!/bin/bash
# The documented migration of a repository from classical to post-quantum (README "Making a
# repository post-quantum", the last steps of `make demo`), on the demo repository: the user's
# `keygen --pq` and registry binding, the hosts' post-quantum recipients collected with
# `hosts sync --pq`, one rekey, and `audit --require-pq` clean; every host and the user open
# their secrets with their new identities and no classical key opens any file.
. "$(dirname "$0")/../lib.sh"

HOSTS="m3-ares m3-kratos m3-daedalus m3-atlas m3-helios m3-hermes m3-aether"

test_classical_repository_becomes_post_quantum() {
    local h f
    cp -r "$SRCDIR/examples/nixos-config" repo
    chmod 600 repo/demo-keys/*
    cd repo
    # before: every secret classical
    run "$M3AGE" audit --require-pq
    assert_status 1
    assert_eq "$(grep -c 'M3A028' out)" 6 "classical secrets before"
    assert_contains out "post-quantum protected: 0 of 6 secrets"
    # 1. the user
    run "$M3AGE" keygen --pq -o m3tam3re-pq.key
    assert_status 0
    run "$M3AGE" registry set-key m3tam3re-pq "$("$M3AGE_FIXTURE" keygen -y m3tam3re-pq.key)"
    assert_status 0
    sed -i 's|^  users = \[ m3tam3re m3tam3re-age \];|  users = [ m3tam3re-pq ];|' secrets.nix
    # half-way, the registry mixes post-quantum and classical keys: reported, not rekeyed
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "M3A027"
    # 2. the hosts (what m3age.hostPqIdentity wrote on each, collected into hosts/)
    for h in $HOSTS; do
        "$M3AGE_FIXTURE" keygen --pq -o "../$h.txt" 2>/dev/null
        "$M3AGE_FIXTURE" keygen -y "../$h.txt" >"hosts/$h/host-pq.pub"
    done
    run "$M3AGE" hosts sync --pq
    assert_status 0
    assert_contains out "updated secrets.nix (7 host keys)"
    # 3. one rekey, with the old user key to open the files
    run "$M3AGE" rekey -i demo-keys/m3tam3re_id_ed25519 -i m3tam3re-pq.key
    assert_status 0
    assert_contains out "6 rekeyed, 0 already up to date, 0 failed"
    run "$M3AGE" audit --require-pq
    assert_status 0
    assert_contains out "0 errors"
    assert_contains out "post-quantum protected: 6 of 6 secrets"
    run "$M3AGE" hosts
    assert_contains out "post-quantum identities: 7 of 7 hosts"
    # who opens what: the user everything, each host its own, no classical key anything
    for f in secrets/*.age; do
        run "$M3AGE" decrypt -i m3tam3re-pq.key "$f"
        assert_status 0
        run "$M3AGE" decrypt -i demo-keys/m3tam3re-age.txt -i demo-keys/m3tam3re_id_ed25519 "$f"
        assert_status 1
        grep -qa '^-> mlkem768x25519 ' "$f" || grep -q 'BEGIN AGE' "$f" || _fail "$f: no PQ stanza"
    done
    run "$M3AGE" decrypt -i ../m3-atlas.txt secrets/restic-atlas.age
    assert_status 0
    run "$M3AGE" decrypt -i ../m3-hermes.txt secrets/mail-relay.age
    assert_status 0
    run "$M3AGE" decrypt -i ../m3-hermes.txt secrets/wifi.age
    assert_status 1
    run "$M3AGE" decrypt -i demo-keys/m3-atlas.ssh_host_ed25519_key secrets/restic-atlas.age
    assert_status 1
    # nothing left to do
    run "$M3AGE" diff
    assert_status 0
}

run_tests
