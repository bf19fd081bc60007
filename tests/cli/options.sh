#!/bin/bash
# Options anywhere: every native command takes options before and after its operands (GNU
# getopt_long permutation), "--" ends them, and a bad option is one error line with a hint.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

# add_entry NAME: a registry entry for NAME, readable by the user and h1.
add_entry() {
    sed -i '$d' secrets.nix
    printf '  "%s".publicKeys = [ user h1 ];\n}\n' "$1" >>secrets.nix
}

test_decrypt_takes_identity_and_output_after_the_file() {
    mkrepo
    run "$M3AGE" decrypt secrets/a.age -i home/.ssh/id_ed25519 -o plain.txt
    assert_status 0
    assert_eq "$(cat plain.txt)" "alpha"
}

test_rekey_takes_options_after_the_files() {
    mkrepo
    run "$M3AGE" rekey secrets/a.age --dry-run
    assert_status 0
    assert_contains out "secrets/a.age: up to date"
    assert_not_contains err "no rule"
    cp secrets/a.age before
    run "$M3AGE" rekey secrets/a.age --force -i home/.ssh/id_ed25519
    assert_status 0
    assert_contains out "1 rekeyed"
    assert_eq "$(plain secrets/a.age)" "alpha"
}

test_edit_takes_identity_and_editor_after_the_file() {
    mkrepo
    editor ed 'printf "beta\n" >"$1"'
    run "$M3AGE" edit secrets/a.age -i home/.ssh/id_ed25519 --editor "$PWD/ed"
    assert_status 0
    assert_eq "$(plain secrets/a.age)" "beta"
    assert_shm_clean
}

test_encrypt_takes_recipient_after_the_input() {
    mkrepo
    printf 'x\n' >in
    run "$M3AGE" encrypt in -r "$AGEPUB" -o in.age
    assert_status 0
    run "$M3AGE" decrypt in.age -i age.key
    assert_eq "$(cat out)" "x"
}

test_double_dash_ends_options_for_a_leading_hyphen_name() {
    mkrepo
    add_entry -leading-hyphen-filename.age
    printf 'hyphen\n' >in
    run_in in "$M3AGE" edit -- -leading-hyphen-filename.age
    assert_status 0
    assert_eq "$(plain ./-leading-hyphen-filename.age)" "hyphen"
    run "$M3AGE" decrypt -i home/.ssh/id_ed25519 -- -leading-hyphen-filename.age
    assert_status 0
    assert_eq "$(cat out)" "hyphen"
    run "$M3AGE" rekey --dry-run -- -leading-hyphen-filename.age
    assert_status 0
    assert_contains out "-leading-hyphen-filename.age: up to date"
}

test_unknown_option_is_one_prefixed_line_and_a_hint() {
    mkrepo
    for cmd in edit rekey decrypt encrypt diff audit check keygen git-setup; do
        run "$M3AGE" "$cmd" --frobnicate
        assert_status 2
        assert_lines err 2
        assert_contains err "m3age: error: $cmd: unknown option '--frobnicate'"
        assert_contains err "m3age: hint: run 'm3age $cmd --help' for its options"
    done
    run "$M3AGE" edit -x secrets/a.age
    assert_status 2
    assert_contains err "m3age: error: edit: unknown option '-x'"
    run "$M3AGE" rekey --jobs
    assert_status 2
    assert_contains err "m3age: error: rekey: option '--jobs' needs a value"
    run "$M3AGE" keys inspect --frobnicate
    assert_contains err "m3age: error: keys inspect: unknown option '--frobnicate'"
}

test_check_names_an_unexpected_host_and_hints_host_option() {
    mkrepo
    run "$M3AGE" check m3-atlas
    assert_status 2
    assert_contains err "m3age: error: check: unexpected argument 'm3-atlas'"
    assert_contains err "m3age check --host m3-atlas"
}

run_tests
