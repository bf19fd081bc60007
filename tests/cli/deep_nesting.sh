#!/bin/bash
# A cloned repository is untrusted: a secrets.nix nested far deeper than any honest file
# (each recursive construct of the grammar at ten times REG_MAX_NEST) and a small file whose
# evaluation recurses deeply must end every command that reads the registry (registry eval,
# audit, rekey --dry-run, the pre-commit hook) with one error line and status 2, never a
# signal. Realistic nesting (a few hundred levels) keeps working.
. "$(dirname "$0")/../lib.sh"
command -v python3 >/dev/null || { echo "deep_nesting: skipped (no python3)"; exit 0; }
command -v git >/dev/null || { echo "deep_nesting: skipped (no git)"; exit 0; }
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org \
    GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.org

KEY="$SRCDIR/tests/bad/keys/good.txt"
RCPT=$(sed -n 's/^# public key: //p' "$KEY")
LIMIT=1000 # REG_MAX_NEST in registry/syntax.h

# construct NAME N: an expression that nests N levels through one construct of the grammar
# (each evaluates without error when N is small; f, a, s and xs are bound by the registry).
construct() {
    python3 - "$1" "$2" <<'PY'
import sys
name, n = sys.argv[1], int(sys.argv[2])
c = {
    "list": lambda: "[" * n + "]" * n,
    "set": lambda: "{ a = " * n + "1" + "; }" * n,
    "rec_set": lambda: "rec { a = " * n + "1" + "; }" * n,
    "let_set": lambda: "let { body = " * n + "1" + "; }" * n,
    "attr_path": lambda: "{ " + ".".join(["a"] * n) + " = 1; }",
    "let": lambda: "let b = " * n + "1" + "; in b" * n,
    "with": lambda: "with a; " * n + "1",
    "assert": lambda: "assert true; " * n + "1",
    "if_then": lambda: "if true then " * n + "1" + " else 0" * n,
    "if_else": lambda: "if false then 0 else " * n + "1",
    "lambda": lambda: "x: " * n + "1",
    "formals": lambda: "{ c ? " * n + "1" + " }: c" * n,
    "app_chain": lambda: "f" + " 1" * n,
    "app_nest": lambda: "f (" * n + "1" + ")" * n,
    "select_or": lambda: "a.z or " * n + "1",
    "dyn_attr": lambda: "s.${" * n + '"b"' + "}" * n,
    "has_attr": lambda: "(" * n + "a ? b" + ")" * n,
    "not": lambda: "! " * n + "true",
    "neg": lambda: "- " * n + "1",
    "add_chain": lambda: "1 + " * n + "1",
    "sub_chain": lambda: "1 - " * n + "1",
    "mul_chain": lambda: "1 * " * n + "1",
    "concat_chain": lambda: "[] ++ " * n + "[]",
    "update_chain": lambda: "{} // " * n + "{}",
    "impl_chain": lambda: "true -> " * n + "true",
    "and_chain": lambda: "true && " * n + "true",
    "or_chain": lambda: "false || " * n + "true",
    "eq_nest": lambda: "(" * n + "1 == 1" + ")" * n,
    "paren": lambda: "(" * n + "1" + ")" * n,
    "string_interp": lambda: '"${' * n + '"x"' + '}"' * n,
    "ind_string_interp": lambda: "''${" * n + '"x"' + "}''" * n,
    "inherit_from": lambda: "{ inherit (" * n + "{ a = 1; }" + ") a; }" * n,
}
sys.stdout.write(c[name]())
PY
}
CONSTRUCTS="list set rec_set let_set attr_path let with assert if_then if_else lambda formals
    app_chain app_nest select_or dyn_attr has_attr not neg add_chain sub_chain mul_chain
    concat_chain update_chain impl_chain and_chain or_chain eq_nest paren string_interp
    ind_string_interp inherit_from"

# registry EXPR: secrets.nix whose one entry's armor forces EXPR wholly.
registry() {
    {
        printf 'let\n  f = x: f;\n  a = { b = { }; };\n  s = { b = "b"; };\n'
        printf '  xs = builtins.genList (x: x) 100000;\nin\n'
        printf '{\n  "secrets/a.age".publicKeys = [ "%s" ];\n' "$RCPT"
        printf '  "secrets/a.age".armor = builtins.deepSeq (%s) false;\n}\n' "$1"
    } >secrets.nix
}

# repo: a git repository with the registry and secrets/a.age staged.
repo() {
    git init -q .
    mkdir -p secrets
    echo plain | "$M3AGE_FIXTURE" encrypt -r "$RCPT" -o secrets/a.age
    git add secrets/a.age
}

# assert_refused WHAT MESSAGE: the last run ended with status 2 and the one error line
# MESSAGE (an extended regular expression; audit and the hook name the file by its absolute
# path, the hook after "pre-commit: "), with no signal (a crash is status 128 + N).
assert_refused() {
    [ "$status" -eq 2 ] || _fail "$1: exit status $status, expected 2; stderr: $(head -c 300 err)"
    assert_lines err 1
    grep -Eq "^m3age: error: (pre-commit: )?(/.*/)?$2" err || _fail "$1: stderr: $(head -c 300 err)"
}

# every_command WHAT MESSAGE: each command that reads the registry refuses it with MESSAGE.
every_command() {
    local c
    for c in "registry eval" "registry eval --json" "audit" "rekey --dry-run -i $KEY" \
        "git-setup --pre-commit"; do
        # shellcheck disable=SC2086 # the words of the command
        run "$M3AGE" $c
        assert_refused "$1: m3age $c" "$2"
    done
}

test_each_construct_nested_ten_times_the_limit_is_one_error() {
    local name
    repo
    for name in $CONSTRUCTS; do
        registry "$(construct "$name" $((10 * LIMIT)))"
        cp secrets.nix before.nix
        every_command "$name" "secrets\.nix:[0-9]+:[0-9]+: expression nested too deeply\$"
        assert_same_file before.nix secrets.nix
        assert_no_temp .
    done
}

test_each_construct_nested_a_few_hundred_levels_works() {
    local name
    for name in $CONSTRUCTS; do
        registry "$(construct "$name" 300)"
        run "$M3AGE" registry eval --json
        [ "$status" -eq 0 ] || _fail "$name: exit status $status: $(head -c 300 err)"
        assert_contains out '"armor":false'
    done
}

test_deep_recursion_at_run_time_is_one_error() {
    # small files whose evaluation recurses without end, or over values a foldl' nested
    # 100,000 deep: the evaluator's depth count stops each
    local e
    repo
    registry 'let g = n: if n == 0 then 0 else 1 + g (n - 1); in g 1000000'
    every_command "recursion" "secrets\.nix:[0-9]+:[0-9]+: stack overflow \(possible infinite recursion\)\$"
    for e in 'builtins.foldl'"'"' (v: x: [ v ]) [ ] xs' \
        'builtins.foldl'"'"' (v: x: { inherit v; }) { } xs' \
        'toString (builtins.foldl'"'"' (v: x: [ v ]) [ ] xs)' \
        'builtins.foldl'"'"' (v: x: [ v ]) [ ] xs == builtins.foldl'"'"' (v: x: [ v ]) [ ] xs' \
        'builtins.foldl'"'"' (v: x: [ v ]) [ ] xs < builtins.foldl'"'"' (v: x: [ v ]) [ ] xs' \
        '"${builtins.foldl'"'"' (v: x: { outPath = v; }) "x" xs}"'; do
        registry "$e"
        every_command "$e" "secrets\.nix:[0-9]+:[0-9]+: stack overflow \(value nested too deeply\)\$"
    done
}

test_hosts_folders_nested_too_deeply_are_one_error() {
    registry '1'
    echo '{ }' >flake.nix
    mkdir -p hosts/m3-ares
    # 1500 levels: the scan's frames (8 KiB each) overflowed 8 MiB of stack at about 1000
    python3 -c 'import os
os.chdir("hosts/m3-ares")
for i in range(1500):
    os.mkdir("d")
    os.chdir("d")
open("default.nix", "w").write("{ }")'

    run "$M3AGE" registry hosts
    assert_refused "registry hosts" "hosts/m3-ares/d/d/.*: folders nested too deeply \(more than 64\)\$"
    run "$M3AGE" audit
    assert_refused "audit" "hosts/m3-ares/d/d/.*: folders nested too deeply \(more than 64\)\$"
}

run_tests
