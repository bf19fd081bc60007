#!/bin/bash
# registry_edit.sh: `m3age registry add|set-key|rm|rm-key` change only the bytes they must,
# refuse what they cannot do textually, and leave the file untouched on any error.
. "$(dirname "$0")/../lib.sh"

K1="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF66AiyVyBre01owvNix6Kpc/U4t2ZQpt/AFISJsJZtD"
A1=age1xk54ztlt3jn7fndwdy6sjh29crarcx99hnxfje2uv376l3qanufqqrtl63
K2="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN8GoSYD38RcBNQs59kxmGABAcprvMSSOmDzhnOy3mpH"
K3="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDKaF3xjulp1IVGQVzRVqijLzCVpu9gsdVbNUU/nL9I+"

split_registry() {
    cat >secrets.nix <<NIX
# fleet secrets
let
  m3tam3re = "$K1"; # user
  m3-ares = "$K2";
  users = [ m3tam3re ];
in
{
  "secrets/wifi.age".publicKeys = users ++ [ m3-ares ]; # home network
  "secrets/vpn.age".publicKeys = [ m3tam3re ];
}
NIX
}

set_registry() {
    cat >secrets.nix <<NIX
let
  m3tam3re = "$K1";
  m3-ares = "$K2";
in {
    "secrets/wifi.age" = {
        publicKeys = [
            m3tam3re
            m3-ares
        ];
        armor = true;
    };
}
NIX
}

test_add_copies_split_style_after_last_entry() {
    split_registry
    cp secrets.nix before
    run "$M3AGE" registry add secrets/new.age m3tam3re m3-ares
    assert_status 0
    head -9 before >want
    echo '  "secrets/new.age".publicKeys = [ m3tam3re m3-ares ];' >>want
    tail -1 before >>want
    assert_same_file secrets.nix want
    assert_no_temp .
}

test_add_copies_multiline_set_style() {
    set_registry
    run "$M3AGE" registry add hosts/m3-atlas/db.age m3tam3re
    assert_status 0
    cat >want <<NIX
let
  m3tam3re = "$K1";
  m3-ares = "$K2";
in {
    "secrets/wifi.age" = {
        publicKeys = [
            m3tam3re
            m3-ares
        ];
        armor = true;
    };
    "hosts/m3-atlas/db.age" = {
        publicKeys = [
            m3tam3re
        ];
    };
}
NIX
    assert_same_file secrets.nix want
}

test_add_to_empty_set() {
    printf 'let k = "%s"; in\n{\n}\n' "$K1" >secrets.nix
    run "$M3AGE" registry add a.age k
    assert_status 0
    printf 'let k = "%s"; in\n{\n  "a.age".publicKeys = [ k ];\n}\n' "$K1" >want
    assert_same_file secrets.nix want
}

test_add_result_evaluates_to_the_keys() {
    split_registry
    run "$M3AGE" registry add secrets/new.age users m3-ares
    assert_status 0
    run "$M3AGE" registry eval
    assert_status 0
    grep -A2 '^secrets/new.age$' out >got
    printf 'secrets/new.age\n  %s\n  %s\n' "$K1" "$K2" >want
    assert_same_file got want
}

test_add_existing_entry_is_refused() {
    split_registry
    cp secrets.nix before
    run "$M3AGE" registry add secrets/wifi.age m3tam3re
    assert_status 2
    assert_contains err "'secrets/wifi.age' already exists"
    assert_same_file secrets.nix before
}

test_add_unbound_key_name_is_refused() {
    split_registry
    cp secrets.nix before
    run "$M3AGE" registry add secrets/x.age m3-nobody
    assert_status 2
    assert_contains err "'m3-nobody' is not a key bound in the top-level let"
    assert_contains err "set-key m3-nobody"
    assert_same_file secrets.nix before
}

test_add_to_computed_registry_is_read_only() {
    cat >secrets.nix <<'NIX'
let k = "age1qqq"; in
builtins.listToAttrs (map (n: { name = n; value = { publicKeys = [ k ]; }; }) [ "a.age" ])
NIX
    cp secrets.nix before
    run "$M3AGE" registry add b.age k
    assert_status 2
    assert_contains err "read-only"
    assert_contains err "hint:"
    assert_same_file secrets.nix before
}

test_rm_on_computed_registry_is_read_only() {
    cat >secrets.nix <<'NIX'
let k = "age1qqq"; mk = n: { name = n; value = { publicKeys = [ k ]; }; }; in
builtins.listToAttrs (map mk [ "a.age" "b.age" ])
NIX
    cp secrets.nix before
    run "$M3AGE" registry rm a.age
    assert_status 2
    assert_contains err "read-only"
    assert_same_file secrets.nix before
}

test_set_key_replaces_only_the_literal() {
    split_registry
    sed "s|$K2|$K3 root@m3-ares|" secrets.nix >want
    run "$M3AGE" registry set-key m3-ares "$K3 root@m3-ares"
    assert_status 0
    assert_same_file secrets.nix want
}

test_set_key_adds_a_binding_after_the_last_key() {
    split_registry
    { head -4 secrets.nix; echo "  m3-kratos = \"$K3\";"; tail -n +5 secrets.nix; } >want
    run "$M3AGE" registry set-key m3-kratos "$K3"
    assert_status 0
    assert_same_file secrets.nix want
}

test_set_key_puts_a_let_around_a_set_without_one() {
    # Many registries bind no key and list them inline: set-key (and so `hosts add`) once
    # refused them as read-only; the let it adds is indented as the entries are.
    printf '# fleet secrets\n{\n    "secrets/vpn.age".publicKeys = [ "%s" ];\n}\n' "$A1" >secrets.nix
    run "$M3AGE" registry set-key m3-atlas "$K3"
    assert_status 0
    printf '# fleet secrets\nlet\n    m3-atlas = "%s";\nin\n{\n    "secrets/vpn.age".publicKeys = [ "%s" ];\n}\n' \
        "$K3" "$A1" >want
    assert_same_file secrets.nix want
    run "$M3AGE" registry add secrets/db.age m3-atlas
    assert_status 0
    assert_contains secrets.nix '    "secrets/db.age".publicKeys = [ m3-atlas ];'
    echo '{ "secrets/vpn.age".publicKeys = [ "'"$A1"'" ]; }' >keys.nix
    echo 'import ./keys.nix' >secrets.nix
    run "$M3AGE" registry set-key m3-atlas "$K3"
    assert_status 2
    assert_contains err "nor a set literal to put one around"
}

test_edits_see_through_a_top_level_with() {
    # `with keys;` before the set (keys from another file) leaves the set a literal: rm and
    # add with let-bound names edit it (they once called the registry computed).
    printf '{ m3tam3re = "%s"; }\n' "$K1" >keys.nix
    cat >secrets.nix <<NIX
let
  keys = import ./keys.nix;
  m3-ares = "$K2";
in
with keys;
{
  "secrets/wifi.age".publicKeys = [ m3tam3re m3-ares ];
  "secrets/vpn.age".publicKeys = [ m3tam3re ];
}
NIX
    run "$M3AGE" registry add secrets/db.age m3-ares
    assert_status 0
    run "$M3AGE" registry rm secrets/vpn.age
    assert_status 0
    cat >want <<NIX
let
  keys = import ./keys.nix;
  m3-ares = "$K2";
in
with keys;
{
  "secrets/wifi.age".publicKeys = [ m3tam3re m3-ares ];
  "secrets/db.age".publicKeys = [ m3-ares ];
}
NIX
    assert_same_file secrets.nix want
    run "$M3AGE" registry add secrets/x.age m3tam3re
    assert_status 2
    assert_contains err "'m3tam3re' is not a key bound in the top-level let"
    assert_same_file secrets.nix want
}

test_set_key_on_a_computed_binding_is_read_only() {
    split_registry
    cp secrets.nix before
    run "$M3AGE" registry set-key users "$K3"
    assert_status 2
    assert_contains err "read-only"
    assert_same_file secrets.nix before
}

test_set_key_escapes_the_string() {
    split_registry
    # an SSH key's comment may hold anything, Nix's string syntax included
    run "$M3AGE" registry set-key odd "$K3"' a "quoted" ${x} \ key'
    assert_status 0
    assert_contains secrets.nix "  odd = \"$K3"' a \"quoted\" \${x} \\ key";'
    run "$M3AGE" registry eval --json
    assert_status 0
}

# A key that no command could use is refused before the registry is touched.
test_set_key_refuses_what_is_not_a_recipient() {
    split_registry
    cp secrets.nix before
    for bad in 'not a key' 'ssh-ed25519 AAAAnew root@m3-ares' 'age1notbech32'; do
        run "$M3AGE" registry set-key m3-ares "$bad"
        assert_status 2
        assert_contains err "set-key m3-ares: not a recipient m3age can use"
        assert_contains err "m3age: hint:"
        assert_same_file secrets.nix before
    done
}

test_rm_removes_every_binding_of_the_entry() {
    cat >secrets.nix <<'NIX'
let k = "age1qqq"; in
{
  "a.age".publicKeys = [ k ];
  # b is armored
  "b.age".publicKeys = [ k ];
  "c.age".publicKeys = [ k ];
  "b.age".armor = true;
}
NIX
    run "$M3AGE" registry rm b.age
    assert_status 0
    cat >want <<'NIX'
let k = "age1qqq"; in
{
  "a.age".publicKeys = [ k ];
  # b is armored
  "c.age".publicKeys = [ k ];
}
NIX
    assert_same_file secrets.nix want
}

test_rm_unknown_entry_exits_1() {
    split_registry
    cp secrets.nix before
    run "$M3AGE" registry rm secrets/nope.age
    assert_status 1
    assert_contains err "no entry 'secrets/nope.age'"
    assert_same_file secrets.nix before
}

test_rm_key_drops_binding_and_list_uses() {
    split_registry
    run "$M3AGE" registry rm-key m3-ares
    assert_status 0
    cat >want <<NIX
# fleet secrets
let
  m3tam3re = "$K1"; # user
  users = [ m3tam3re ];
in
{
  "secrets/wifi.age".publicKeys = users; # home network
  "secrets/vpn.age".publicKeys = [ m3tam3re ];
}
NIX
    assert_same_file secrets.nix want
}

test_rm_key_that_would_empty_an_entry_is_refused() {
    split_registry
    cp secrets.nix before
    run "$M3AGE" registry rm-key m3tam3re
    assert_status 2
    assert_contains err "without keys"
    assert_same_file secrets.nix before
}

test_rm_key_used_outside_a_list_is_read_only() {
    cat >secrets.nix <<'NIX'
let k = "age1qqq"; j = "age1jjj"; in
{ "a.age".publicKeys = [ j ]; "b.age" = { publicKeys = [ j ]; note = k; }; }
NIX
    cp secrets.nix before
    run "$M3AGE" registry rm-key k
    assert_status 2
    assert_contains err "secrets.nix:2:"
    assert_contains err "read-only"
    assert_same_file secrets.nix before
}

# A registry written with "\r\n" line ends (an editor on Windows, core.autocrlf) is edited
# as its "\n" twin is, line for line, and the lines m3age adds end in "\r\n" too (they once
# went on the end of the line before: the "\r" hid the newline).
test_edits_keep_crlf_line_ends() {
    local op
    for op in "set-key m3-atlas $A1" "add secrets/new.age m3tam3re m3-ares" \
        "rm secrets/vpn.age" "rm-key m3-ares"; do
        split_registry
        run "$M3AGE" registry $op
        assert_status 0
        sed 's/$/\r/' secrets.nix >want
        split_registry
        sed 's/$/\r/' secrets.nix >crlf && mv crlf secrets.nix
        run "$M3AGE" registry $op
        assert_status 0
        assert_same_file secrets.nix want
        run "$M3AGE" registry eval
        assert_status 0
    done
}

test_edit_keeps_mode_and_leaves_no_temp() {
    split_registry
    chmod 0640 secrets.nix
    run "$M3AGE" registry add n.age m3tam3re
    assert_status 0
    assert_eq "$(stat -c %a secrets.nix)" 640 "mode"
    assert_no_temp .
}

test_rules_env_and_walk_up() {
    mkdir -p repo/.git repo/hosts/m3-ares
    (cd repo && split_registry)
    cd repo/hosts/m3-ares
    run "$M3AGE" registry eval -v
    assert_status 0
    assert_contains err "using registry"
    assert_contains out "secrets/vpn.age"
    cd ../../..
    cp repo/secrets.nix other.nix
    RULES=other.nix run "$M3AGE" registry rm secrets/vpn.age
    assert_status 0
    assert_not_contains other.nix "vpn"
    assert_contains repo/secrets.nix "vpn"
}

test_discovery_order_and_the_file_in_messages() {
    mkdir -p repo/.git repo/sub
    printf '{ "root.age".publicKeys = [ "%s" ]; }\n' "$A1" >repo/secrets.nix
    printf '{ "env.age".publicKeys = [ "%s" ]; }\n' "$A1" >repo/env.nix
    printf '{ "opt.age".publicKeys = [ "%s" ]; }\n' "$A1" >repo/opt.nix
    printf '{ "sub.age".publicKeys = [ "%s" ]; }\n' "$A1" >repo/sub/secrets.nix
    cd repo/sub
    # ./secrets.nix before walking up
    run "$M3AGE" registry eval -v
    assert_contains out "sub.age"
    assert_contains err "using registry 'secrets.nix' (from ./secrets.nix)"
    # RULES before ./secrets.nix
    RULES=../env.nix run "$M3AGE" registry eval -v
    assert_contains out "env.age"
    assert_contains err "using registry '../env.nix' (from RULES)"
    # --rules before RULES
    RULES=../env.nix run "$M3AGE" registry eval -v --rules ../opt.nix
    assert_contains out "opt.age"
    assert_contains err "using registry '../opt.nix' (from --rules)"
    # walking up when there is none here
    rm secrets.nix
    run "$M3AGE" registry eval -v
    assert_contains out "root.age"
    assert_contains err "(from parent)"
    # every error names the file used
    printf '{ "x.age".publicKeys = [ "k" ] }\n' >../env.nix
    RULES=../env.nix run "$M3AGE" registry eval
    assert_status 2
    assert_one_error_line "m3age: error: ../env.nix:1:32: unexpected '}', expected ';'"
}

test_no_registry_found() {
    mkdir .git
    run "$M3AGE" registry eval
    assert_status 2
    assert_contains err "no secrets.nix"
    assert_contains err "hint:"
}

test_eval_syntax_error_has_position() {
    printf '{\n  "a.age".publicKeys = [ "k" ]\n}\n' >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_eq "$(cat err)" "m3age: error: secrets.nix:3:1: unexpected '}', expected ';'
m3age: hint: missing ';' at the end of line 2?"
}

test_eval_warns_on_unknown_attribute() {
    printf '{ "a.age" = { publicKeys = [ "%s" ]; owner = "root"; }; }\n' "$A1" >secrets.nix
    run "$M3AGE" registry eval
    assert_status 0
    assert_contains err "warning: secrets.nix:1:98: 'a.age': unknown attribute 'owner'"
}

test_eval_rejects_keys_m3age_cannot_use() {
    printf 'let\n  bad = "ssh-dss AAAAB3NzaC1kc3MAAACBAP";\nin\n{\n  "a.age".publicKeys = [ bad ];\n  "b.age".publicKeys = [ "%s" bad "age1nope" ];\n}\n' "$A1" >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_empty out
    assert_contains err "m3age: error: secrets.nix:2:9: 'a.age': publicKeys element 1 is not a recipient m3age can use"
    assert_contains err "m3age: error: secrets.nix:6:95: 'b.age': publicKeys element 3 is not a recipient m3age can use"
    [ "$(grep -c 'error:' err)" -eq 2 ] || _fail "a shared bad key is reported once: $(cat err)"
    assert_contains err "hint:"
    # the JSON is Nix's value, which does not judge keys
    run "$M3AGE" registry eval --json
    assert_status 0
}

# Regression: bad keys were remembered in a table of 16, so a registry with more distinct bad
# keys printed one error per use (5,655 lines for 100 bad keys in 2,000 secrets), and every
# good key was parsed again at each use (half a second for 2,000 secrets).
test_eval_reports_each_bad_key_once() {
    {
        echo 'let'
        for i in $(seq 1 20); do
            printf '  k%02d = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBad%02d";\n' "$i" "$i"
        done
        echo '  all = [ k01 k02 k03 k04 k05 k06 k07 k08 k09 k10 k11 k12 k13 k14 k15 k16 k17 k18 k19 k20 ];'
        echo 'in {'
        for s in 1 2 3; do printf '  "s%s.age".publicKeys = all ++ [ "%s" ];\n' "$s" "$A1"; done
        # the same bad text written a second time, not through the binding
        printf '  "s4.age".publicKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBad01" ];\n'
        echo '}'
    } >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_empty out
    [ "$(grep -c 'error:' err)" -eq 20 ] || _fail "20 bad keys, each reported once: $(cat err)"
    assert_contains err "m3age: error: secrets.nix:2:9: 's1.age': publicKeys element 1 is not a recipient m3age can use"
    assert_contains err "m3age: error: secrets.nix:21:9: 's1.age': publicKeys element 20 is not a recipient m3age can use"
    assert_not_contains err "'s2.age'"
    assert_not_contains err "'s4.age'"
}

test_eval_rejects_empty_public_keys() {
    printf '{ "a.age".publicKeys = [ ]; }\n' >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_contains err "secrets.nix:1:11: 'a.age': publicKeys is empty"
}

test_nix_delegation() {
    command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"
    split_registry
    run "$M3AGE" registry eval --json
    cp out ours
    NIX_REMOTE= NIX_PATH= run "$M3AGE" registry eval --json --nix
    assert_status 0
    assert_same_file out ours
}

test_help_and_usage() {
    run "$M3AGE" registry --help
    assert_status 0
    assert_contains out "m3age registry eval"
    run "$M3AGE" registry frobnicate
    assert_status 2
    assert_contains err "unknown registry subcommand"
    run "$M3AGE" registry eval --rules
    assert_status 2
}

run_tests
