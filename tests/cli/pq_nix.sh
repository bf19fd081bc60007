#!/bin/bash
# The NixOS module's m3age.hostPqIdentity option (a host's post-quantum identity), evaluated
# with the real nix-instantiate against the stand-ins in tests/nix/stub.nix (values in
# tests/nix/pq_cases.nix); its activation script is then run for real with the built m3age
# in a temporary state folder.
. "$(dirname "$0")/../lib.sh"

CASES="$SRCDIR/tests/nix/pq_cases.nix"
STORE=/nix/store/00000000000000000000000000000000-m3age-0.1.0

expect() { # expect NAME JSON
    command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json -A "$1" "$CASES"
    assert_status 0
    assert_eq "$(cat out)" "$2" "$1"
}

test_option_defaults_off_and_sets_nothing() {
    expect defaults '[false,"/var/lib/m3age"]'
    expect offSets '[false,false]'
}

test_enabled_adds_the_identity_before_the_ssh_host_keys_and_runs_before_agenix() {
    expect identityPaths '["/var/lib/m3age/host-pq.txt","/etc/ssh/ssh_host_ed25519_key"]'
    expect elsewherePaths '["/persist/m3age/host-pq.txt"]'
    expect agenixAfter '["m3ageHostPqIdentity"]'
}

test_activation_script_makes_the_identity_once_and_publishes_its_recipient() {
    local script r1 r2
    command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict -A scriptElsewhere "$CASES"
    assert_status 0
    # the Nix string, unquoted, with the built m3age and a temporary state folder
    script=$(python3 -c 'import json,sys; print(json.loads(sys.stdin.read()))' <out)
    script=${script//$STORE\/bin\/m3age/$BUILD/m3age}
    script=${script//\/persist\/m3age/$PWD/state}
    [ "$(id -u)" -eq 0 ] || script=${script//-o root -g root/}
    printf '%s\n' "$script" >activate.sh
    run bash -e activate.sh
    assert_status 0
    [ "$(stat -c %a state/host-pq.txt)" = 400 ] || _fail "key mode $(stat -c %a state/host-pq.txt)"
    [ "$(stat -c %a state/host-pq.pub)" = 444 ] || _fail "pub mode $(stat -c %a state/host-pq.pub)"
    [ "$(id -u)" -ne 0 ] || [ "$(stat -c %U state/host-pq.txt)" = root ] || _fail "not root's"
    grep -q '^AGE-SECRET-KEY-PQ-1' state/host-pq.txt || _fail "not a post-quantum identity"
    r1=$(cat state/host-pq.pub)
    assert_eq "$r1" "$("$M3AGE_FIXTURE" keygen -y state/host-pq.txt)" "published recipient"
    # the next activation keeps the identity
    run bash -e activate.sh
    assert_status 0
    r2=$(cat state/host-pq.pub)
    assert_eq "$r2" "$r1" "recipient after a second activation"
    assert_absent state/host-pq.txt.new
    # what the operator collects opens on the host
    echo secret >plain
    "$M3AGE_FIXTURE" encrypt -r "$r1" -o f.age plain || _fail "encrypt failed"
    run "$M3AGE" decrypt -i state/host-pq.txt f.age
    assert_status 0
    assert_eq "$(cat out)" secret
}

run_tests
