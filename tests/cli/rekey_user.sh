#!/bin/bash
# edit/decrypt/rekey as a user sees them, the points the other files leave out: the progress
# line only on a terminal, the summary line, the default identities (~/.ssh/id_ed25519 and
# ~/.ssh/id_rsa), decrypt -o honouring the umask, names starting with '-', agenix's flags
# one by one (--verbose, --edit, --rekey with a passphrase asked once), every agenix error
# exiting 1.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

# rsa_user: the user's only key is ~/.ssh/id_rsa; a.age and b.age are rekeyed to it.
rsa_user() {
    mkrepo
    ssh-keygen -q -t rsa -b 3072 -N '' -C user -f home/.ssh/id_rsa
    sed -i "s|^  user = .*|  user = \"$(cut -d' ' -f1,2 home/.ssh/id_rsa.pub)\";|" secrets.nix
    "$M3AGE" rekey -i home/.ssh/id_ed25519 -i home/.ssh/id_rsa secrets/a.age secrets/b.age >/dev/null
    rm home/.ssh/id_ed25519 home/.ssh/id_ed25519.pub
}

test_summary_line_and_no_progress_off_a_terminal() {
    mkrepo
    run "$M3AGE" rekey --force secrets/a.age secrets/b.age
    assert_status 0
    assert_eq "$(tail -1 out)" "2 rekeyed, 0 already up to date, 0 failed"
    assert_not_contains err $'\r'
    assert_not_contains err $'\033'
    run "$M3AGE" rekey secrets/a.age secrets/b.age
    assert_status 0
    assert_eq "$(tail -1 out)" "0 rekeyed, 2 already up to date, 0 failed"
}

test_progress_line_on_a_terminal() {
    mkrepo
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    "$TOOLS/ptyrun" -o run.out -- "$M3AGE" rekey --force secrets/a.age secrets/b.age >tty 2>&1
    # the transcript (carriage returns removed by ptyrun) holds "PHASE 2/2" and the erase
    grep -qE '[a-z]+ [0-9]+/2' tty || _fail "no progress on the terminal: $(od -c tty | head)"
    grep -q $'\033\[K' tty || _fail "progress line not erased: $(od -c tty | head)"
    assert_eq "$(tail -1 run.out)" "2 rekeyed, 0 already up to date, 0 failed"
    assert_not_contains run.out "2/2"
    # --dry-run prints no progress even on a terminal
    "$TOOLS/ptyrun" -o plan.out -- "$M3AGE" rekey --force --dry-run secrets/a.age >tty2 2>&1 || true
    ! grep -qE '[a-z]+ [0-9]+/[0-9]+' tty2 || _fail "progress during --dry-run: $(cat tty2)"
}

test_id_rsa_is_a_default_identity() {
    rsa_user
    run "$M3AGE" decrypt secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" alpha
    run "$M3AGE" rekey --force secrets/a.age
    assert_status 0
    assert_contains out "1 rekeyed"
    agenix_link
    run "$AGENIX" -d secrets/b.age
    assert_status 0
    assert_eq "$(cat out)" bravo
    # both present: each file is opened by whichever of the two it is encrypted to
    ssh-keygen -q -t ed25519 -N '' -C other -f home/.ssh/id_ed25519
    run "$M3AGE" decrypt secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" alpha
    rm home/.ssh/id_rsa
    run "$M3AGE" decrypt secrets/a.age
    assert_status 1
}

test_decrypt_output_honours_the_umask_and_is_atomic() {
    mkrepo
    (umask 077 && "$M3AGE" decrypt -o p077 secrets/a.age)
    assert_eq "$(stat -c %a p077)" 600
    (umask 022 && "$M3AGE" decrypt -o p022 secrets/a.age)
    assert_eq "$(stat -c %a p022)" 644
    assert_eq "$(cat p022)" alpha
    # a failed decryption leaves the previous output as it was, and no temporary file
    run "$M3AGE" decrypt -o p022 secrets/c.age
    assert_status 1
    assert_eq "$(cat p022)" alpha
    assert_no_temp .
    [ -z "$(ls -A | grep -i 'tmp')" ] || _fail "temporary file left: $(ls -A)"
}

test_decrypt_is_binary_safe() {
    mkrepo
    head -c 5000 /dev/urandom >bin.in
    printf '\0\0\n' >>bin.in
    "$M3AGE" encrypt -R home/.ssh/id_ed25519.pub -o secrets/a.age bin.in
    "$M3AGE" decrypt secrets/a.age >bin.out
    assert_same_file bin.in bin.out
}

test_names_starting_with_a_dash() {
    mkrepo
    sed -i 's|^}$|  "-dash.age".publicKeys = [ user ];\n}|' secrets.nix
    printf 'dashed\n' | "$M3AGE" edit -- -dash.age
    assert_exists ./-dash.age
    run "$M3AGE" decrypt -- -dash.age
    assert_status 0
    assert_eq "$(cat out)" dashed
    cp ./-dash.age before
    run "$M3AGE" rekey --force -- -dash.age
    assert_status 0
    assert_contains out "1 rekeyed"
    cmp -s before ./-dash.age && _fail "not rewritten"
    assert_eq "$("$M3AGE" decrypt -- -dash.age)" dashed
}

test_agenix_long_flags_one_by_one() {
    mkrepo
    agenix_link
    printf 'long\n' >in
    run_in in "$AGENIX" --edit secrets/a.age
    assert_status 0
    assert_eq "$(plain secrets/a.age hostkeys/h1)" long
    run "$AGENIX" --verbose --decrypt secrets/a.age --identity hostkeys/h1
    assert_status 0
    assert_eq "$(cat out)" long
    run "$AGENIX" --decrypt secrets/a.age -v
    assert_status 0
    assert_eq "$(cat out)" long
    sed -i 's|"secrets/c.age".publicKeys = \[ h2 \];|"secrets/c.age".publicKeys = [ h2 h1 ];|' secrets.nix
    run "$AGENIX" --rekey --identity hostkeys/h2 --identity home/.ssh/id_ed25519
    assert_status 0
    assert_contains out "rekeying secrets/c.age..."
    assert_eq "$(plain secrets/c.age hostkeys/h1)" charlie
}

test_agenix_errors_exit_1() {
    mkrepo
    agenix_link
    # a file with a rule that does not exist, one nobody here can open, a broken file,
    # a missing identity file, a registry that does not parse
    for args in "-d secrets/new.age" "-d secrets/c.age" "-d secrets/a.age -i nosuch.key"; do
        # shellcheck disable=SC2086
        run "$AGENIX" $args
        assert_status 1
        [ -s err ] || _fail "agenix $args: no message"
    done
    printf 'age-encryption.org/v1\n-> X25519 !!\n' >secrets/a.age
    run "$AGENIX" -d secrets/a.age
    assert_status 1
    echo '{ broken' >secrets.nix
    run "$AGENIX" -d secrets/b.age
    assert_status 1
}

test_agenix_rekey_asks_a_passphrase_once() {
    mkrepo
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    agenix_link
    ssh-keygen -q -p -P '' -N 'pw-123' -f home/.ssh/id_ed25519
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \];|"secrets/a.age".publicKeys = [ user h1 h3 ];|' secrets.nix
    sed -i 's|publicKeys = \[ user h2 agekey \];|publicKeys = [ user h2 h3 agekey ];|' secrets.nix
    run "$TOOLS/ptyrun" -S -e "passphrase" -s "pw-123" -- "$AGENIX" -r -i home/.ssh/id_ed25519 -i hostkeys/h2
    assert_status 0
    assert_eq "$(grep -c 'passphrase' out)" 1
    assert_eq "$("$M3AGE" decrypt -i hostkeys/h3 secrets/a.age)" alpha
    assert_eq "$("$M3AGE" decrypt -i hostkeys/h3 secrets/b.age)" bravo
}

test_registry_path_named_when_it_differs() {
    mkrepo
    mkdir sub
    cd sub
    run "$M3AGE" decrypt ../secrets/a.age
    assert_status 0
    assert_eq "$(cat out)" alpha
    RULES=../secrets.nix run "$M3AGE" rekey --force -n secrets/a.age
    assert_contains out "secrets/a.age"
}

run_tests
