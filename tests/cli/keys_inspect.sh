#!/bin/bash
# m3age keys inspect --rules: stanzas named by the registry's key bindings, no private key.
. "$(dirname "$0")/../lib.sh"

test_inspect_names_stanzas_from_the_registry() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    cd repo
    run "$M3AGE" keys inspect secrets/restic-atlas.age --rules secrets.nix
    assert_status 0
    assert_contains out "m3tam3re"
    assert_contains out "m3-atlas"
    assert_not_contains out "m3-helios"
}

test_inspect_with_a_broken_registry_fails_naming_it() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    cd repo
    printf '{ "x.age".publicKeys = [ "a" ] \n' >bad.nix
    run "$M3AGE" keys inspect secrets/wifi.age --rules bad.nix
    [ "$status" -ne 0 ] || _fail "a broken registry was accepted"
    assert_contains err "bad.nix:"
}

run_tests
