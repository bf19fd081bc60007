#!/bin/bash
# agenix mode (m3age called as `agenix`): agenix's flags, messages and exit statuses.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

test_agenix_no_arguments_prints_help_and_exits_1() {
    agenix_link
    run "$AGENIX"
    assert_status 1
    assert_contains out "-e, --edit FILE"
    assert_contains out "-r, --rekey"
}

test_agenix_help_exits_0() {
    agenix_link
    for h in -h --help; do
        run "$AGENIX" "$h"
        assert_status 0
        assert_contains out "-d, --decrypt FILE"
        assert_contains out "RULES"
    done
}

test_agenix_unknown_argument_prints_help_and_exits_1() {
    agenix_link
    run "$AGENIX" --frobnicate
    assert_status 1
    assert_contains out "-i, --identity"
    run "$AGENIX" secrets/a.age
    assert_status 1
}

test_agenix_edit_and_decrypt_without_file() {
    agenix_link
    for f in -e --edit -d --decrypt; do
        run "$AGENIX" "$f"
        assert_status 1
        assert_eq "$(cat out)" "no FILE specified"
    done
}

test_agenix_identity_without_key() {
    agenix_link
    for f in -i --identity; do
        run "$AGENIX" -d x.age "$f"
        assert_status 1
        assert_eq "$(cat out)" "no PRIVATE_KEY specified"
    done
}

test_agenix_no_rule() {
    mkrepo
    agenix_link
    run "$AGENIX" -d secrets/zzz.age
    assert_status 1
    assert_eq "$(cat err)" "There is no rule for secrets/zzz.age in ./secrets.nix."
    cp secrets.nix rules.nix
    RULES=rules.nix run "$AGENIX" -e ./secrets/zzz.age
    assert_status 1
    assert_eq "$(cat err)" "There is no rule for ./secrets/zzz.age in rules.nix."
}

test_agenix_decrypt_with_default_and_given_identities() {
    mkrepo
    agenix_link
    run "$AGENIX" -d secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" "alpha"
    run "$AGENIX" --decrypt secrets/b.age --identity age.key
    assert_status 0
    assert_eq "$(cat out)" "bravo"
    run "$AGENIX" -v -d secrets/c.age -i hostkeys/h2
    assert_status 0
    assert_eq "$(cat out)" "charlie"
    run "$AGENIX" -d secrets/c.age
    assert_status 1
}

test_agenix_no_identity_found() {
    mkrepo
    agenix_link
    rm home/.ssh/id_ed25519
    run "$AGENIX" -d secrets/a.age
    assert_status 1
    assert_eq "$(cat err)" "No identity found to decrypt secrets/a.age. Try adding an SSH key at $HOME/.ssh/id_rsa or $HOME/.ssh/id_ed25519 or using the --identity flag to specify a file."
}

test_agenix_edit_from_stdin() {
    mkrepo
    agenix_link
    printf 'piped\n' >in
    run_in in "$AGENIX" -e secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age hostkeys/h1)" "piped"
    run_in in "$AGENIX" -e secrets/a.age
    assert_status 0
    assert_eq "$(cat err)" "secrets/a.age wasn't changed, skipping re-encryption."
}

test_agenix_editor_colon_reencrypts_without_editing() {
    mkrepo
    agenix_link
    cp secrets/a.age before
    EDITOR=: run "$AGENIX" -e secrets/a.age
    assert_status 0
    cmp -s before secrets/a.age && _fail "EDITOR=: did not re-encrypt"
    assert_eq "$(plain secrets/a.age)" "alpha"
    EDITOR=: run "$AGENIX" -e secrets/new.age
    assert_status 0
    assert_eq "$(cat err)" "secrets/new.age wasn't created."
    assert_absent secrets/new.age
}

test_agenix_editor_is_word_split_on_a_terminal() {
    mkrepo
    agenix_link
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    editor ed '[ "$1" = "--wait" ] || exit 9; printf "edited\n" >"$2"'
    EDITOR="$PWD/ed --wait" run "$TOOLS/ptyrun" -q -- "$AGENIX" -e secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age)" "edited"
    assert_shm_clean
}

test_agenix_rekey() {
    mkrepo
    agenix_link
    sed -i 's|"secrets/c.age".publicKeys = \[ h2 \];|"secrets/c.age".publicKeys = [ h2 user ];|' secrets.nix
    cp secrets/a.age a.before
    run "$AGENIX" -r -i hostkeys/h2 -i home/.ssh/id_ed25519
    assert_status 0
    # agenix's line on stdout, for the files rewritten (a.age is up to date: left alone)
    assert_eq "$(cat out)" "rekeying secrets/c.age..."
    assert_not_contains err "rekeying"
    assert_contains err "secrets/new.age wasn't created."
    assert_same_file a.before secrets/a.age
    assert_eq "$(plain secrets/c.age)" "charlie"
}

test_agenix_rekey_is_all_or_nothing() {
    mkrepo
    agenix_link
    sed -i 's|"secrets/c.age".publicKeys = \[ h2 \];|"secrets/c.age".publicKeys = [ h2 user ];|' secrets.nix
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \];|"secrets/a.age".publicKeys = [ user h3 ];|' secrets.nix
    cp secrets/a.age a.before
    run "$AGENIX" --rekey
    assert_status 1
    assert_contains err "secrets/c.age"
    assert_same_file a.before secrets/a.age
}

run_tests
