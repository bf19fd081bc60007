#!/bin/bash
# Fault injection around edit and rekey (issue 8, point 4): the registry or the secret file
# changed by something else during an edit, two m3age runs on one repository at once, m3age
# killed with SIGKILL during an edit, and a read-only secrets folder. Nothing is lost,
# nothing is clobbered, no plaintext reaches the disk, and every refusal is one clear line.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

# pause_editor: ./ed writes "$1" (the new content) into the file, touches ./started, and
# waits until ./go exists (at most 120 s).
pause_editor() {
    editor ed "printf '%s\\n' '$1' >\"\$1\"; touch $PWD/started; i=0
while [ ! -e $PWD/go ] && [ \$i -lt 1200 ]; do sleep 0.1; i=\$((i + 1)); done"
}

# wait_for FILE: waits up to 90 s for FILE to exist (m3age may run under valgrind).
wait_for() {
    local i
    for i in $(seq 900); do
        [ -e "$1" ] && return 0
        sleep 0.1
    done
    _fail "timed out waiting for $1"
}

# no_plaintext_outside_shm TEXT: TEXT is in no file of the repository or /tmp folder.
no_plaintext_in_repo() {
    ! grep -rlF --exclude=ed --exclude=out --exclude=err -- "$1" . 2>/dev/null | grep -q . ||
        _fail "plaintext '$1' found in: $(grep -rlF --exclude=ed -- "$1" . | head -3)"
}

# first_error LINE: the first line of stderr starts with LINE, and it is the only error line
# (a hint may follow).
first_error() {
    case $(head -n 1 err) in "$1"*) ;; *) _fail "first stderr line: $(head -n 1 err); expected: $1..." ;; esac
    [ "$(grep -c 'error:' err)" -eq 1 ] || _fail "more than one error line: $(cat err)"
}

# kept_file: the single NAME.kept-XXXXXX.age file beside secrets/a.age.
kept_file() {
    local k
    k=$(ls secrets/a.kept-*.age 2>/dev/null)
    [ "$(echo "$k" | grep -c .)" -eq 1 ] || _fail "expected one kept file, found: $k"
    echo "$k"
}

test_registry_recipients_changed_during_the_edit_go_to_the_new_recipients() {
    mkrepo
    editor ed 'printf "new alpha\n" >"$1"
sed -i "s|\"secrets/a.age\".publicKeys = \[ user h1 \]|\"secrets/a.age\".publicKeys = [ user h2 ]|" secrets.nix'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_contains err "m3age: $PWD/secrets.nix changed the recipients of secrets/a.age during the edit: encrypted to its current recipients"
    assert_not_contains err "error:"
    assert_eq "$(plain secrets/a.age hostkeys/h2)" "new alpha"
    run "$M3AGE" decrypt -i hostkeys/h1 secrets/a.age
    assert_status 1
    assert_no_temp secrets
    assert_shm_clean
}

test_armor_changed_during_the_edit_is_followed() {
    mkrepo
    editor ed 'printf "new alpha\n" >"$1"
sed -i "s|\"secrets/a.age\".publicKeys = \[ user h1 \];|\"secrets/a.age\" = { publicKeys = [ user h1 ]; armor = true; };|" secrets.nix'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_contains err "during the edit: encrypted to its current recipients"
    assert_eq "$(head -1 secrets/a.age)" "-----BEGIN AGE ENCRYPTED FILE-----"
    assert_eq "$(plain secrets/a.age)" "new alpha"
}

test_unrelated_registry_change_during_the_edit_is_no_conflict() {
    mkrepo
    editor ed 'printf "new alpha\n" >"$1"
sed -i "s|\"secrets/c.age\".publicKeys = \[ h2 \]|\"secrets/c.age\".publicKeys = [ h3 ]|" secrets.nix'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_eq "$(cat err)" "m3age: secrets/a.age: saved, encrypted to 2 recipients"
    assert_eq "$(plain secrets/a.age hostkeys/h1)" "new alpha"
}

test_rule_removed_during_the_edit_keeps_the_edit_encrypted() {
    mkrepo
    cp secrets/a.age before
    editor ed 'printf "new alpha\n" >"$1"; sed -i "/secrets\/a.age/d" secrets.nix'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    first_error "m3age: error: secrets/a.age: not written: its rule was removed from $PWD/secrets.nix during the edit; the edit is kept encrypted as secrets/a.kept-"
    assert_contains err "m3age: hint: "
    assert_same_file before secrets/a.age
    k=$(kept_file)
    assert_eq "$(plain "$k")" "new alpha"
    assert_eq "$(plain "$k" hostkeys/h1)" "new alpha"
    no_plaintext_in_repo "new alpha"
    assert_no_temp secrets
    assert_shm_clean
}

test_registry_broken_during_the_edit_keeps_the_edit_encrypted() {
    mkrepo
    cp secrets/a.age before
    editor ed 'printf "new alpha\n" >"$1"; echo "{ oops" >>secrets.nix'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    first_error "m3age: error: secrets/a.age: not written: $PWD/secrets.nix changed during the edit and no longer loads; the edit is kept encrypted as secrets/a.kept-"
    assert_contains err "($PWD/secrets.nix:"
    assert_same_file before secrets/a.age
    assert_eq "$(plain "$(kept_file)")" "new alpha"
    assert_shm_clean
}

# the registry broken during the edit by a missing ';': the parser's guess at the fix is
# shown after the error, as for any command that reads the registry
test_registry_missing_semicolon_during_the_edit_gets_the_hint() {
    mkrepo
    editor ed 'printf "new alpha\n" >"$1"; sed -i "9s/;\$//" secrets.nix'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    first_error "m3age: error: secrets/a.age: not written: $PWD/secrets.nix changed during the edit and no longer loads"
    assert_contains err "($PWD/secrets.nix:10:19: unexpected '=', expected ';')"
    assert_eq "$(sed -n 2p err)" "m3age: hint: missing ';' at the end of line 9?"
    assert_eq "$(plain "$(kept_file)")" "new alpha"
    assert_shm_clean
}

test_secret_replaced_during_the_edit_is_not_overwritten() {
    mkrepo
    # Another program (a git pull, a second editor session) writes the file meanwhile.
    editor ed 'printf "new alpha\n" >"$1"
printf "theirs\n" | "'"$M3AGE"'" encrypt -r "$(cat home/.ssh/id_ed25519.pub)" -o secrets/a.age'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    first_error "m3age: error: secrets/a.age: not overwritten: another program changed it during the edit; the edit is kept encrypted as secrets/a.kept-"
    assert_eq "$(plain secrets/a.age)" "theirs"
    assert_eq "$(plain "$(kept_file)")" "new alpha"
    assert_shm_clean
}

test_secret_created_during_the_edit_of_a_new_file_is_not_overwritten() {
    mkrepo
    editor ed 'printf "mine\n" >"$1"
printf "theirs\n" | "'"$M3AGE"'" encrypt -r "$(cat home/.ssh/id_ed25519.pub)" -o secrets/new.age'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/new.age
    assert_status 1
    first_error "m3age: error: secrets/new.age: not overwritten: another program changed it during the edit; the edit is kept encrypted as secrets/new.kept-"
    assert_eq "$(plain secrets/new.age)" "theirs"
    assert_eq "$(plain secrets/new.kept-*.age)" "mine"
}

test_secret_edited_in_place_during_the_edit_is_detected() {
    mkrepo
    # Same inode, same size: only the modification time tells (a byte flipped in place).
    editor ed 'printf "new alpha\n" >"$1"; sleep 0.01
python3 -c "
import os
f = os.open(\"secrets/a.age\", os.O_RDWR)
os.pwrite(f, b\"X\", os.fstat(f).st_size - 1)
os.close(f)"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 1
    assert_contains err "not overwritten: another program changed it during the edit"
    assert_eq "$(tail -c 1 secrets/a.age)" "X"
}

test_two_edits_at_once_the_second_fails_clearly() {
    mkrepo
    pause_editor "first"
    "$M3AGE" edit --editor "$PWD/ed" secrets/a.age >out1 2>err1 &
    pid=$!
    wait_for started
    cp secrets/b.age b.before
    editor ed2 'printf "second\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed2" secrets/b.age
    assert_status 2
    first_error "m3age: error: $PWD/secrets.nix: another m3age run is changing this repository"
    assert_contains err "m3age: hint: wait for it to finish"
    assert_same_file b.before secrets/b.age
    # The same file, through agenix's interface.
    mkdir -p bin && ln -sf "$M3AGE" bin/agenix
    EDITOR="$PWD/ed2" run bin/agenix -e secrets/a.age
    assert_status 1
    assert_contains err "another m3age run is changing this repository"
    touch go
    wait $pid
    assert_eq "$?" 0 "status of the first edit"
    assert_eq "$(plain secrets/a.age)" "first"
    # Once the first is done, the second goes through.
    run "$M3AGE" edit --editor "$PWD/ed2" secrets/b.age
    assert_status 0
    assert_eq "$(plain secrets/b.age)" "second"
    assert_shm_clean
}

test_rekey_during_an_edit_fails_clearly_and_changes_nothing() {
    mkrepo
    sed -i 's|"secrets/c.age".publicKeys = \[ h2 \]|"secrets/c.age".publicKeys = [ h2 h3 ]|' secrets.nix
    cp secrets/c.age c.before
    pause_editor "edited"
    "$M3AGE" edit --editor "$PWD/ed" secrets/a.age >out1 2>err1 &
    pid=$!
    wait_for started
    run "$M3AGE" rekey -i hostkeys/h2
    assert_status 2
    assert_contains err "m3age: error: "
    assert_contains err "another m3age run is changing this repository"
    assert_same_file c.before secrets/c.age
    touch go
    wait $pid
    assert_eq "$?" 0 "status of the edit"
    run "$M3AGE" rekey -i hostkeys/h2
    assert_status 0
    assert_eq "$(plain secrets/c.age hostkeys/h3)" "charlie"
}

# protect_user_key: gives the user's key a passphrase, so that rekey stops at its prompt
# (which comes after it has taken the lock) and stays there.
protect_user_key() {
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    ssh-keygen -q -p -P '' -N 'pass phrase' -f home/.ssh/id_ed25519 >/dev/null ||
        _fail "ssh-keygen -p failed"
    unset M3AGE_PASSPHRASE
}

# start_rekey_at_prompt: a rekey waiting at the passphrase prompt, under ptyrun (pid $pid).
start_rekey_at_prompt() {
    "$TOOLS/ptyrun" -t 300 -- "$M3AGE" rekey >tty1 2>&1 &
    pid=$!
    for _ in $(seq 900); do
        grep -qi passphrase tty1 && break
        sleep 0.1
    done
    grep -qi passphrase tty1 || _fail "rekey never asked for the passphrase: $(cat tty1)"
}

# stop_rekey: ends the rekey started by start_rekey_at_prompt and waits for m3age itself, not
# only ptyrun: m3age, left behind on the closed terminal, holds the repository's lock until
# it has exited.
stop_rekey() {
    local child
    child=$(pgrep -P "$pid" | head -1)
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        [ -n "$child" ] && kill -0 "$child" 2>/dev/null || break
        sleep 0.1
    done
}

test_edit_during_a_rekey_fails_clearly() {
    mkrepo
    protect_user_key
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \]|"secrets/a.age".publicKeys = [ user h1 h3 ]|' secrets.nix
    cp secrets/a.age a.before
    start_rekey_at_prompt
    editor ed 'printf "x\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/c.age
    assert_status 2
    first_error "m3age: error: $PWD/secrets.nix: another m3age run is changing this repository"
    assert_contains err "m3age: hint: wait for it to finish"
    stop_rekey
    assert_same_file a.before secrets/a.age
    assert_no_temp secrets
}

test_two_rekeys_at_once_the_second_fails_clearly() {
    mkrepo
    protect_user_key
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \]|"secrets/a.age".publicKeys = [ user h1 h3 ]|' secrets.nix
    cp secrets/a.age a.before
    start_rekey_at_prompt
    run "$M3AGE" rekey -i hostkeys/h1
    assert_status 2
    assert_contains err "another m3age run is changing this repository"
    assert_same_file a.before secrets/a.age
    stop_rekey
    # With the first gone, the lock is free again.
    run "$M3AGE" rekey -i hostkeys/h1
    assert_status 0
    assert_eq "$(plain secrets/a.age hostkeys/h3)" "alpha"
}

test_sigkill_during_an_edit_loses_nothing_and_a_later_run_cleans_up() {
    mkrepo
    cp secrets/a.age before
    # The editor has typed half a secret and is still running when m3age is killed.
    editor ed 'printf "half typed\n" >"$1"; echo $$ >'"$PWD"'/editor.pid; touch '"$PWD"'/started
exec sleep 120'
    "$M3AGE" edit --editor "$PWD/ed" secrets/a.age >out 2>err &
    pid=$!
    wait_for started
    kill -KILL $pid
    wait $pid 2>/dev/null || true
    assert_same_file before secrets/a.age
    assert_no_temp secrets
    no_plaintext_in_repo "half typed"
    # The plaintext is only in the private folder of the dead run, on tmpfs, mode 0700.
    left=$(ls -d "$SHM"/m3age-edit.$pid.*)
    [ -n "$left" ] || _fail "no private folder named after the killed run in $SHM: $(ls -A "$SHM")"
    assert_eq "$(stat -c %a "$left")" 700
    # The editor does not outlive m3age (it would hold the plaintext open).
    epid=$(cat editor.pid)
    for _ in $(seq 50); do
        kill -0 "$epid" 2>/dev/null || break
        sleep 0.1
    done
    ! kill -0 "$epid" 2>/dev/null || { kill "$epid"; _fail "the editor outlived m3age"; }
    # The next edit removes the dead run's folder, and says so.
    printf 'alpha 2\n' >in
    run_in in "$M3AGE" edit secrets/a.age
    assert_status 0
    assert_contains err "m3age: removed 1 private edit folder left by a killed m3age run"
    assert_shm_clean
    assert_eq "$(plain secrets/a.age)" "alpha 2"
}

test_only_folders_of_dead_runs_are_removed() {
    mkrepo
    true &
    dead=$!
    wait $dead
    # Folders of a live process (this shell), of a dead one, and a name that is not ours.
    mkdir -m 700 "$SHM/m3age-edit.$$.abcdef" "$SHM/m3age-edit.$dead.abcdef" \
        "$SHM/m3age-edit.x.abcdef"
    echo keep >"$SHM/m3age-edit.$$.abcdef/f"
    echo gone >"$SHM/m3age-edit.$dead.abcdef/f"
    printf 'y\n' >in
    run_in in "$M3AGE" edit secrets/b.age
    assert_status 0
    assert_contains err "m3age: removed 1 private edit folder left by a killed m3age run"
    assert_eq "$(cat "$SHM/m3age-edit.$$.abcdef/f")" keep
    [ -d "$SHM/m3age-edit.x.abcdef" ] || _fail "a folder of no known process was removed"
    assert_absent "$SHM/m3age-edit.$dead.abcdef"
    rm -rf "$SHM"/m3age-edit.*
}

# ro_secrets: makes secrets/ read-only (a read-only mount for root, whom permissions do not
# stop; chmod otherwise).
ro_secrets() {
    if [ "$(id -u)" -eq 0 ]; then
        mkdir keep && cp -a secrets/. keep/
        mount -t tmpfs -o size=1m m3age-ro secrets 2>/dev/null || skip "mount -t tmpfs is not allowed here"
        trap "umount -l '$PWD/secrets' 2>/dev/null; rm -rf '$SHM'" EXIT
        cp -a keep/. secrets/
        mount -o remount,ro secrets || skip "cannot remount read-only"
    else
        chmod 555 secrets
        trap "chmod 755 '$PWD/secrets'; rm -rf '$SHM'" EXIT
    fi
}

test_read_only_secrets_folder_edit_fails_clearly() {
    mkrepo
    cp secrets/a.age before
    ro_secrets
    editor ed 'printf "new alpha\n" >"$1"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 2
    assert_one_error_line "m3age: error: secrets/a.age: cannot write in 'secrets': "
    assert_same_file before secrets/a.age
    assert_eq "$(ls secrets)" "$(printf 'a.age\nb.age\nc.age')"
    assert_shm_clean
}

test_read_only_secrets_folder_rekey_fails_clearly() {
    mkrepo
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \]|"secrets/a.age".publicKeys = [ user h1 h3 ]|' secrets.nix
    cp secrets/a.age before
    ro_secrets
    run "$M3AGE" rekey
    assert_status 1
    assert_contains err "secrets/a.age"
    assert_contains err "cannot create a temp file in "
    assert_same_file before secrets/a.age
    assert_eq "$(ls secrets)" "$(printf 'a.age\nb.age\nc.age')"
}

test_read_only_folder_is_one_line_for_all_its_files() {
    mkrepo
    cp secrets/a.age before
    ro_secrets
    run "$M3AGE" rekey --force secrets/a.age secrets/b.age
    assert_status 1
    assert_contains err "m3age: error: secrets/a.age and 1 other file: cannot write: cannot create a temp file in "
    assert_eq "$(grep -c 'cannot create a temp file' err)" 1
    assert_same_file before secrets/a.age
}

run_tests
