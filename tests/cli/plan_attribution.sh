#!/bin/bash
# Plans and reports never misstate what changes, and name a key the same way in every
# command: by the registry expression that binds it (m3tam3re, keys.alice, systems.web-1),
# a key no binding names by itself, in full.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "plan_attribution: skipped (no ssh-keygen)"; exit 0; }
command -v git >/dev/null || { echo "plan_attribution: skipped (no git)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_NOSYSTEM=1
"$M3AGE_FIXTURE" keygen -o "$AK/mallory.txt" 2>/dev/null
MALLORY=$(grep -o 'age1[0-9a-z]*' "$AK/mallory.txt" | head -1)

# user_repo: m3tam3re's X25519 key and the host m3-ares; wifi.age encrypted to both.
user_repo() {
    export HOME=$PWD
    git init -q .
    cat >secrets.nix <<NIX
let
  m3tam3re = "$BOB";
  m3-ares = "$(pub h1)";
in
{
  "secrets/wifi.age".publicKeys = [ m3tam3re m3-ares ];
}
NIX
    enc secrets/wifi.age bob h1
    git add -A && git commit -qm "wifi"
}

test_attacker_x25519_key_beside_the_users_is_never_shown_as_the_users() {
    user_repo
    git checkout -q -b attacker
    sed -i "s|\[ m3tam3re m3-ares \]|[ m3tam3re m3-ares \"$MALLORY\" ]|" secrets.nix
    git commit -qam "add a recipient"
    run "$M3AGE" diff
    assert_status 1
    assert_eq "$(cat out)" "secrets/wifi.age: +1 X25519 recipient not in the registry before (one of: m3tam3re, $MALLORY)
1 of 1 secret would change on rekey" "diff"
    run "$M3AGE" rekey --dry-run -i "$AK/bob.txt"
    assert_status 1 # a plan with changes
    assert_eq "$(cat out)" "secrets/wifi.age: rekey: +1 X25519 recipient not in the registry before (one of: m3tam3re, $MALLORY)" "rekey --dry-run"
    assert_not_contains out "+m3tam3re"
    run "$M3AGE" audit
    assert_contains out "M3A008  1 X25519 recipient in the file, 2 age1 keys in its registry entry"
}

test_a_comment_cannot_stand_in_for_an_unbound_key() {
    user_repo
    sed -i "s|\[ m3tam3re m3-ares \]|[ m3tam3re m3-ares\n    \"$MALLORY\" # m3tam3re's laptop\n  ]|" secrets.nix
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "(one of: m3tam3re, $MALLORY (m3tam3re's laptop))"
}

test_unbound_ssh_key_is_shown_whole() {
    user_repo
    sed -i "s|\[ m3tam3re m3-ares \]|[ m3tam3re m3-ares \"$(pub h2) m3-ares\" ]|" secrets.nix
    run "$M3AGE" diff
    assert_status 1
    assert_eq "$(head -1 out)" "secrets/wifi.age: +$(pub h2) (m3-ares)" "diff"
    run "$M3AGE" rekey --dry-run -i "$AK/bob.txt"
    assert_eq "$(cat out)" "secrets/wifi.age: rekey: +$(pub h2) (m3-ares)" "rekey --dry-run"
    run "$M3AGE" audit
    assert_contains out "M3A006  not encrypted to $(pub h2) (m3-ares), which its registry entry lists"
}

# keys_repo: keys bound every way real registries bind them.
keys_repo() {
    cat >keys.nix <<NIX
{
  alice = "$(pub alice)";
}
NIX
    cat >secrets.nix <<NIX
let
  keys = import ./keys.nix;
  systems = {
    web-1 = "$(pub h1)";
  };
in
{
  "secrets/a.age".publicKeys = [ keys.alice systems.web-1 "$(pub h2)" # backup host
  ];
}
NIX
    mkdir -p hosts/web-1
    printf '{ ... }:\n{\n  age.secrets.a.file = ../../secrets/a.age;\n}\n' >hosts/web-1/default.nix
}

test_keys_are_named_by_their_binding_in_every_command() {
    keys_repo
    enc secrets/a.age h1 h2 h3
    run "$M3AGE" keys inspect --rules secrets.nix secrets/a.age
    assert_status 0
    sed 's/  */ /g' out >norm
    assert_contains norm " systems.web-1"
    assert_contains norm " $(pub h2) (backup host)"
    assert_eq "$(grep -c 'unknown key' norm)" 1 "unknown keys"
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "M3A006  not encrypted to keys.alice, which its registry entry lists (keys.alice cannot open it)"
    assert_contains out "M3A007  still encrypted to unknown ssh-ed25519 key"
    assert_not_contains out "M3A010"
    run "$M3AGE" audit --json
    assert_contains out "not encrypted to keys.alice"
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "secrets/a.age: +keys.alice -unknown ssh-ed25519 key with tag"
    run "$M3AGE" rekey --dry-run -i "$AK/h1"
    assert_contains out "secrets/a.age: rekey: +keys.alice, -unknown ssh-ed25519 key with tag"
}

test_a_host_key_bound_in_a_set_is_the_hosts_key() {
    keys_repo
    enc secrets/a.age alice h2
    run "$M3AGE" audit
    assert_status 1
    assert_not_contains out "M3A010"
    assert_contains out "M3A009  host web-1 uses it but the file is not encrypted to its key"
}

run_tests
