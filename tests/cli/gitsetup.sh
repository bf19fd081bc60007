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
    # public keys and a README in the secrets folder are no leak; a private key is
    ssh-keygen -q -t ed25519 -N '' -C h1 -f secrets/h1_key </dev/null >/dev/null
    printf '# Secrets\n' >secrets/README.md
    git add secrets/h1_key.pub secrets/README.md
    run git commit -qm "public key and docs"
    assert_status 0
    git add secrets/h1_key
    run git commit -qm "private key"
    assert_status 1
    assert_contains err "secrets/h1_key: not an age file: refusing to commit plaintext in the secrets folder"
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

test_hook_checks_every_secret_against_a_staged_registry() {
    setup_repo
    # The registry changes a's recipients; a.age is not rekeyed and not staged.
    sed -i 's|"secrets/a.age".publicKeys = users ++ \[ h1 \];|"secrets/a.age".publicKeys = users ++ [ h2 ];|' secrets.nix
    git add secrets.nix
    run git commit -qm "registry only"
    assert_status 1
    assert_contains err "secrets/a.age: recipients do not match the registry: +h2 -h1 (run 'm3age rekey')"
    assert_not_contains err "secrets/b.age"
    assert_eq "$(git rev-list --count HEAD)" 1
    # The staged registry is the one checked: fixing only the working tree is not enough.
    git stash -q
    sed -i 's|"secrets/a.age".publicKeys = users ++ \[ h1 \];|"secrets/a.age".publicKeys = users ++ [ h2 ];|' secrets.nix
    enc secrets/a.age alice h2
    git add secrets.nix secrets/a.age
    run git commit -qm "registry and rekey"
    assert_status 0
}

test_textconv_without_identity_never_shows_no_change() {
    export HOME=$PWD
    git init -q .
    make_repo
    git add -A && git commit -qm v1
    run "$M3AGE" git-setup
    assert_status 0
    assert_contains err "m3age: warning: no usable identity"
    printf 'changed\n' | "$M3AGE_FIXTURE" encrypt -r "$(pub alice)" -r "$(pub h1)" -o secrets/a.age
    [ -n "$(git status --porcelain secrets/a.age)" ] || _fail "the change is not seen by git"
    run git diff secrets/a.age
    assert_contains out "-(m3age: cannot decrypt this version, sha256 "
    assert_contains out "+(m3age: cannot decrypt this version, sha256 "
}

test_git_config_and_hook_name_m3age_from_path() {
    # m3age names itself `m3age` when PATH's m3age is the program running; under make
    # valgrind PATH's m3age is the wrapper script, and the program running is memcheck
    [ -z "${M3AGE_WRAPPER:-}" ] || skip "PATH's m3age is the valgrind wrapper, not m3age itself"
    export HOME=$PWD
    mkdir bin && ln -s "$M3AGE" bin/m3age
    git init -q .
    make_repo
    PATH=$PWD/bin:$PATH run m3age git-setup -i "$AK/alice"
    assert_status 0
    assert_eq "$(git config --get diff.m3age.textconv)" "'m3age' diff --textconv -i '$AK/alice'"
    assert_contains .git/hooks/pre-commit "exec 'm3age' git-setup --pre-commit"
    assert_not_contains .git/hooks/pre-commit "$M3AGE"
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

# protected_repo: git-setup with a passphrase-protected ssh identity (pw-123) that opens
# three changed secrets.
protected_repo() {
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    export HOME=$PWD XDG_RUNTIME_DIR=$PWD/run
    mkdir -m 700 run
    git init -q .
    make_repo
    ssh-keygen -q -t ed25519 -N pw-123 -C me -f me </dev/null >/dev/null
    write_registry "  me = \"$(cut -d' ' -f1,2 me.pub)\";" '  "secrets/a.age".publicKeys = [ me ];
  "secrets/b.age".publicKeys = [ me ];
  "secrets/c.age".publicKeys = [ me ];'
    for f in a b c; do printf 'old %s\n' $f | "$M3AGE_FIXTURE" encrypt -R me.pub -o secrets/$f.age; done
    git add -A && git commit -qm v1
    "$M3AGE" git-setup -i me >/dev/null
    for f in a b c; do printf 'new %s\n' $f | "$M3AGE_FIXTURE" encrypt -R me.pub -o secrets/$f.age; done
}

test_one_passphrase_prompt_per_git_command() {
    protected_repo
    # plain git runs the textconv once per file version: one prompt each
    run "$TOOLS/ptyrun" -o plain.out -S -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 \
        -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 \
        -e "passphrase" -s pw-123 -- git --no-pager diff secrets
    assert_status 0
    assert_eq "$(grep -c 'Enter passphrase for' out)" 6
    # through m3age git: one prompt for the whole diff
    run "$TOOLS/ptyrun" -o agent.out -S -e "passphrase" -s pw-123 -- "$M3AGE" git --no-pager diff secrets
    assert_status 0
    assert_eq "$(grep -c 'Enter passphrase for' out)" 1
    assert_contains out "Enter passphrase for $PWD/me"
    assert_same_file plain.out agent.out
    for f in a b c; do
        assert_contains agent.out "-old $f"
        assert_contains agent.out "+new $f"
    done
    # the agent's socket and folder are gone, no plaintext anywhere in them
    [ -z "$(ls -A run)" ] || _fail "left in XDG_RUNTIME_DIR: $(ls -A run)"
    # given with -i, the passphrase is asked before git starts (before its pager)
    run "$TOOLS/ptyrun" -o log.out -S -e "passphrase" -s pw-123 -- "$M3AGE" git -i me --no-pager log -p
    assert_status 0
    assert_eq "$(grep -c 'Enter passphrase for' out)" 1
    assert_contains log.out "+old a"
}

test_m3age_git_wrong_passphrase_is_asked_once() {
    protected_repo
    # three tries for the whole git command, then every version shows a note
    run "$TOOLS/ptyrun" -o agent.out -S -e "passphrase" -s bad1 -e "try 2 of 3" -s bad2 \
        -e "try 3 of 3" -s bad3 -- "$M3AGE" git --no-pager log -p
    assert_status 0
    assert_eq "$(grep -c 'Enter passphrase for' out)" 3
    assert_eq "$(grep -c '^+(m3age: cannot decrypt this version, sha256 [0-9a-f]*\.\.\.: .*incorrect passphrase)' agent.out)" 3
    # with -i the identity is unlocked before git runs: a wrong passphrase stops there
    run "$TOOLS/ptyrun" -o none.out -S -e "passphrase" -s bad1 -e "try 2 of 3" -s bad2 \
        -e "try 3 of 3" -s bad3 -- "$M3AGE" git -i me --no-pager diff
    assert_status 2
    assert_contains out "m3age: error: $PWD/me: incorrect passphrase"
    assert_empty none.out
    [ -z "$(ls -A run)" ] || _fail "left in XDG_RUNTIME_DIR: $(ls -A run)"
}

test_m3age_git_passes_git_status_and_arguments() {
    protected_repo
    run "$M3AGE" git rev-parse --is-inside-work-tree
    assert_status 0
    assert_eq "$(cat out)" true
    run "$M3AGE" git no-such-git-command
    assert_status 1
    assert_contains err "no-such-git-command"
    run "$M3AGE" git
    assert_status 2
    assert_contains err "no git command given"
    run "$M3AGE" git --help
    assert_status 0
    assert_contains out "Usage: m3age git"
    [ -z "$(ls -A run)" ] || _fail "left in XDG_RUNTIME_DIR: $(ls -A run)"
}

test_agent_refuses_requests_without_the_token() {
    protected_repo
    # a textconv that does not carry the agent's token gets nothing from it and works alone:
    # m3age git's own prompt (-i), then one per file version
    printf '%064d' 0 >zeros
    printf '#!/bin/sh\nexec 9<"%s"\nM3AGE_AGENT_TOKEN_FD=9 exec "%s" diff --textconv -i "%s" "$@"\n' \
        "$PWD/zeros" "$M3AGE" "$PWD/me" >wrong-token
    chmod +x wrong-token
    git config diff.m3age.textconv "$PWD/wrong-token"
    run "$TOOLS/ptyrun" -o agent.out -t 30 -S -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 \
        -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 \
        -e "passphrase" -s pw-123 -e "passphrase" -s pw-123 -- "$M3AGE" git -i me --no-pager diff secrets
    assert_status 0
    assert_eq "$(grep -c 'Enter passphrase for' out)" 7
    assert_contains agent.out "+new a"
}

test_agent_token_is_in_no_environment() {
    # /proc/PID/environ of git and of everything it starts would show the token for their
    # whole life: it is passed in an inherited descriptor, only its number in the environment
    protected_repo
    run "$M3AGE" git -c 'alias.showenv=!env; cat <&$M3AGE_AGENT_TOKEN_FD | wc -c' showenv
    assert_status 0
    assert_not_contains out "M3AGE_AGENT_TOKEN="
    assert_contains out "M3AGE_AGENT_TOKEN_FD="
    assert_contains out "M3AGE_AGENT="
    assert_eq "$(tail -1 out | tr -d ' ')" 64
}

run_tests
