#!/bin/bash
# A cloned repository is untrusted (issue 19): whoever can push to it writes secrets.nix and
# commits links; and secrets left by a killed run are wiped without trusting names. Each test is an attack as a user meets it: a real git repository cloned
# next to the user's own (the victim), the user's own key, m3age run in the clone. It must
# refuse with one line naming the entry, leave the victim's files as they were, and add
# nothing to the clone.
. "$(dirname "$0")/../lib.sh"

KEY_OF_ATTACKER="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF66AiyVyBre01owvNix6Kpc/U4t2ZQpt/AFISJsJZtD"

# setup: ./home (the user: HOME, ~/.ssh/id_ed25519), ./victim (the user's repository, one
# secret encrypted to the user, and a temp file of an interrupted run of its own), ./upstream
# (the attacker's, committed by attack_commit) and ./clone (git clone of upstream).
setup() {
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    command -v git >/dev/null || skip "git not installed"
    [ -d /dev/shm ] || skip "no /dev/shm"
    mkdir -p home/.ssh victim/secrets upstream/secrets
    ssh-keygen -q -t ed25519 -N '' -C m3tam3re -f home/.ssh/id_ed25519
    export HOME=$PWD/home
    ME=$(cut -d' ' -f1,2 home/.ssh/id_ed25519.pub)
    SHM=$(mktemp -d /dev/shm/m3t.XXXXXX)
    export XDG_RUNTIME_DIR=$SHM
    trap 'rm -rf "$SHM"' EXIT
    cat >victim/secrets.nix <<NIX
let m3tam3re = "$ME"; in { "secrets/db.age".publicKeys = [ m3tam3re ]; }
NIX
    printf 'the victim database password\n' | "$M3AGE_FIXTURE" encrypt -r "$ME" -o victim/secrets/db.age
    echo keep >victim/secrets/.db.age.m3tmp.0123456789ab
    git -C victim init -q && git -C victim add -A
    find victim -printf '%P %y %s %T@\n' | sort >victim.before
    cksum victim/secrets/db.age >victim.sum
}

# attack_commit: commits upstream's content and clones it to ./clone.
attack_commit() {
    git -C upstream init -q
    git -C upstream add -A
    git -C upstream -c user.name=mallory -c user.email=m@example.org commit -qm 'wifi' >/dev/null
    git clone -q upstream clone
    find clone -path clone/.git -prune -o -printf '%P %y %s\n' | sort >clone.before
}

# registry NAME: upstream/secrets.nix with one entry NAME for the user and the attacker.
registry() {
    cat >upstream/secrets.nix <<NIX
let
  m3tam3re = "$ME";
  mallory = "$KEY_OF_ATTACKER";
in
{
  "$1".publicKeys = [ m3tam3re mallory ];
}
NIX
}

# victim_untouched: every file of the victim as it was (its leftover temp file too), and the
# clone holding exactly what was cloned (no new file, no temp file, no replaced link; out and
# err are the test's).
victim_untouched() {
    find victim -printf '%P %y %s %T@\n' | sort >victim.after
    cmp -s victim.before victim.after || _fail "the victim changed: $(diff victim.before victim.after)"
    cksum victim/secrets/db.age | cmp -s - victim.sum || _fail "the victim's secret changed"
    [ "${1:-}" != victim-only ] || return 0
    rm -f clone/out clone/err
    find clone -path clone/.git -prune -o -printf '%P %y %s\n' | sort >clone.after
    cmp -s clone.before clone.after || _fail "the clone changed: $(diff clone.before clone.after)"
    [ -z "$(git -C clone status --porcelain)" ] || _fail "git status: $(git -C clone status --porcelain)"
}

test_rekey_refuses_a_name_that_climbs_into_another_repository() {
    setup
    registry "../victim/secrets/db.age"
    attack_commit
    cd clone
    run "$M3AGE" rekey
    assert_status 2
    assert_one_error_line "m3age: error: secrets.nix:6:3: secret name '../victim/secrets/db.age' leads outside the repository '$PWD'"
    cd ..
    victim_untouched
}

test_rekey_refuses_an_absolute_name() {
    setup
    registry "$PWD/victim/secrets/db.age"
    attack_commit
    cd clone
    run "$M3AGE" rekey
    assert_status 2
    assert_one_error_line "secret name '${PWD%/clone}/victim/secrets/db.age' is an absolute path"
    cd ..
    victim_untouched
}

test_every_command_refuses_the_name() {
    setup
    registry "../victim/secrets/db.age"
    mkdir -p upstream/hosts/m3-atlas
    echo '{ }' >upstream/hosts/m3-atlas/default.nix
    attack_commit
    cd clone
    local c
    for c in "edit ../victim/secrets/db.age" "rekey ../victim/secrets/db.age" "diff" \
        "registry eval" "registry add secrets/y.age m3tam3re" "keys inspect ../victim/secrets/db.age --rules secrets.nix" "hosts"; do
        # shellcheck disable=SC2086 # the words of the command
        EDITOR=: run "$M3AGE" $c
        [ "$status" -eq 2 ] || _fail "m3age $c: exit status $status; stderr: $(cat err)"
        assert_contains err "secret name '../victim/secrets/db.age' leads outside the repository"
    done
    # the pre-deploy gate reports it as audit does (M3A025), and fails
    run "$M3AGE" check --host m3-atlas
    assert_status 1
    assert_contains out "M3A025"
    # agenix mode: every error exits 1
    ln -s "$M3AGE" ../agenix
    EDITOR=: run ../agenix -r
    assert_status 1
    assert_contains err "secret name '../victim/secrets/db.age' leads outside the repository"
    cd ..
    victim_untouched
}

test_rekey_and_edit_refuse_a_committed_link_to_another_repository() {
    setup
    registry "secrets/x.age"
    ln -s ../../victim/secrets/db.age upstream/secrets/x.age
    attack_commit
    cd clone
    run "$M3AGE" rekey
    assert_status 1
    assert_one_error_line "m3age: error: secrets/x.age: a symbolic link (refused: a secret is read and written only inside the repository, never through a link)"
    EDITOR=: run "$M3AGE" edit secrets/x.age
    assert_status 2
    assert_one_error_line "secrets/x.age: a symbolic link (refused"
    # diff does not read the other repository's header either
    run "$M3AGE" diff
    assert_status 2
    assert_contains out "secrets/x.age: cannot read its header: a symbolic link (refused"
    ln -s "$M3AGE" ../agenix
    EDITOR=: run ../agenix -e secrets/x.age
    assert_status 1
    assert_contains err "a symbolic link"
    [ -L secrets/x.age ] || _fail "the link was replaced"
    cd ..
    victim_untouched
}

test_rekey_refuses_a_committed_link_to_another_folder() {
    # The secrets folder itself is the link: the file's name alone looks harmless.
    setup
    registry "secrets/db.age"
    rmdir upstream/secrets
    ln -s ../victim/secrets upstream/secrets
    attack_commit
    cd clone
    run "$M3AGE" rekey
    assert_status 1
    assert_one_error_line "m3age: error: secrets/db.age: a symbolic link (refused"
    echo 'new text' >../new.txt
    run_in ../new.txt "$M3AGE" edit secrets/db.age
    assert_status 2
    assert_one_error_line "secrets/db.age: a symbolic link (refused"
    cd ..
    victim_untouched
}

test_clean_up_removes_only_the_temp_files_m3age_makes() {
    # A file whose name merely contains ".m3tmp." is the user's, not a leftover of m3age.
    setup
    registry "secrets/wifi.age"
    printf 'psk\n' | "$M3AGE_FIXTURE" encrypt -r "$ME" -o upstream/secrets/wifi.age
    attack_commit
    cd clone
    echo mine >secrets/.notes.m3tmp.keep
    echo left >secrets/.wifi.age.m3tmp.00112233aabb
    run "$M3AGE" rekey
    assert_status 0
    assert_exists secrets/.notes.m3tmp.keep
    assert_absent secrets/.wifi.age.m3tmp.00112233aabb
    cd ..
    victim_untouched victim-only
}

test_an_unpacked_tarball_under_a_dotfiles_home_is_its_own_root() {
    # $HOME is a git work tree (dotfiles) with a flake; a tarball unpacked under it, never
    # added, must not read the user's private key through builtins.readFile, nor show it.
    setup
    git -C home init -q
    echo '{ }' >home/flake.nix
    git -C home add flake.nix
    mkdir -p home/dl/fleet/secrets
    cat >home/dl/fleet/secrets.nix <<'NIX'
{ "secrets/x.age".publicKeys = [ (builtins.readFile ../../.ssh/id_ed25519) ]; }
NIX
    cd home/dl/fleet
    local c
    for c in "audit" "registry eval" "rekey" "diff"; do
        # shellcheck disable=SC2086 # the words of the command
        run "$M3AGE" $c
        [ "$status" -eq 2 ] || _fail "m3age $c: exit status $status; stderr: $(cat err)"
        assert_contains err "is outside the repository '$PWD'"
        assert_not_contains out "PRIVATE KEY"
        assert_not_contains err "PRIVATE KEY"
    done
}

test_audit_reports_names_outside_and_links_with_their_position() {
    setup
    cat >upstream/secrets.nix <<NIX
let m3tam3re = "$ME"; in
{
  "secrets/x.age".publicKeys = [ m3tam3re ];
  "../victim/secrets/db.age".publicKeys = [ m3tam3re ];
}
NIX
    ln -s ../../victim/secrets/db.age upstream/secrets/x.age
    attack_commit
    cd clone
    run "$M3AGE" audit -i "$HOME/.ssh/id_ed25519"
    assert_status 1
    assert_contains out "M3A025  line 4: '../victim/secrets/db.age' leads outside the repository"
    assert_contains out "M3A026  a symbolic link"
    assert_eq "$(grep -c M3A0 out)" 2
    assert_not_contains out "victim database"
    cd ..
    victim_untouched
}

test_stale_edit_folders_are_wiped_through_descriptors_nested_folders_too() {
    # A killed edit left its private folder; the editor had made a folder of its own inside
    # it. A stale-looking name that is a link into the user's files is not followed.
    setup
    registry "secrets/wifi.age"
    printf 'psk\n' | "$M3AGE_FIXTURE" encrypt -r "$ME" -o upstream/secrets/wifi.age
    attack_commit
    local dead
    dead=$(sh -c 'echo $$')
    mkdir -p "$SHM/m3age-edit.$dead.aaaaaa/.editor/undo" keep
    echo 'plain' >"$SHM/m3age-edit.$dead.aaaaaa/wifi.age"
    echo 'plain undo' >"$SHM/m3age-edit.$dead.aaaaaa/.editor/undo/wifi.age.un~"
    echo 'mine' >keep/notes
    ln -s "$PWD/keep" "$SHM/m3age-edit.$dead.bbbbbb"
    cd clone
    echo 'new psk' >../psk.txt
    run_in ../psk.txt "$M3AGE" edit secrets/wifi.age
    assert_status 0
    assert_contains err "removed 1 private edit folder left by a killed m3age run"
    cd ..
    assert_absent "$SHM/m3age-edit.$dead.aaaaaa"
    assert_eq "$(cat keep/notes)" mine
}

test_agenix_layouts_keep_working_in_a_clone() {
    # What agenix users write stays valid: a registry in secrets/ naming "wifi.age", and a
    # registry in a subfolder naming "../secrets/x.age" inside the same tracked work tree.
    setup
    mkdir -p upstream/nix
    cat >upstream/secrets/secrets.nix <<NIX
let m3tam3re = "$ME"; in { "wifi.age".publicKeys = [ m3tam3re ]; }
NIX
    cat >upstream/nix/secrets.nix <<NIX
let m3tam3re = "$ME"; in { "../secrets/x.age".publicKeys = [ m3tam3re ]; }
NIX
    printf 'psk\n' | "$M3AGE_FIXTURE" encrypt -r "$ME" -o upstream/secrets/wifi.age
    printf 'x\n' | "$M3AGE_FIXTURE" encrypt -r "$ME" -o upstream/secrets/x.age
    attack_commit
    cd clone/secrets
    run "$M3AGE" rekey --force
    assert_status 0
    assert_contains out "1 rekeyed"
    ln -s "$M3AGE" ../../agenix
    EDITOR=: run ../../agenix -r
    assert_status 0
    cd ..
    run "$M3AGE" rekey --force --rules secrets/secrets.nix
    assert_status 0
    run "$M3AGE" rekey --force --rules nix/secrets.nix
    assert_status 0
    assert_contains out "1 rekeyed"
    echo 'new x' >../new.txt
    cd nix
    run_in ../../new.txt "$M3AGE" edit ../secrets/x.age
    assert_status 0
    assert_eq "$("$M3AGE_FIXTURE" decrypt -i "$HOME/.ssh/id_ed25519" ../secrets/x.age)" "new x"
    cd ../..
    victim_untouched victim-only
}

run_tests
