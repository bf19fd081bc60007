#!/bin/bash
# m3age edit: editors that change, keep, fail or get killed; stdin; armor; tmpfs; signals.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

test_edit_changes_and_encrypts_to_exactly_the_registry() {
    mkrepo
    editor ed 'printf "new alpha\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age)" "new alpha"
    assert_eq "$(plain secrets/a.age hostkeys/h1)" "new alpha"
    run "$M3AGE" decrypt -i hostkeys/h2 secrets/a.age
    assert_status 1
    assert_eq "$(grep -c '^-> ' secrets/a.age)" 2
    assert_no_temp secrets
    assert_shm_clean
}

test_edit_unchanged_leaves_the_file_byte_identical() {
    mkrepo
    cp secrets/a.age before
    editor ed 'true'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_contains err "secrets/a.age wasn't changed, skipping re-encryption."
    assert_same_file before secrets/a.age
    assert_shm_clean
}

test_edit_editor_failure_keeps_the_file_and_removes_the_plaintext() {
    mkrepo
    cp secrets/a.age before
    editor ed 'echo changed >"$1"; cp "$1" "$1.bak"; exit 3'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    assert_contains err "exited with status 3"
    assert_same_file before secrets/a.age
    assert_shm_clean
}

test_edit_killed_editor_keeps_the_file() {
    mkrepo
    cp secrets/a.age before
    editor ed 'echo changed >"$1"; kill -KILL $$'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    assert_contains err "killed by signal 9"
    assert_same_file before secrets/a.age
    assert_shm_clean
}

test_edit_signals_to_m3age_remove_the_plaintext() {
    mkrepo
    cp secrets/a.age before
    for sig in INT TERM HUP; do
        editor ed "cp \"\$1\" $PWD/seen; kill -$sig \$PPID; sleep 5"
        run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
        [ "$status" -gt 128 ] || _fail "SIG$sig: exit status $status, expected death by signal"
        assert_eq "$(cat seen)" "alpha"
        assert_same_file before secrets/a.age
        assert_shm_clean
    done
}

test_edit_reads_stdin_when_not_a_terminal() {
    mkrepo
    printf 'from stdin\n' >in
    run_in in "$M3AGE" edit secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age)" "from stdin"
    assert_shm_clean
}

test_edit_armored_entry_stays_armored() {
    mkrepo
    printf 'bravo 2\n' >in
    run_in in "$M3AGE" edit secrets/b.age
    assert_status 0
    assert_eq "$(head -1 secrets/b.age)" "-----BEGIN AGE ENCRYPTED FILE-----"
    assert_eq "$(plain secrets/b.age age.key)" "bravo 2"
    assert_eq "$(plain secrets/b.age hostkeys/h2)" "bravo 2"
}

test_edit_creates_a_missing_file() {
    mkrepo
    editor ed 'printf "brand new\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/new.age
    assert_status 0
    assert_eq "$(plain secrets/new.age hostkeys/h1)" "brand new"
}

test_edit_editor_that_creates_nothing() {
    mkrepo
    editor ed 'true'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/new.age
    assert_status 0
    assert_contains err "secrets/new.age wasn't created."
    assert_absent secrets/new.age
    assert_shm_clean
}

test_edit_editor_gets_only_a_path_on_tmpfs_with_the_base_name() {
    mkrepo
    editor ed 'printf "%s\n" "$@" >'"$PWD"'/args; env >'"$PWD"'/envdump; stat -c %a "$(dirname "$2")" >'"$PWD"'/mode'
    run "$M3AGE" edit --editor "$PWD/ed --wait" secrets/a.age
    assert_status 0
    assert_lines args 2
    assert_eq "$(head -1 args)" "--wait"
    case $(tail -1 args) in "$SHM"/*/a.age) ;; *) _fail "editor path: $(tail -1 args)" ;; esac
    assert_eq "$(cat mode)" 700
    assert_not_contains envdump "alpha"
}

test_edit_vim_gets_no_swap_undo_backup_viminfo() {
    mkrepo
    mkdir bin
    editor bin/vim 'printf "%s\n" "$@" >'"$PWD"'/args'
    run "$M3AGE" edit --editor "$PWD/bin/vim" secrets/a.age
    assert_status 0
    assert_contains args "-n"
    assert_contains args "NONE"
    assert_contains args "noswapfile"
    assert_contains args "noundofile"
    assert_contains args "nobackup"
}

test_edit_refuses_a_disk_backed_temp_folder() {
    mkrepo
    [ "$(stat -f -c %T "$PWD")" = tmpfs ] && skip "the test folder is on tmpfs"
    mkdir disk
    editor ed 'echo x >"$1"'
    XDG_RUNTIME_DIR=$PWD/disk run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 2
    assert_contains err "not on tmpfs"
    assert_contains err "--unsafe-tmp"
    XDG_RUNTIME_DIR=$PWD/disk run "$M3AGE" edit --unsafe-tmp --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age)" "x"
    assert_eq "$(ls -A disk)" ""
}

test_edit_name_starting_with_dash() {
    mkrepo
    sed -i 's|^{|{\n  "-dash.age".publicKeys = [ user ];|' secrets.nix
    printf 'dashing\n' >in
    run_in in "$M3AGE" edit -- -dash.age
    assert_status 0
    assert_eq "$("$M3AGE" decrypt -i home/.ssh/id_ed25519 -- -dash.age)" "dashing"
}

test_edit_no_rule() {
    mkrepo
    run "$M3AGE" edit secrets/zzz.age
    assert_status 2
    assert_contains err "There is no rule for secrets/zzz.age in"
}

test_edit_names_the_rule_used_from_another_folder() {
    mkrepo
    cd secrets
    printf 'via dir\n' >../in
    run_in ../in "$M3AGE" edit a.age
    assert_status 0
    assert_contains err "using the rule 'secrets/a.age'"
    assert_eq "$("$M3AGE" decrypt -i ../home/.ssh/id_ed25519 a.age)" "via dir"
}

test_decrypt_uses_default_identities_for_registry_secrets() {
    mkrepo
    run "$M3AGE" decrypt secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" "alpha"
    run "$M3AGE" decrypt secrets/c.age
    assert_status 1
    cp secrets/a.age /tmp/m3t-outside.$$ && mv /tmp/m3t-outside.$$ "$SHM/a.age"
    run "$M3AGE" decrypt "$SHM/a.age"
    assert_status 2
    assert_contains err "no identity to decrypt with"
    assert_contains err "used only for the secrets secrets.nix names"
}

test_edit_and_rekey_have_help() {
    for c in edit rekey; do
        run "$M3AGE" "$c" --help
        assert_status 0
        assert_contains out "Usage: m3age $c"
    done
    run "$M3AGE" --help
    assert_contains out "edit"
    assert_contains out "rekey"
    run "$M3AGE" edit
    assert_status 2
    assert_contains err "no FILE given"
}

run_tests
