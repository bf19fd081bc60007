#!/bin/bash
# m3age git-setup: attributes, textconv and the pre-commit hook, through real git diff and
# git commit.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "gitsetup: skipped (no ssh-keygen)"; exit 0; }
command -v git >/dev/null || { echo "gitsetup: skipped (no git)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_NOSYSTEM=1

setup_repo() {
    export HOME=$PWD
    git init -q .
    make_repo
    git add -A && git commit -qm v1
    run "$M3AGE" git-setup -i "$AK/alice"
    assert_status 0
}

test_writes_attributes_config_and_hook_once() {
    setup_repo
    assert_contains out "added to .gitattributes"
    assert_eq "$(cat .gitattributes)" "*.age diff=m3age"
    assert_contains <(git config --get diff.m3age.textconv) "diff --textconv -i '$AK/alice'"
    assert_eq "$(git config --get diff.m3age.cachetextconv)" false
    [ -x .git/hooks/pre-commit ] || _fail "hook not executable"
    run "$M3AGE" git-setup -i "$AK/alice"
    assert_status 0
    assert_contains out "unchanged .gitattributes"
    assert_lines .gitattributes 1
}

test_git_diff_and_log_show_plaintext() {
    setup_repo
    printf 'new text\n' | "$M3AGE" encrypt -r "$(pub alice)" -r "$(pub h1)" -o secrets/a.age
    run git diff
    assert_status 0
    assert_contains out "-secret of secrets/a.age"
    assert_contains out "+new text"
    git add .gitattributes secrets/a.age && git commit -qm v2
    run git log -p -1
    assert_contains out "+new text"
    # textconv never ran through a cache: no notes ref with plaintext
    [ -z "$(git for-each-ref refs/notes)" ] || _fail "textconv cache written"
}

test_hook_refuses_plaintext_in_secrets_folder() {
    setup_repo
    echo 'hunter2' >secrets/wifi.txt
    git add secrets/wifi.txt
    run git commit -qm leak
    assert_status 1
    assert_contains err "secrets/wifi.txt: not an age file: refusing to commit plaintext in the secrets folder"
    assert_eq "$(git rev-list --count HEAD)" 1
    git rm -q --cached secrets/wifi.txt
    echo docs >README
    git add README
    run git commit -qm docs
    assert_status 0
}

test_hook_refuses_drift_and_unknown_age_files() {
    setup_repo
    enc secrets/a.age alice h2
    git add secrets/a.age
    run git commit -qm drift
    assert_status 1
    assert_contains err "secrets/a.age: recipients do not match the registry: +h1 -h2"
    enc secrets/a.age alice h1
    enc secrets/zzz.age alice
    git add secrets/a.age secrets/zzz.age
    run git commit -qm unknown
    assert_status 1
    assert_contains err "secrets/zzz.age: no entry 'secrets/zzz.age' in the registry"
    assert_not_contains err "secrets/a.age"
    git rm -q --cached secrets/zzz.age
    run git commit -qm fixed
    assert_status 0
}

test_hook_checks_the_staged_version() {
    setup_repo
    enc secrets/a.age alice h2
    git add secrets/a.age
    enc secrets/a.age alice h1 # fixed in the working tree only
    run git commit -qm staged
    assert_status 1
}

test_foreign_hook_is_kept_unless_forced() {
    export HOME=$PWD
    git init -q .
    make_repo
    printf '#!/bin/sh\nexit 0\n' >.git/hooks/pre-commit
    chmod +x .git/hooks/pre-commit
    run "$M3AGE" git-setup
    assert_status 2
    assert_contains err "a pre-commit hook that is not m3age's exists"
    assert_not_contains .git/hooks/pre-commit "m3age"
    run "$M3AGE" git-setup --force
    assert_status 0
    assert_contains out "(replaced the old one)"
    assert_contains .git/hooks/pre-commit "git-setup --pre-commit"
}

test_outside_git_is_an_error() {
    export HOME=$PWD GIT_CEILING_DIRECTORIES=$PWD/..
    run "$M3AGE" git-setup
    assert_status 2
    assert_contains err "not inside a git work tree"
}

run_tests
