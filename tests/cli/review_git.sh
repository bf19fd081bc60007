#!/bin/bash
# tests/cli/review_git.sh: m3age runs git in a repository it did not create (`m3age
# affected`): a repository whose config names commands (a smudge filter that the commit's
# .gitattributes selects, core.fsmonitor, core.hooksPath) must not get them run, and the
# commit's files are read as stored. Real git, keys from ssh-keygen, secrets by Go age.
. "$(dirname "$0")/../lib.sh"

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

need_tools() {
    command -v git >/dev/null || skip "git not installed"
    command -v age >/dev/null || skip "age not installed"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
}

# repo FORMAT: ./repo (git, object format FORMAT) with hosts m3-atlas and m3-hermes, db.age
# for atlas, mail.age for hermes; two commits, the second re-encrypting db.age.
repo() {
    local h
    mkdir -p repo/secrets keys
    for h in m3-atlas m3-hermes m3tam3re; do
        ssh-keygen -q -t ed25519 -N '' -C "$h" -f "keys/$h"
    done
    cat >repo/secrets.nix <<NIX
let
  user = "$(cut -d' ' -f1,2 keys/m3tam3re.pub)";
  atlas = "$(cut -d' ' -f1,2 keys/m3-atlas.pub)";
  hermes = "$(cut -d' ' -f1,2 keys/m3-hermes.pub)";
in
{
  "secrets/db.age".publicKeys = [ user atlas ];
  "secrets/mail.age".publicKeys = [ user hermes ];
}
NIX
    mkdir -p repo/hosts/m3-atlas repo/hosts/m3-hermes
    printf '{ ... }:\n{\n  age.secrets.db.file = ../../secrets/db.age;\n}\n' >repo/hosts/m3-atlas/default.nix
    printf '{ ... }:\n{\n  age.secrets.mail.file = ../../secrets/mail.age;\n}\n' >repo/hosts/m3-hermes/default.nix
    echo pg | age -R keys/m3tam3re.pub -R keys/m3-atlas.pub -o repo/secrets/db.age
    echo smtp | age -R keys/m3tam3re.pub -R keys/m3-hermes.pub -o repo/secrets/mail.age
    git init -q -b main --object-format="$1" repo
    (cd repo && git add -A && git commit -qm init)
    echo pg2 | age -R keys/m3tam3re.pub -R keys/m3-atlas.pub -o repo/secrets/db.age
    (cd repo && git add -A && git commit -qm 'new db password')
}

# hostile_config: the repository's config names a command for each way git can run one
# during a checkout; each would leave a file in ./ran.
hostile_config() {
    mkdir -p ran hooks
    printf '#!/bin/sh\ntouch "%s/ran/hook"\n' "$PWD" >hooks/post-checkout
    chmod +x hooks/post-checkout
    printf '*.age filter=evil\n' >repo/.gitattributes
    (cd repo && git add -A && git commit -qm attrs)
    new_mail
    git -C repo config filter.evil.smudge "touch '$PWD/ran/smudge'; cat"
    git -C repo config filter.evil.process "touch '$PWD/ran/process'; false"
    git -C repo config core.fsmonitor "touch '$PWD/ran/fsmonitor'; false"
    git -C repo config core.hooksPath "$PWD/hooks"
}

# new_mail: a commit re-encrypting mail.age (HEAD~1 then holds the .gitattributes).
new_mail() {
    echo smtp2 | age -R keys/m3tam3re.pub -R keys/m3-hermes.pub -o repo/secrets/mail.age
    (cd repo && git add -A && git commit -qm 'new mail password')
}

test_affected_runs_no_command_of_the_repository_config() {
    need_tools
    repo sha1
    hostile_config
    run bash -c 'cd repo && "$@"' _ "$M3AGE" affected HEAD~1
    assert_status 0
    assert_eq "$(ls ran)" "" "commands the repository's config named and m3age ran"
    assert_eq "$(grep -v '^ ' out)" "m3-hermes
1 of 2 hosts affected (compared with $(git -C repo rev-parse --short=12 HEAD~1), HEAD~1)" "hosts"
}

test_filter_in_the_users_global_config_is_not_run_either() {
    need_tools
    repo sha1
    mkdir ran
    printf '*.age filter=evil\n' >repo/.gitattributes
    (cd repo && git add -A && git commit -qm attrs)
    new_mail
    printf '[filter "evil"]\n\tsmudge = touch %s/ran/global; cat\n' "$PWD" >gitconfig
    run env GIT_CONFIG_GLOBAL="$PWD/gitconfig" bash -c 'cd repo && "$@"' _ "$M3AGE" affected HEAD~1
    assert_status 0
    assert_eq "$(ls ran)" "" "filters run"
    assert_contains out '1 of 2 hosts affected'
}

test_sha256_repository_still_compares() {
    need_tools
    repo sha256
    run bash -c 'cd repo && "$@"' _ "$M3AGE" affected HEAD~1 --format matrix
    assert_status 0
    assert_eq "$(cat out)" '{"host":["m3-atlas"]}' "matrix"
    assert_empty err
}

test_leaves_no_temporary_folder() {
    need_tools
    repo sha1
    hostile_config
    mkdir tmp
    run env TMPDIR="$PWD/tmp" bash -c 'cd repo && "$@"' _ "$M3AGE" affected HEAD~1
    assert_status 0
    assert_eq "$(ls -A tmp)" "" "left in TMPDIR"
    assert_eq "$(git -C repo status --porcelain)" "" "repository changed"
}

# git-setup writes the pre-commit hook into the hooks folder git names (core.hooksPath, which
# may be a folder others can write to): a link planted at its temp name is not followed.
test_git_setup_hook_is_not_written_through_a_planted_link() {
    command -v git >/dev/null || skip "git not installed"
    git init -q -b main repo
    mkdir shared
    git -C repo config core.hooksPath "$PWD/shared"
    echo 'the victim file' >victim
    ln -s "$PWD/victim" shared/pre-commit.m3tmp
    run bash -c 'cd repo && "$@"' _ "$M3AGE" git-setup
    assert_status 0
    assert_eq "$(cat victim)" "the victim file" "the file the link points to"
    assert_contains shared/pre-commit "git-setup --pre-commit"
    [ ! -L shared/pre-commit ] || _fail "the hook is a link"
    assert_absent shared/pre-commit.m3tmp
}

# A cloned repository whose .gitattributes is a link to a file of the user's (a private key):
# git-setup must not read it and write its bytes back into the repository as a regular file
# (the user would commit and push it).
test_git_setup_refuses_a_gitattributes_link() {
    command -v git >/dev/null || skip "git not installed"
    mkdir home upstream
    echo 'PRIVATE KEY OF THE USER' >home/id_ed25519
    git init -q -b main upstream
    ln -s "$PWD/home/id_ed25519" upstream/.gitattributes
    (cd upstream && git add -A && git commit -qm 'attributes')
    git clone -q upstream clone
    run bash -c 'cd clone && "$@"' _ "$M3AGE" git-setup
    assert_status 2
    assert_one_error_line ".gitattributes: a symbolic link (refused"
    [ -L clone/.gitattributes ] || _fail ".gitattributes was replaced"
    ! grep -rq 'PRIVATE KEY OF THE USER' clone --exclude-dir=.git ||
        _fail "the user's file was copied into the repository"
    assert_eq "$(git -C clone status --porcelain)" "" "repository changed"
    assert_eq "$(git -C clone config --get diff.m3age.textconv || true)" "" "textconv set"
    assert_absent clone/.git/hooks/pre-commit
}

# `m3age git` runs git with a decryption agent; git and what it starts (an alias, a hook, a
# pager, the repository's commands) never get M3AGE_PASSPHRASE: the agent is m3age itself.
test_git_agent_children_never_get_the_passphrase() {
    command -v git >/dev/null || skip "git not installed"
    git init -q -b main repo
    run env M3AGE_PASSPHRASE=hunter2-do-not-leak bash -c 'cd repo && "$@"' _ "$M3AGE" git \
        -c alias.spy='!env >../seen' spy
    assert_status 0
    grep -q '^M3AGE_AGENT_TOKEN_FD=' seen || _fail "git's child has no agent: $(grep M3AGE seen)"
    ! grep -q hunter2 seen || _fail "git's child saw M3AGE_PASSPHRASE"
}

run_tests
