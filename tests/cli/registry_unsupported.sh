#!/bin/bash
# registry_unsupported.sh: what m3age's evaluator does not do is refused by name, with the
# file, line and column and a pointer to --nix, never reported as a missing attribute; and
# where Nix can evaluate the same file offline, it does (the refusal is ours, not a bug in
# the registry).
. "$(dirname "$0")/../lib.sh"

have_nix() { command -v nix-instantiate >/dev/null 2>&1; }
nix_eval() {
    NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict \
        --json "$@"
}

# refused FILE WHAT LINE:COL: m3age fails with one error naming WHAT at LINE:COL and --nix.
refused() {
    run "$M3AGE" registry eval --json --no-nix --rules "$1"
    assert_status 2
    assert_empty out
    assert_contains err "m3age: error: $1:$3: $2 is not supported by m3age's evaluator ("
    assert_contains err "; use --nix to evaluate with nix-instantiate"
    assert_not_contains err "missing"
}

# oracle FILE: nix-instantiate evaluates FILE (when installed).
oracle() {
    have_nix || skip "nix-instantiate not installed: the comparison was skipped"
    nix_eval "$1" >nixout 2>nixerr || _fail "nix-instantiate failed: $(head -c 300 nixerr)"
}

# Builtins Nix 2.8 has, as `builtins.attrNames builtins` prints them.
NIX_BUILTINS="abort add addErrorContext all any appendContext attrNames attrValues baseNameOf
bitAnd bitOr bitXor builtins catAttrs ceil compareVersions concatLists concatMap
concatStringsSep currentSystem currentTime deepSeq derivation derivationStrict dirOf div elem
elemAt false fetchGit fetchMercurial fetchTarball fetchTree fetchurl filter filterSource findFile
floor foldl' fromJSON fromTOML functionArgs genList genericClosure getAttr getContext getEnv
groupBy hasAttr hasContext hashFile hashString head import intersectAttrs isAttrs isBool isFloat
isFunction isInt isList isNull isPath isString langVersion length lessThan listToAttrs map
mapAttrs match mul nixPath nixVersion null parseDrvName partition path pathExists placeholder
readDir readFile removeAttrs replaceStrings scopedImport seq sort split splitVersion storeDir
storePath stringLength sub substring tail throw toFile toJSON toPath toString toXML trace true
tryEval typeOf unsafeDiscardOutputDependency unsafeDiscardStringContext unsafeGetAttrPos
zipAttrsWith"

# ...and readFileType, of Nix 2.14 and later, which m3age also knows.
test_builtins_names_match_nix() {
    echo 'builtins.attrNames builtins' >names.nix
    run "$M3AGE" registry eval --json --rules names.nix
    assert_status 0
    printf '%s\n' $NIX_BUILTINS readFileType | LC_ALL=C sort | sed 's/.*/"&"/' | paste -sd, |
        sed 's/.*/[&]/' | tr -d '\n' >want
    assert_same_file out want
    oracle names.nix
    sed 's/"readFileType",//' out >out28
    assert_same_file out28 nixout
}

# Every builtin of Nix's is either evaluated or refused by name: calling each one with an
# argument never says "attribute missing" or "undefined variable".
test_every_nix_builtin_is_known() {
    local n refusals=0
    for n in $NIX_BUILTINS; do
        case $n in true | false | null | builtins) continue ;; esac
        printf '{\n  a = builtins.%s null;\n}\n' "$n" >b.nix
        run "$M3AGE" registry eval --json --no-nix --rules b.nix
        assert_not_contains err "missing"
        assert_not_contains err "undefined variable"
        if grep -qF "builtins.$n is not supported" err; then
            refusals=$((refusals + 1))
            assert_contains err "m3age: error: b.nix:2:7: builtins.$n is not supported by m3age's evaluator"
            assert_contains err "use --nix"
        fi
    done
    # the impure, store and fetcher builtins at least
    [ "$refusals" -ge 30 ] || _fail "only $refusals builtins refused by name"
}

test_refused_impure_builtins_by_name() {
    local n
    for n in getEnv fetchurl fetchTarball fetchGit fetchTree fetchMercurial derivation toFile \
        storePath path filterSource findFile placeholder; do
        printf '{\n  "a.age".publicKeys = [ (builtins.%s ./.) ];\n}\n' "$n" >s.nix
        refused s.nix "builtins.$n" 2:27
    done
}

test_refused_constants_by_name() {
    local n
    for n in currentSystem currentTime nixPath nixVersion storeDir langVersion; do
        printf '{ "a.age".publicKeys = [ builtins.%s ]; }\n' "$n" >s.nix
        refused s.nix "builtins.$n" 1:26
    done
}

test_global_and_underscore_forms() {
    echo '{ a = fetchTarball "https://example.org/x.tar.gz"; }' >g.nix
    refused g.nix builtins.fetchTarball 1:7
    echo '{ a = __getEnv "HOME"; }' >u.nix
    refused u.nix builtins.getEnv 1:7
}

# readDir is evaluated (no longer refused), as Nix evaluates it.
test_readdir_evaluates_as_nix_does() {
    mkdir keys
    echo 'ssh-ed25519 AAAA k' >keys/a.pub
    printf '{\n  "x.age".publicKeys = builtins.attrNames (builtins.readDir ./keys);\n}\n' >r.nix
    run "$M3AGE" registry eval --json --rules r.nix
    assert_status 0
    assert_eq "$(cat out)" '{"x.age":{"publicKeys":["a.pub"]}}'
    oracle r.nix
    assert_same_file out nixout
}

test_getenv_nix_evaluates_it() {
    echo '{ "x.age".publicKeys = [ (builtins.getEnv "M3_TEST_KEY") ]; }' >e.nix
    refused e.nix builtins.getEnv 1:27
    M3_TEST_KEY=age1x oracle e.nix
    assert_eq "$(cat nixout)" '{"x.age":{"publicKeys":["age1x"]}}'
}

test_unimplemented_pure_builtin_nix_evaluates_it() {
    echo '{ "x.age".publicKeys = [ (builtins.unsafeDiscardStringContext "age1x") ]; }' >p.nix
    refused p.nix builtins.unsafeDiscardStringContext 1:27
    oracle p.nix
    assert_eq "$(cat nixout)" '{"x.age":{"publicKeys":["age1x"]}}'
}

test_search_path() {
    printf 'let\n  pkgs = import <nixpkgs> { };\nin\n{ "a.age".publicKeys = [ pkgs.k ]; }\n' >n.nix
    refused n.nix "the search path '<nixpkgs>'" 2:17
}

test_lib() {
    echo '{ "a.age".publicKeys = lib.attrValues { a = "k"; }; }' >l.nix
    refused l.nix "'lib' (the nixpkgs library)" 1:24
}

test_top_level_function() {
    printf '# keys\n{ keys ? { } }:\n{ "a.age".publicKeys = [ "k" ]; }\n' >f.nix
    refused f.nix "a top-level function" 2:1
}

test_path_in_output() {
    printf '{\n  "a.age" = { publicKeys = [ "k" ]; file = ./a.age; };\n}\n' >o.nix
    refused o.nix "a path in the output" 2:44
}

test_path_in_output_registry_commands() {
    printf '{\n  "a.age".publicKeys = [ ./k.pub ];\n}\n' >secrets.nix
    run "$M3AGE" registry eval --json --no-nix
    assert_status 2
    assert_contains err "secrets.nix:2:26: a path in the output is not supported"
}

run_tests
