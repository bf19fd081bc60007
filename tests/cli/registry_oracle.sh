#!/bin/bash
# registry_oracle.sh: every registry in tests/registry/ evaluated by `m3age registry eval
# --json` and by the real nix-instantiate (when installed), byte for byte.
#   NN-*.nix     must evaluate; output equals NN-*.json (recorded from Nix 2.8) and live Nix
#   err-*.nix    both must fail; m3age with one "m3age: error: FILE:L:C: ..." line, status 2
#   unsup-*.nix  outside the subset: m3age fails (status 2) and suggests --nix
# (err-* and unsup-* run with --no-nix: they check the built-in evaluator, not the fallback.)
# Files that Nix rejects when parsing end in .nix.bad, so that the repository's other checks
# (every *.nix parses) leave them alone.
. "$(dirname "$0")/../lib.sh"
CORPUS="$SRCDIR/tests/registry"

have_nix() { command -v nix-instantiate >/dev/null 2>&1; }
nix_eval() {
    NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict \
        --json "$1"
}

oracle_ok() {
    local f="$CORPUS/$1.nix"
    run "$M3AGE" registry eval --json --rules "$f"
    assert_status 0
    assert_empty err
    assert_same_file out "$CORPUS/$1.json"
    have_nix || skip "nix-instantiate not installed: compared with the recorded output only"
    nix_eval "$f" >nixout 2>nixerr || _fail "nix-instantiate failed: $(head -c 300 nixerr)"
    assert_same_file out nixout
}

oracle_err() {
    local f="$CORPUS/$1"
    run "$M3AGE" registry eval --json --no-nix --rules "$f"
    assert_status 2
    assert_empty out
    head -1 err | grep -qF "m3age: error: $f:" ||
        _fail "no 'm3age: error: FILE:LINE:COL:' line in: $(cat err)"
    [ "$(grep -vc '^m3age: hint: ' err)" -eq 1 ] || _fail "more than one error line: $(cat err)"
    have_nix || skip "nix-instantiate not installed: the comparison was skipped"
    if nix_eval "$f" >nixout 2>nixerr; then _fail "nix-instantiate accepted $1"; fi
}

oracle_unsup() {
    local f="$CORPUS/$1"
    run "$M3AGE" registry eval --json --no-nix --rules "$f"
    assert_status 2
    assert_empty out
    assert_contains err "is not supported by m3age's evaluator"
    assert_contains err "--nix"
}

for f in "$CORPUS"/*.nix "$CORPUS"/*.nix.bad; do
    b=$(basename "$f")
    n=${b%.bad}
    n=${n%.nix}
    fn=$(echo "$n" | tr -c 'a-zA-Z0-9_\n' '_')
    case $n in
    err-*) eval "test_${fn}() { oracle_err '$b'; }" ;;
    unsup-*) eval "test_${fn}() { oracle_unsup '$b'; }" ;;
    *) eval "test_oracle_${fn}() { oracle_ok '$n'; }" ;;
    esac
done

# builtins.substring and builtins.replaceStrings fail as Nix 2.8 does, with its words: the
# message after "FILE:L:C: " is the text of nix-instantiate's "error: " line.
test_substring_replacestrings_errors_say_what_nix_says() {
    local f want
    have_nix || skip "nix-instantiate not installed: the comparison was skipped"
    for f in "$CORPUS"/err-substring-*.nix "$CORPUS"/err-replacestrings-*.nix; do
        run "$M3AGE" registry eval --json --no-nix --rules "$f"
        assert_status 2
        if nix_eval "$f" >nixout 2>nixerr; then _fail "nix-instantiate accepted $f"; fi
        want=$(sed -n 's/^error: //p' nixerr | head -1)
        [ -n "$want" ] || _fail "no error line from nix-instantiate: $(cat nixerr)"
        assert_eq "$(sed -E 's/^m3age: error: [^:]+:[0-9]+:[0-9]+: //' err)" "$want" "$f"
    done
}

# A registry that is not a regular file (a named pipe) is read the general way rather than
# by its size: the same output, and a syntax error still names it. (The pipe is opened once:
# opening it again after its writer has gone would wait for ever, hence the timeout.)
test_registry_from_a_named_pipe() {
    mkfifo reg.nix
    cat "$CORPUS/01-basic.nix" >reg.nix &
    run timeout 30 "$M3AGE" registry eval --json --rules reg.nix
    wait
    assert_status 0
    assert_same_file out "$CORPUS/01-basic.json"
    printf '{ "a.age".publicKeys = [ ]; }\n}\n' >reg.nix &
    run timeout 30 "$M3AGE" registry eval --json --rules reg.nix
    wait
    assert_status 2
    assert_empty out
    assert_contains err 'm3age: error: reg.nix:2:1: '
}

# Output larger than any buffer is written as it is printed, yet an error late in the value
# (an evaluation error, or a path JSON cannot hold) still leaves standard output empty, as
# with nix-instantiate, which forces everything before printing.
big_then() {
    printf '{ a = builtins.genList (i: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%%s" + toString i) 60000;\n  z = %s;\n}\n' "$1" >late.nix
}

test_late_error_in_large_output_prints_nothing() {
    big_then 'throw "late failure"'
    run "$M3AGE" registry eval --json --rules late.nix
    assert_status 2
    assert_empty out
    assert_contains err 'late failure'
    big_then '"fine"'
    run "$M3AGE" registry eval --json --rules late.nix
    assert_status 0
    [ "$(wc -c <out)" -gt 2000000 ] || _fail "expected over 2 MB of JSON, got $(wc -c <out) bytes"
    have_nix || skip "nix-instantiate not installed: compared with nothing else"
    nix_eval late.nix >nixout 2>nixerr || _fail "nix-instantiate failed: $(head -c 300 nixerr)"
    assert_same_file out nixout
}

test_late_path_in_large_output_prints_nothing() {
    big_then './late.nix'
    run "$M3AGE" registry eval --json --no-nix --rules late.nix
    assert_status 2
    assert_empty out
    assert_contains err 'a path in the output'
}

test_write_error_is_reported() {
    [ -w /dev/full ] || skip "no /dev/full"
    big_then '"fine"'
    set +e
    "$M3AGE" registry eval --json --rules late.nix >/dev/full 2>err
    status=$?
    set -e
    assert_status 2
    assert_contains err 'm3age: error: standard output: No space left on device'
}

# Values of every size around the buffers streamed output goes through (the evaluation
# arena's free room when it has a few KiB, else a buffer of its own, then a larger one when
# the first fills): the bytes are the same as printed whole. The expected JSON is made here.
test_streamed_output_of_every_size() {
    local n
    for n in $(seq 1 7 600); do
        printf '{ a = builtins.genList (i: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%%s" + toString i) %d; }\n' \
            "$n" >g.nix
        awk -v n="$n" 'BEGIN { printf "{\"a\":["; for (i = 0; i < n; i++) printf "%s\"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI%%s%d\"", (i ? "," : ""), i; printf "]}" }' >want
        "$M3AGE" registry eval --json --rules g.nix >out 2>err || _fail "n=$n: status $?: $(cat err)"
        cmp -s out want || _fail "n=$n: output differs ($(wc -c <out) bytes, $(wc -c <want) expected)"
    done
}

# A small value too: its few bytes are written at the end, and the error is still seen.
test_write_error_on_small_output_is_reported() {
    [ -w /dev/full ] || skip "no /dev/full"
    printf '{ "wifi.age".publicKeys = [ "%s" ]; }\n' "age1$(printf 'q%.0s' $(seq 58))" >small.nix
    set +e
    "$M3AGE" registry eval --json --rules small.nix >/dev/full 2>err
    status=$?
    set -e
    assert_status 2
    assert_one_error_line 'm3age: error: standard output: No space left on device'
}

# On a terminal the JSON ends with a newline (the prompt then starts on its own line); into
# a pipe or a file it does not, byte for byte as nix-instantiate prints it.
test_terminal_gets_a_final_newline() {
    [ -x "$TOOLS/ptyrun" ] || _fail "ptyrun not built"
    run "$TOOLS/ptyrun" -t 30 -- "$M3AGE" registry eval --json --rules "$CORPUS/01-basic.nix"
    assert_status 0
    { cat "$CORPUS/01-basic.json"; echo; } >want
    assert_same_file out want
    run "$M3AGE" registry eval --json --rules "$CORPUS/01-basic.nix"
    assert_same_file out "$CORPUS/01-basic.json"
}

# The corpus is large enough to mean something.
test_corpus_size() {
    local n
    n=$(ls "$CORPUS"/*.nix "$CORPUS"/*.nix.bad | wc -l)
    [ "$n" -ge 40 ] || _fail "only $n registries in tests/registry"
}

run_tests
