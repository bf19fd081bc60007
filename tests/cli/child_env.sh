#!/bin/bash
# Secret hygiene of child processes (issue 8, point 5): every program m3age starts (the
# editor, diff, git, nix-instantiate) gets neither a secret on its command line nor
# M3AGE_PASSPHRASE in its environment; the editor gets one path and nothing else.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

PASS="child-env-passphrase-$$"

# spy NAME: bin/NAME logs its arguments and environment to spy.NAME, then runs the real
# NAME (or true, when there is none) with the same arguments.
spy() {
    local real
    mkdir -p bin
    real=$(command -v "$1" || echo true)
    cat >"bin/$1" <<EOF
#!/bin/sh
printf '%s\n' "\$0" "\$@" >>"$PWD/spy.$1.args"
env >>"$PWD/spy.$1.env"
exec "$real" "\$@"
EOF
    chmod +x "bin/$1"
}

# assert_clean_child NAME MARK...: NAME ran, and none of MARK (nor M3AGE_PASSPHRASE) is in
# its arguments or environment.
assert_clean_child() {
    local name=$1 m
    shift
    [ -s "spy.$name.args" ] || _fail "$name was not run"
    for m in M3AGE_PASSPHRASE "$PASS" "$@"; do
        ! grep -qF -- "$m" "spy.$name.args" || _fail "$name got '$m' in its arguments"
        ! grep -qF -- "$m" "spy.$name.env" || _fail "$name got '$m' in its environment"
    done
}

# protect_user_key: the user's key gets the passphrase $PASS, given in M3AGE_PASSPHRASE.
protect_user_key() {
    ssh-keygen -q -p -P '' -N "$PASS" -f home/.ssh/id_ed25519 >/dev/null || _fail "ssh-keygen -p"
    export M3AGE_PASSPHRASE=$PASS
}

test_editor_gets_one_path_and_no_passphrase() {
    mkrepo
    protect_user_key
    spy ed0
    editor ed 'printf "new alpha\n" >"$1"; exec '"$PWD"'/bin/ed0 "$@"'
    run "$M3AGE" edit --editor "$PWD/ed" secrets/a.age
    assert_status 0
    assert_lines spy.ed0.args 2
    case $(tail -1 spy.ed0.args) in "$SHM"/m3age-edit.*/a.age) ;; *) _fail "editor argument: $(tail -1 spy.ed0.args)" ;; esac
    assert_clean_child ed0 alpha
    assert_eq "$(plain secrets/a.age hostkeys/h1)" "new alpha"
}

test_diff_and_git_get_no_secret() {
    command -v git >/dev/null || skip "git not installed"
    command -v diff >/dev/null || skip "diff not installed"
    export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
        GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_NOSYSTEM=1
    mkrepo
    git init -q . && git add -A && git commit -qm v1
    printf 'alpha changed\n' | "$M3AGE" encrypt -r "$(cat home/.ssh/id_ed25519.pub)" -o secrets/a.age
    protect_user_key
    spy git
    spy diff
    PATH=$PWD/bin:$PATH run "$M3AGE" diff secrets/a.age
    assert_status 1
    assert_contains out "+alpha changed"
    assert_clean_child git alpha
    assert_clean_child diff alpha
}

test_nix_instantiate_gets_no_passphrase() {
    mkrepo
    spy nix-instantiate
    export M3AGE_PASSPHRASE=$PASS
    PATH=$PWD/bin:$PATH NIX_PATH= NIX_REMOTE= run "$M3AGE" registry eval --nix --rules secrets.nix
    assert_clean_child nix-instantiate
}

run_tests
