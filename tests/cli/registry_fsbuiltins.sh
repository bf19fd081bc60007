#!/bin/bash
# registry_fsbuiltins.sh: builtins.readDir, pathExists, readFileType and hashFile see the
# repository and nothing else: a path outside it, or a symlink leading out of it, is refused
# by name as readFile refuses it; what is inside is what nix-instantiate sees.
. "$(dirname "$0")/../lib.sh"

have_nix() { command -v nix-instantiate >/dev/null 2>&1; }
nix_eval() {
    NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict \
        --json "$@"
}

# repo: a repository with keys/, a folder, links in and out, a named pipe, a dangling link.
repo() {
    mkdir -p repo/.git repo/keys/sub outside
    echo 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE a' \
        >repo/keys/a.pub
    echo 'outside secret' >outside/secret.txt
    ln -s a.pub repo/keys/in.pub
    ln -s "$PWD/outside" repo/keys/out
    ln -s "$PWD/outside/secret.txt" repo/keys/out.txt
    ln -s missing.pub repo/keys/dangling.pub
    mkfifo repo/keys/pipe
}

# refused EXPR: evaluating { x = EXPR; } in repo/ fails with one line naming what is outside.
refused() {
    printf '{ x = %s; }\n' "$1" >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 2
    assert_empty out
    assert_one_error_line "m3age: error: repo/secrets.nix:1:7: "
    assert_contains err "is outside the repository '$PWD/repo'"
}

test_readdir_types_as_nix() {
    repo
    echo '{ keys = builtins.readDir ./keys; sub = builtins.readDir ./keys/sub; }' \
        >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 0
    assert_eq "$(cat out)" '{"keys":{"a.pub":"regular","dangling.pub":"symlink","in.pub":"symlink","out":"symlink","out.txt":"symlink","pipe":"unknown","sub":"directory"},"sub":{}}'
    have_nix || skip "nix-instantiate not installed: the comparison was skipped"
    nix_eval repo/secrets.nix >nixout 2>nixerr || _fail "nix-instantiate: $(cat nixerr)"
    assert_same_file out nixout
}

test_pathexists_as_nix() {
    repo
    echo '{ x = map builtins.pathExists [ ./keys/a.pub ./keys/in.pub ./keys/dangling.pub ./keys/pipe ./keys/nope ./keys/sub ./. ]; }' \
        >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 0
    assert_eq "$(cat out)" '{"x":[true,true,true,true,false,true,true]}'
    have_nix || skip "nix-instantiate not installed: the comparison was skipped"
    nix_eval repo/secrets.nix >nixout 2>nixerr || _fail "nix-instantiate: $(cat nixerr)"
    assert_same_file out nixout
}

# readFileType is Nix 2.14's: the expected values are those of its manual.
test_readfiletype() {
    repo
    echo '{ x = map builtins.readFileType [ ./keys/a.pub ./keys/sub ./keys/in.pub ./keys/dangling.pub ./keys/pipe ./keys/out ]; }' \
        >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 0
    assert_eq "$(cat out)" '{"x":["regular","directory","symlink","symlink","unknown","symlink"]}'
    echo '{ x = builtins.readFileType ./keys/nope; }' >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 2
    assert_one_error_line "m3age: error: repo/secrets.nix:1:7: cannot read '$PWD/repo/keys/nope': No such file or directory"
}

test_outside_the_repository_is_refused() {
    repo
    refused "builtins.readDir $PWD/outside"
    refused 'builtins.readDir ./keys/out'
    refused 'builtins.readDir /.'
    refused 'builtins.hashFile "sha256" ./keys/out.txt'
    refused "builtins.hashFile \"md5\" $PWD/outside/secret.txt"
    refused "builtins.pathExists $PWD/outside/secret.txt"
    refused "builtins.pathExists $PWD/outside/nothing"
    refused 'builtins.pathExists ./keys/out/secret.txt'
    refused 'builtins.pathExists ./keys/out/nothing'
    refused 'builtins.readFileType ./keys/out/secret.txt'
    refused 'builtins.pathExists ../outside'
}

# A symlink leading out is seen as a link (it is in the repository), never followed.
test_link_out_is_a_link_not_its_target() {
    repo
    echo '{ x = builtins.pathExists ./keys/out.txt; t = builtins.readFileType ./keys/out; }' \
        >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 0
    assert_eq "$(cat out)" '{"t":"symlink","x":true}'
}

test_hashfile_unknown_algorithm() {
    repo
    echo '{ x = builtins.hashFile "sha384" ./keys/a.pub; }' >repo/secrets.nix
    run "$M3AGE" registry eval --json --rules repo/secrets.nix
    assert_status 2
    assert_one_error_line "m3age: error: repo/secrets.nix:1:7: unknown hash algorithm 'sha384'"
}

run_tests
