#!/bin/bash
# Completion as a new user meets it: `hosts list`, bindings for `registry add`, git revisions
# for `diff FILE`, and secret names relative to the working directory.
. "$(dirname "$0")/../lib.sh"

BASHCOMP="$SRCDIR/completions/m3age.bash"

# comp DIR LINE: candidates bash would offer at the end of LINE, run in DIR, sorted in ./out.
comp() {
    run bash -c '
        cd "$3" || exit 9
        . "$1"
        _m3age_bin() { :; }
        read -r -a COMP_WORDS <<<"$2"
        [[ $2 == *" " ]] && COMP_WORDS+=("")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1)) COMP_LINE=$2 COMP_POINT=${#2}
        _m3age
        [ ${#COMPREPLY[@]} -eq 0 ] || printf "%s\n" "${COMPREPLY[@]}"' _ "$BASHCOMP" "$2" "$1"
    assert_status 0
    sort out -o out
}

make_repo() {
    mkdir -p secrets hosts/m3-atlas
    cat >secrets.nix <<'NIX'
let
  m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ1c3RlZCBrZXkgZm9yIHRlc3RzIG9ubHkK m3tam3re";
  users = [ m3tam3re ];
in
{
  "secrets/wifi.age".publicKeys = users;
  "secrets/db.age".publicKeys = [ m3tam3re ];
}
NIX
}

test_hosts_offers_list() {
    make_repo
    comp . 'm3age hosts '
    assert_contains out list
}

test_registry_add_offers_lists_too() {
    make_repo
    comp . 'm3age registry add secrets/new.age '
    assert_contains out users
    assert_contains out m3tam3re
}

test_names_are_relative_to_the_working_directory() {
    make_repo
    comp secrets 'm3age edit '
    assert_eq "$(tr '\n' ' ' <out)" "db.age wifi.age "
    comp . 'm3age edit '
    assert_eq "$(tr '\n' ' ' <out)" "secrets/db.age secrets/wifi.age "
}

test_diff_offers_revisions_after_the_file() {
    make_repo
    command -v git >/dev/null || skip "git not installed"
    git init -q -b main . && git add -A &&
        git -c user.name=t -c user.email=t@t commit -qm init && git tag v1
    comp . 'm3age diff secrets/wifi.age '
    assert_contains out HEAD
    assert_contains out main
    assert_contains out v1
}

run_tests
