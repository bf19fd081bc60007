#!/bin/bash
# The minor rough edges a new user meets (docs/findings/ux-walkthrough.md): each message
# names the input and the cause, and the next step where there is one.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

test_mistyped_command_suggests_the_nearest() {
    run "$M3AGE" edti
    assert_status 2
    assert_contains err "m3age: error: unknown command 'edti'"
    assert_contains err "did you mean 'm3age edit'?"
}

test_version_flag_help_help_and_version_help() {
    run "$M3AGE" -V
    assert_status 0
    assert_contains out "m3age "
    for a in help --help; do
        run "$M3AGE" help "$a"
        assert_status 0
        assert_contains out "Usage: m3age help [COMMAND]"
    done
    run "$M3AGE" version --help
    assert_status 0
    assert_contains out "Usage: m3age version"
}

test_registry_without_subcommand_says_so() {
    run "$M3AGE" registry
    assert_status 2
    assert_contains err "m3age: error: missing subcommand"
}

test_edit_says_saved_and_hints_registry_add_for_a_new_name() {
    mkrepo
    printf 'x\n' >in
    run_in in "$M3AGE" edit secrets/a.age
    assert_status 0
    assert_eq "$(cat err)" "m3age: secrets/a.age: saved, encrypted to 2 recipients"
    run_in in "$M3AGE" edit secrets/grafana.age
    assert_status 2
    assert_contains err "There is no rule for secrets/grafana.age"
    assert_contains err "m3age: hint: add its rule first: 'm3age registry add secrets/grafana.age KEYNAME...'"
}

test_registry_add_warns_about_a_name_without_age() {
    mkrepo
    run "$M3AGE" registry add secrets/grafana4 user
    assert_status 0
    assert_contains err "m3age: warning: secrets/grafana4: the name does not end in .age"
    assert_contains err "add secrets/grafana4: written"
}

test_editor_that_cannot_run_is_one_prefixed_line() {
    mkrepo
    run "$M3AGE" edit --editor nosuch-editor-m3t secrets/a.age
    assert_status 1
    assert_contains err "m3age: error: secrets/a.age: cannot run the editor 'nosuch-editor-m3t': No such file or directory"
    assert_not_contains err "exited with status 127"
    ! grep -v '^m3age: ' err | grep -q . || _fail "an unprefixed line: $(cat err)"
}

test_wrong_key_hints_whom_it_is_for() {
    mkrepo
    # c.age is for h2 only: the user's default key does not open it
    run "$M3AGE" decrypt secrets/c.age
    assert_status 1
    assert_contains err "m3age: hint: secrets/c.age (entry 'secrets/c.age' of secrets.nix) is encrypted to h2; the identity tried ($HOME/.ssh/id_ed25519) is none of them"
}

test_keys_convert_of_a_private_key_hints_private() {
    mkrepo
    run "$M3AGE" keys convert hostkeys/h1
    assert_status 1
    assert_contains err "m3age keys convert --private hostkeys/h1"
}

test_stale_rules_variable_is_named() {
    mkrepo
    RULES=/nope-m3t.nix run "$M3AGE" audit
    assert_status 2
    assert_contains err "m3age: error: /nope-m3t.nix: No such file or directory"
    assert_contains err "RULES=/nope-m3t.nix"
    RULES=/nope-m3t.nix run "$M3AGE" rekey -n
    assert_status 2
    assert_contains err "RULES=/nope-m3t.nix"
}

test_rekey_plan_from_a_subfolder_uses_registry_names() {
    mkrepo
    cd secrets
    run "$M3AGE" rekey -n
    assert_status 0
    assert_contains out "secrets/a.age: up to date"
    assert_not_contains out "$(dirname "$PWD")"
}

test_diff_takes_a_git_range() {
    mkrepo
    command -v git >/dev/null || skip "git not installed"
    git init -q . && git add -A && git -c user.name=t -c user.email=t@t commit -qm v1
    printf 'alpha 2\n' | "$M3AGE_FIXTURE" encrypt -R home/.ssh/id_ed25519.pub -R hostkeys/h1.pub -o secrets/a.age
    git add -A && git -c user.name=t -c user.email=t@t commit -qm v2
    run "$M3AGE" diff secrets/a.age HEAD~1..HEAD
    assert_status 1
    assert_contains out "-alpha"
    assert_contains out "+alpha 2"
}

test_agenix_unknown_flag_rekey_lines_and_rules_hint() {
    mkrepo
    agenix_link
    run "$AGENIX" -x
    assert_status 1
    assert_contains err "agenix: error: unknown option '-x'"
    sed -i 's|"secrets/c.age".publicKeys = \[ h2 \];|"secrets/c.age".publicKeys = [ h2 user ];|' secrets.nix
    run "$AGENIX" -r -i hostkeys/h2
    assert_status 0
    assert_eq "$(cat out)" "rekeying secrets/c.age..."
    cd secrets
    run "$AGENIX" -d a.age
    assert_status 1
    assert_contains err "agenix: hint: RULES=../secrets.nix agenix"
}

test_check_is_one_line_per_stale_file_and_one_rekey_hint() {
    cp -r "$SRCDIR/examples/nixos-config" repo && cd repo
    ssh-keygen -q -t ed25519 -N '' -f ../new-atlas
    cp ../new-atlas.pub hosts/m3-atlas/ssh_host_ed25519_key.pub
    "$M3AGE" hosts sync m3-atlas >/dev/null 2>&1
    run "$M3AGE" check --host m3-atlas
    assert_status 1
    assert_eq "$(grep -c '^  FAIL' out)" 2
    assert_contains out "(M3A006, M3A007, M3A009)"
    assert_contains out "m3-atlas: not ready: 2 errors"
    assert_eq "$(cat err)" "m3age: hint: secrets are not encrypted to the registry's recipients: run 'm3age rekey --host m3-atlas'"
}

test_no_terminal_for_a_passphrase_hints_m3age_passphrase() {
    mkrepo
    cp home/.ssh/id_ed25519 pk
    ssh-keygen -q -p -P '' -N 'pw' -f pk >/dev/null
    command -v setsid >/dev/null || skip "setsid not installed"
    run setsid "$M3AGE" decrypt -i pk secrets/a.age
    assert_status 1
    assert_contains err "the key is protected by a passphrase and none was given"
    assert_contains err "m3age: hint: no terminal to ask the passphrase on: run it on a terminal, or give the passphrase in M3AGE_PASSPHRASE (scripts)"
    run setsid "$M3AGE" rekey --force -i pk secrets/a.age
    assert_status 1
    assert_contains err "M3AGE_PASSPHRASE"
}

test_registry_error_names_the_registry_as_typed() {
    mkrepo
    sed -i 's|^in$|in ;|' secrets.nix
    for c in audit "check --host h1" diff "rekey -n" "decrypt secrets/a.age" "edit secrets/a.age"; do
        run "$M3AGE" $c
        assert_status 2
        assert_contains err "m3age: error: secrets.nix:7:4: "
        assert_not_contains err "$PWD"
    done
}

run_tests
