#!/bin/bash
# Output conventions: --color=auto|always|never, NO_COLOR only when non-empty, TERM=dumb;
# JSON with repository-relative paths, null for absent values, one name per concept.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/secrets-repo.inc"

ESC=$'\033['

test_color_option_always_and_never() {
    mkrepo
    run "$M3AGE" audit --color=always
    grep -qF "$ESC" out || _fail "no color with --color=always: $(head -3 out)"
    run "$M3AGE" audit --color
    grep -qF "$ESC" out || _fail "no color with --color"
    run "$M3AGE" check --host h1 --color=never
    ! grep -qF "$ESC" out || _fail "color with --color=never"
    run "$M3AGE" audit --color=sometimes
    assert_status 2
    assert_one_error_line "m3age: error: --color: expected always, never or auto, not 'sometimes'"
}

test_color_auto_on_a_terminal_follows_no_color_and_term() {
    mkrepo
    [ -x "$TOOLS/ptyrun" ] || skip "ptyrun not built"
    # lib.sh exports NO_COLOR=1 for every test: an empty one must not turn color off.
    NO_COLOR= TERM=xterm "$TOOLS/ptyrun" -- "$M3AGE" audit >tty1 2>&1 || true
    grep -qF "$ESC" tty1 || _fail "empty NO_COLOR turned color off: $(head -3 tty1)"
    NO_COLOR=1 TERM=xterm "$TOOLS/ptyrun" -- "$M3AGE" audit >tty2 2>&1 || true
    ! grep -qF "$ESC" tty2 || _fail "NO_COLOR=1 still colored"
    NO_COLOR= TERM=dumb "$TOOLS/ptyrun" -- "$M3AGE" audit >tty3 2>&1 || true
    ! grep -qF "$ESC" tty3 || _fail "TERM=dumb still colored"
}

# json_ok FILE: FILE is valid JSON (python3's parser).
json_ok() {
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" || _fail "not valid JSON: $(head -c 300 "$1")"
}

test_audit_json_paths_are_repository_relative_and_counts_named_notes() {
    mkrepo
    mkdir .git
    run "$M3AGE" audit --json
    json_ok out
    assert_contains out '"version": 2'
    assert_contains out '"registry": "secrets.nix"'
    assert_contains out '"notes": '
    assert_not_contains out '"infos"'
    assert_not_contains out "$PWD"
    # From a subfolder too: the document does not depend on where it runs.
    mkdir sub && cd sub
    run "$M3AGE" audit --json
    assert_contains out '"registry": "secrets.nix"'
    assert_not_contains out "${PWD%/sub}"
}

test_hosts_json_has_null_for_absent_values() {
    mkrepo
    mkdir -p hosts/h1
    cp hostkeys/h1.pub hosts/h1/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts --json
    json_ok out
    assert_contains out '"registry_fingerprint":"SHA256:'
    assert_contains out '"known_hosts":null,"known_hosts_fingerprint":null'
    assert_not_contains out '"-"'
}

test_diff_and_rekey_dry_run_print_the_same_json_plan() {
    mkrepo
    sed -i 's|"secrets/a.age".publicKeys = \[ user h1 \]|"secrets/a.age".publicKeys = [ user h3 ]|' secrets.nix
    run "$M3AGE" diff --json
    assert_status 1
    json_ok out
    cp out diff.json
    assert_contains out '{"file": "secrets/a.age", "state": "change", "add": ["h3"], "remove": ["h1"], "kept": [], "error": null}'
    assert_contains out '{"file": "secrets/b.age", "state": "same", "add": [], "remove": [], "kept": [], "error": null}'
    assert_contains out '{"file": "secrets/new.age", "state": "missing"'
    assert_contains out '"changes": 1'
    run "$M3AGE" rekey --dry-run --json
    assert_status 1
    json_ok out
    assert_same_file diff.json out
    run "$M3AGE" rekey --json
    assert_status 2
    assert_contains err "--json is for the plan of --dry-run"
}

test_keys_inspect_json_and_the_registry_found_by_default() {
    mkrepo
    run "$M3AGE" keys inspect secrets/b.age
    assert_status 0
    assert_contains out "user"
    assert_not_contains out "unknown key"
    run "$M3AGE" keys inspect --json secrets/b.age
    assert_status 0
    json_ok out
    assert_contains out '"armored": true'
    assert_contains out '"keys": ["user"]'
    assert_contains out '{"type": "X25519", "tag": null, "keys": []}'
}

test_every_json_field_is_documented() {
    for f in version file armored stanzas type tag keys; do
        grep -q "Li $f" "$SRCDIR/man/m3age-keys.1" || _fail "keys inspect field $f not documented"
    done
    for f in version registry secrets file state add remove error changes; do
        grep -q "Li $f" "$SRCDIR/man/m3age-audit.1" || _fail "plan field $f not documented"
    done
    for f in host registry_fingerprint file file_fingerprint known_hosts known_hosts_fingerprint status; do
        grep -q "Li $f" "$SRCDIR/man/m3age-hosts.1" || _fail "hosts field $f not documented"
    done
}

run_tests
