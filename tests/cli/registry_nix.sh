#!/bin/bash
# registry_nix.sh: nix-instantiate behind every command that reads the registry: --nix
# (always), --no-nix (never), and by default the fallback for a registry outside the
# built-in evaluator's subset, announced by one note naming the construct and its place
# once. Nix runs pure and read-only; the writers refuse what they cannot locate.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "registry_nix: skipped (no ssh-keygen)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"

have_nix() { command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"; }

# A registry whose h1 key goes through builtins.unsafeDiscardStringContext (outside the subset).
OUTSIDE='  h1x = builtins.unsafeDiscardStringContext "${h1}";'
outside_repo() {
    make_repo
    write_registry "$OUTSIDE" '  "secrets/a.age".publicKeys = users ++ [ h1x ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
}
NOTE="secrets.nix:7:9: builtins.unsafeDiscardStringContext is outside the built-in evaluator; evaluating with nix-instantiate (--no-nix forbids this)"
# assert_note: stderr is the note alone, naming the registry as its errors do (relative).
assert_note() {
    assert_lines err 1
    assert_eq "$(cat err)" "m3age: note: $NOTE" "the note"
}

test_audit_falls_back_with_one_note() {
    have_nix
    outside_repo
    run "$M3AGE" audit
    assert_status 0
    assert_note
    assert_contains out "0 errors"
    run "$M3AGE" audit --json
    assert_status 0
    assert_note
}

test_no_nix_forbids_the_fallback() {
    outside_repo
    for cmd in audit diff "rekey --dry-run" "check --host h1" "keys inspect secrets/a.age --rules secrets.nix"; do
        # shellcheck disable=SC2086
        run "$M3AGE" $cmd --no-nix
        assert_status 2
        assert_contains err "secrets.nix:7:9: builtins.unsafeDiscardStringContext is not supported by m3age's evaluator"
        assert_not_contains err "note:"
        assert_not_contains err "secrets.nix:7: secrets.nix" # the location named once
        [ "$(grep -c '^m3age: error: ' err)" -eq 1 ] || _fail "$cmd: not one error line: $(cat err)"
    done
}

test_every_reading_command_falls_back() {
    have_nix
    outside_repo
    run "$M3AGE" diff
    assert_status 0
    assert_note
    assert_contains out "0 of 2 secrets would change on rekey"
    run "$M3AGE" rekey --dry-run
    assert_status 0
    assert_note
    run "$M3AGE" keys inspect secrets/a.age --rules secrets.nix
    assert_status 0
    assert_contains err "$NOTE"
    run "$M3AGE" registry eval
    assert_status 0
    assert_note
    assert_contains out "secrets/a.age"
    run "$M3AGE" registry eval --json
    assert_status 0
    assert_note
    NIX_PATH= nix-instantiate --eval --strict --json --readonly-mode --store dummy:// secrets.nix >want
    assert_same_file out want
}

# --nix evaluates with Nix even what m3age could: the same audit, and no note.
test_nix_option_on_every_reading_command() {
    have_nix
    make_repo
    run "$M3AGE" audit
    cp out builtin
    for cmd in audit "diff" "rekey --dry-run" "registry eval" "registry eval --json"; do
        # shellcheck disable=SC2086
        run "$M3AGE" $cmd --nix
        assert_status 0
        assert_empty err
    done
    run "$M3AGE" audit --nix
    assert_same_file out builtin
    run "$M3AGE" keys inspect secrets/a.age --rules secrets.nix --nix
    assert_status 0
}

# Pure and read-only: no file outside the repository, no network, no search path, no
# environment. (The built-in evaluator refuses each first: Nix is reached by the fallback
# after a construct it does not know, or by --nix.)
test_nix_runs_restricted() {
    have_nix
    mkdir -p repo/.git
    cd repo
    printf '{ a = builtins.unsafeDiscardStringContext "x"; b = builtins.readFile /etc/passwd; }\n' >secrets.nix
    run "$M3AGE" registry eval --json
    assert_status 2
    assert_empty out
    assert_contains err "m3age: note: secrets.nix:1:7: builtins.unsafeDiscardStringContext is outside"
    assert_contains err "access to absolute path '/etc/passwd' is forbidden in restricted mode"
    printf '{ a = builtins.fetchurl "http://127.0.0.1:9/x"; }\n' >secrets.nix
    run "$M3AGE" registry eval --json
    assert_status 2
    assert_empty out
    assert_contains err "access to URI 'http://127.0.0.1:9/x' is forbidden in restricted mode"
    printf '{ a = import <nixpkgs>; }\n' >secrets.nix
    NIX_PATH=nixpkgs=/ run "$M3AGE" audit
    assert_status 2
    assert_contains err "file 'nixpkgs' was not found in the Nix search path"
    ln -s /etc/passwd pw
    printf '{ a = builtins.readFile ./pw; }\n' >secrets.nix
    run "$M3AGE" registry eval --json --nix
    assert_status 2
    assert_empty out
    assert_contains err "is forbidden in restricted mode"
    printf '{ "a.age".publicKeys = [ (builtins.getEnv "M3_TEST_KEY") "age1x" ]; }\n' >secrets.nix
    M3_TEST_KEY=leaked run "$M3AGE" registry eval --json
    assert_status 0
    assert_eq "$(cat out)" '{"a.age":{"publicKeys":["","age1x"]}}'
}

# What Nix rejects is one error line, with Nix's position, and nothing on stdout.
test_nix_error_is_one_line() {
    have_nix
    mkdir -p repo/.git
    printf '{\n  a = builtins.unsafeDiscardStringContext "x";\n  b = throw "no such host";\n}\n' \
        >repo/secrets.nix
    run "$M3AGE" audit --rules repo/secrets.nix
    assert_status 2
    assert_lines err 2
    assert_contains err "m3age: note: "
    assert_contains err "m3age: error: repo/secrets.nix: no such host (nix-instantiate)"
}

# edit reads the registry twice (before and after the editor): one note all the same.
test_edit_falls_back_with_one_note() {
    have_nix
    outside_repo
    cp secrets/a.age before
    printf 'new secret\n' >new
    run_in new "$M3AGE" edit -i "$AK/alice" secrets/a.age
    assert_status 0
    # the note once, then edit's own line saying the secret was saved
    assert_eq "$(sed -n 2p err)" "m3age: secrets/a.age: saved, encrypted to 2 recipients"
    sed -i 2d err
    assert_note
    run "$M3AGE_FIXTURE" decrypt -i "$AK/h1" secrets/a.age
    assert_eq "$(cat out)" "new secret"
}

# A bad key in a registry Nix evaluated: the registry and entry named, no made-up position.
test_bad_key_after_the_fallback() {
    have_nix
    mkdir -p repo/.git
    printf '{ "a.age".publicKeys = [ (builtins.unsafeDiscardStringContext "age1bad") ]; }\n' \
        >repo/secrets.nix
    run "$M3AGE" registry eval --rules repo/secrets.nix
    assert_status 2
    assert_contains err "m3age: error: repo/secrets.nix: 'a.age': publicKeys element 1 is not a recipient m3age can use"
    assert_not_contains err ":0:0"
}

# A registry read from a named pipe cannot be read again by Nix: the refusal stands (and
# nothing waits for a writer that has gone).
test_named_pipe_is_not_handed_to_nix() {
    have_nix
    mkfifo reg.nix
    printf '{ a = builtins.unsafeDiscardStringContext "x"; }\n' >reg.nix &
    run timeout 30 "$M3AGE" registry eval --json --rules reg.nix
    wait
    assert_status 2
    assert_contains err "builtins.unsafeDiscardStringContext is not supported by m3age's evaluator"
    printf '{ a = builtins.unsafeDiscardStringContext "x"; }\n' >reg.nix &
    run timeout 30 "$M3AGE" registry eval --rules reg.nix
    wait
    assert_status 2
    assert_contains err "builtins.unsafeDiscardStringContext is not supported by m3age's evaluator"
}

# The writers need to know where each value is written: they never use Nix.
test_writers_refuse_nix() {
    outside_repo
    cp secrets.nix before
    run "$M3AGE" registry add secrets/c.age alice --nix
    assert_status 2
    assert_contains err "m3age: error: --nix: the writers edit only a registry m3age evaluates itself"
    run "$M3AGE" registry rm secrets/b.age
    assert_status 2
    assert_contains err "builtins.unsafeDiscardStringContext is not supported by m3age's evaluator"
    assert_contains err "m3age: hint: the file was left unchanged; make this edit by hand"
    assert_not_contains err "note:"
    assert_same_file secrets.nix before
    run "$M3AGE" hosts sync --nix
    assert_status 2
    assert_contains err "m3age: error: --nix: hosts reads and edits the bindings where they are written"
    assert_same_file secrets.nix before
}

# Without Nix the refusal stands, with a hint to install it.
test_without_nix_the_refusal_stands() {
    outside_repo
    mkdir bin
    ln -s "$(command -v git)" bin/git
    PATH=$PWD/bin run "$M3AGE" registry eval
    assert_status 2
    assert_contains err "builtins.unsafeDiscardStringContext is not supported by m3age's evaluator"
    assert_contains err "m3age: hint: install Nix (Debian: nix-bin) to evaluate 'secrets.nix' with nix-instantiate"
    PATH=$PWD/bin run "$M3AGE" registry eval --json --nix
    assert_status 2
    assert_contains err "cannot run nix-instantiate"
}

# affected reads the registry at two revisions: --no-nix forbids Nix there too, and the
# fallback is noted once.
test_affected_takes_nix_and_no_nix() {
    command -v git >/dev/null || skip "git not installed"
    outside_repo
    git init -q && git add -A && git -c user.name=t -c user.email=t@example.org commit -qm init
    run "$M3AGE" affected HEAD --no-nix
    assert_status 2
    assert_contains err "secrets.nix:7:9: builtins.unsafeDiscardStringContext is not supported by m3age's evaluator"
    assert_not_contains err "note:"
    command -v nix-instantiate >/dev/null 2>&1 || return 0
    run "$M3AGE" affected HEAD
    assert_status 0
    assert_contains out "no host affected"
    assert_eq "$(grep -c 'note:' err)" 1 "notes"
}

run_tests
