#!/bin/bash
# layouts.sh: repository layouts and states where there is no registry to read, each said
# in one line naming what was found and what to do, the same for every command that reads
# the registry, with nothing printed on stdout and nothing changed. The fixtures are real
# git repositories (a real submodule, cloned without it).
. "$(dirname "$0")/../lib.sh"
command -v git >/dev/null || { echo "layouts: skipped (no git)"; exit 0; }
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_NOSYSTEM=1 HOME=$T_ROOT

KEY=age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq
REGISTRY="{ \"secrets/wifi.age\".publicKeys = [ \"$KEY\" ]; }"

# commit_all: the working tree as the repository's only commit.
commit_all() { git add -A && git commit -qm fixture; }

# snapshot: every file of the tree but the test's own out and err, with its checksum.
snapshot() {
    find . -path ./.git -prune -o -path ./out -prune -o -path ./err -prune -o -print | sort |
        while read -r f; do
            if [ -f "$f" ] && [ ! -L "$f" ]; then md5sum "$f"; else ls -ld "$f" | cut -c1; echo "$f"; fi
        done
}

# every_command EXPECTED: each command that reads the registry fails with status 2 and
# exactly one line, the error EXPECTED (a fixed string), and leaves the tree as it was.
every_command() {
    local cmd before
    before=$(snapshot)
    for cmd in audit diff "rekey --dry-run" "registry eval" "registry eval --json" \
        "registry add secrets/x.age $KEY" "edit secrets/wifi.age"; do
        # shellcheck disable=SC2086
        EDITOR=: run "$M3AGE" $cmd
        assert_status 2
        assert_empty out
        [ "$(wc -l <err)" -eq 1 ] || _fail "$cmd: not one line: $(cat err)"
        assert_contains err "m3age: error: "
        assert_contains err "$1"
        # the line names the registry once, not prefixed with a name it already has
        assert_not_contains err "error: secrets.nix: no secrets.nix"
        assert_not_contains err "error: secrets.nix: '"
    done
    [ "$before" = "$(snapshot)" ] || _fail "the tree changed"
}

test_git_crypt_locked_registry() {
    git init -q .
    # what a clone shows of a file git-crypt encrypted, before 'git-crypt unlock'
    { printf '\0GITCRYPT\0'; head -c 64 /dev/urandom; } >secrets.nix
    commit_all
    every_command "secrets.nix: encrypted by git-crypt (the repository is locked); run 'git-crypt unlock' and try again"
    run "$M3AGE" keys inspect secrets.nix --rules secrets.nix
    assert_status 2
    assert_contains err "encrypted by git-crypt"
}

# A file that secrets.nix imports or reads, still encrypted by git-crypt (the registry itself
# is not): the same words, naming that file, at the import or readFile that reached it.
test_git_crypt_locked_import_and_readfile() {
    local locked="encrypted by git-crypt (the repository is locked); run 'git-crypt unlock' and try again"
    git init -q .
    mkdir keys
    { printf '\0GITCRYPT\0'; head -c 64 /dev/urandom; } >hosts.nix
    { printf '\0GITCRYPT\0'; head -c 64 /dev/urandom; } >keys/m3-ares.pub
    printf 'let\n  hosts = import ./hosts.nix;\nin\n{ "secrets/wifi.age".publicKeys = [ hosts.m3-ares ]; }\n' \
        >secrets.nix
    commit_all
    every_command "m3age: error: secrets.nix:2:11: hosts.nix: $locked"
    printf '{ "secrets/wifi.age".publicKeys = [ (builtins.readFile ./keys/m3-ares.pub) ]; }\n' \
        >secrets.nix
    commit_all
    every_command "m3age: error: secrets.nix:1:38: keys/m3-ares.pub: $locked"
    # from a subfolder, still named from the repository's root
    mkdir -p hosts/m3-ares
    cd hosts/m3-ares
    run "$M3AGE" registry eval
    assert_status 2
    assert_contains err "secrets.nix:1:38: keys/m3-ares.pub: $locked"
}

test_dangling_registry_symlink() {
    git init -q .
    ln -s ../private/secrets.nix secrets.nix
    commit_all
    every_command "is a symbolic link to '../private/secrets.nix', which does not exist; restore its target, or name the registry with --rules FILE"
    run "$M3AGE" audit --rules secrets.nix
    assert_status 2
    assert_contains err "m3age: error: secrets.nix is a symbolic link to '../private/secrets.nix', which does not exist"
}

# The registry and its secrets in a submodule (a private repository), and a clone that did
# not fetch it: the folder is there, empty.
submodule_clone() {
    mkdir private main
    (cd private && git init -q . && mkdir secrets && echo "$REGISTRY" >secrets.nix && commit_all)
    (cd main && git init -q . && echo '{ }' >flake.nix &&
        git -c protocol.file.allow=always submodule add -q ../private secrets >/dev/null 2>&1 &&
        commit_all)
    git clone -q main clone
    cd clone
    [ -d secrets ] && [ -z "$(ls -A secrets)" ] || _fail "the submodule folder is not empty"
}

test_submodule_not_checked_out() {
    submodule_clone
    every_command "or its parents, and the git submodule 'secrets' is not checked out; run 'git submodule update --init secrets'"
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 2
    assert_one_error_line "m3age: error: secrets/secrets.nix is in the git submodule 'secrets', which is not checked out; run 'git submodule update --init secrets'"
    # once checked out, it is the registry
    git -c protocol.file.allow=always submodule update -q --init secrets
    run "$M3AGE" registry eval --rules secrets/secrets.nix --json
    assert_status 0
}

# The registry in the repository, the secrets in a submodule a clone did not fetch: no
# "missing file" finding, no plan to create one inside the empty submodule folder.
test_secrets_in_submodule_not_checked_out() {
    mkdir private main
    (cd private && git init -q . && echo 'not really age' >wifi.age && commit_all)
    (cd main && git init -q . && echo "$REGISTRY" >secrets.nix &&
        git -c protocol.file.allow=always submodule add -q ../private secrets >/dev/null 2>&1 &&
        commit_all)
    git clone -q main clone
    cd clone
    printf '#!/bin/sh\necho new >"$1"\n' >../ed && chmod +x ../ed
    for cmd in audit diff "rekey --dry-run" "edit --editor ../ed secrets/wifi.age" \
        "check --host m3-ares"; do
        # shellcheck disable=SC2086
        run "$M3AGE" $cmd
        assert_status 2
        assert_empty out
        assert_one_error_line "m3age: error: 'secrets/wifi.age' is in the git submodule 'secrets', which is not checked out; run 'git submodule update --init secrets'"
    done
    [ -z "$(ls -A secrets)" ] || _fail "a file was created in the submodule folder: $(ls -A secrets)"
}

test_agenix_rekey_layout() {
    git init -q .
    mkdir -p hosts/m3-ares secrets/rekeyed
    cat >flake.nix <<'NIX'
{
  inputs.agenix.url = "github:ryantm/agenix";
  inputs.agenix-rekey.url = "github:oddlama/agenix-rekey";
  outputs = { self, agenix, agenix-rekey, ... }: {
    agenix-rekey = agenix-rekey.configure { userFlake = self; nodes = self.nixosConfigurations; };
  };
}
NIX
    cat >hosts/m3-ares/default.nix <<'NIX'
{
  age.rekey.hostPubkey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE";
  age.rekey.masterIdentities = [ ./yubikey.pub ];
  age.secrets.wifi.rekeyFile = ../../secrets/wifi.age;
}
NIX
    echo 'age-encryption.org/v1' >secrets/wifi.age
    commit_all
    every_command ": this repository uses agenix-rekey (its flake.nix), whose secrets are declared in NixOS modules; manage them with agenix-rekey, or write a secrets.nix for m3age"
}

# An ordinary "not found" keeps its message and hint.
test_plain_missing_registry() {
    git init -q .
    echo '{ }' >flake.nix
    run "$M3AGE" audit
    assert_status 2
    assert_contains err "no secrets.nix in '$PWD' or its parents up to the repository root '$PWD'"
    assert_contains err "m3age: hint: "
}

run_tests
