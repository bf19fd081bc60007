#!/bin/bash
# m3age edit never loses an edit: the name and the folder are checked before the editor, a
# write that still fails keeps the edit encrypted, an empty stdin does not blank a secret.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

# ro_dir DIR: makes DIR read-only (a read-only mount for root, whom permissions do not stop).
ro_dir() {
    if [ "$(id -u)" -eq 0 ]; then
        mkdir -p keep.ro && cp -a "$1"/. keep.ro/
        mount -t tmpfs -o size=1m m3age-ro "$1" 2>/dev/null || skip "mount -t tmpfs is not allowed here"
        trap "umount -l '$PWD/$1' 2>/dev/null; rm -rf '$SHM'" EXIT
        cp -a keep.ro/. "$1"/
        mount -o remount,ro "$1" || skip "cannot remount read-only"
    else
        chmod 555 "$1"
        trap "chmod 755 '$PWD/$1'; rm -rf '$SHM'" EXIT
    fi
}

test_edit_from_the_secrets_folder_edits_the_registry_file() {
    mkrepo
    editor ed 'cat "$1" >"$1.seen.txt"; cp "$1" '"$PWD"'/seen; printf "more\n" >>"$1"'
    cd secrets
    run "$M3AGE" edit --editor "$PWD/../ed" secrets/a.age
    assert_status 0
    assert_contains err "using the rule 'secrets/a.age'"
    cd ..
    # The editor got the secret's content, not an empty "new" file; the result is in place.
    assert_eq "$(cat seen)" "alpha"
    assert_eq "$(plain secrets/a.age)" "$(printf 'alpha\nmore')"
    assert_absent secrets/secrets
    assert_shm_clean
}

test_edit_new_secret_in_a_missing_folder_creates_the_folder() {
    mkrepo
    sed -i '$d' secrets.nix
    printf '  "newdir/x.age".publicKeys = [ user h1 ];\n}\n' >>secrets.nix
    editor ed 'printf "typed\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed" newdir/x.age
    assert_status 0
    assert_eq "$(plain newdir/x.age)" "typed"
    assert_shm_clean
}

test_edit_read_only_folder_is_refused_before_the_editor_runs() {
    mkrepo
    cp secrets/a.age before
    ro_dir secrets
    editor ed 'touch '"$PWD"'/editor-ran; printf "typed\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 2
    assert_one_error_line "m3age: error: secrets/a.age: cannot write in 'secrets': "
    assert_contains err "nothing was changed"
    assert_absent editor-ran
    assert_same_file before secrets/a.age
    assert_shm_clean
}

test_edit_write_failure_after_the_editor_keeps_the_edit_encrypted() {
    mkrepo
    cp secrets/a.age before
    [ "$(id -u)" -eq 0 ] || skip "needs root to make the folder read-only under the editor"
    mkdir -p keep.ro && cp -a secrets/. keep.ro/
    mount -t tmpfs -o size=1m m3age-ro secrets 2>/dev/null || skip "mount -t tmpfs is not allowed here"
    trap "umount -l '$PWD/secrets' 2>/dev/null; rm -rf '$SHM'" EXIT
    cp -a keep.ro/. secrets/
    # The folder becomes read-only while the editor runs: the pre-flight check passed.
    editor ed 'printf "typed\n" >"$1"; mount -o remount,ro '"$PWD"'/secrets'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 2
    assert_contains err "m3age: error: secrets/a.age: not written: cannot create a temp file in secrets: "
    assert_contains err "the edit is kept encrypted as ./a.kept-"
    assert_contains err "m3age: hint: fix the cause, then move the kept file to secrets/a.age"
    assert_same_file before secrets/a.age
    kept=$(ls a.kept-*.age)
    assert_eq "$(plain "$kept")" "typed"
    assert_eq "$(plain "$kept" hostkeys/h1)" "typed"
    ! grep -q typed "$kept" || _fail "the kept file holds plaintext"
    assert_shm_clean
}

test_edit_empty_stdin_does_not_blank_an_existing_secret() {
    mkrepo
    cp secrets/a.age before
    : >empty
    run_in empty "$M3AGE" edit secrets/a.age
    assert_status 2
    assert_contains err "m3age: error: secrets/a.age: read 0 bytes from standard input: not replacing the secret with nothing"
    assert_contains err "m3age: hint: to blank the secret on purpose, run it again with --allow-empty"
    assert_same_file before secrets/a.age
    run_in empty "$M3AGE" edit --allow-empty secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age | wc -c)" 0
}

test_edit_empty_stdin_creates_an_empty_new_secret() {
    mkrepo
    : >empty
    run_in empty "$M3AGE" edit secrets/new.age
    assert_status 0
    assert_exists secrets/new.age
}

test_agenix_mode_keeps_agenix_empty_stdin_behaviour() {
    mkrepo
    agenix_link
    : >empty
    RULES=secrets.nix run_in empty "$AGENIX" -e secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age | wc -c)" 0
}

run_tests
