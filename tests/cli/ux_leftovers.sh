#!/bin/bash
# ux_leftovers.sh: the rough edges of the new-user walkthrough (docs/findings/ux-walkthrough.md)
# left after issue 21: each test names its row and checks what a user sees.
. "$(dirname "$0")/../lib.sh"

K1="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIF66AiyVyBre01owvNix6Kpc/U4t2ZQpt/AFISJsJZtD"
K2="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN8GoSYD38RcBNQs59kxmGABAcprvMSSOmDzhnOy3mpH"
K3="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDKaF3xjulp1IVGQVzRVqijLzCVpu9gsdVbNUU/nL9I+"

# row 15: the new entry copies the style most entries use, not only the last entry's
test_row15_add_uses_the_majority_style() {
    cat >secrets.nix <<NIX
let
  m3tam3re = "$K1";
  m3-helios = "$K2";
  users = [ m3tam3re ];
in
{
  "secrets/wifi.age".publicKeys = users ++ [ m3-helios ];
  "secrets/vpn.age".publicKeys = users;
  "secrets/mail.age".publicKeys = [ m3tam3re ];
  "secrets/db.age" = { publicKeys = users; armor = true; };
}
NIX
    head -10 secrets.nix >want
    echo '  "secrets/grafana.age".publicKeys = users ++ [ m3-helios ];' >>want
    echo '}' >>want
    run "$M3AGE" registry add secrets/grafana.age users m3-helios
    assert_status 0
    assert_same_file secrets.nix want
}

# row 20: removing the only element of a list joined by ++ drops `++ [ ]` as well
test_row20_rm_key_drops_the_emptied_concat_list() {
    cat >secrets.nix <<NIX
let
  m3tam3re = "$K1";
  m3-ares = "$K2";
  m3-zeus = "$K3";
  users = [ m3tam3re ];
  desktops = [ m3-ares ];
in
{
  "secrets/wifi.age".publicKeys = users ++ desktops ++ [ m3-zeus ]; # home
  "secrets/zeus.age".publicKeys = [ m3-zeus ] ++ users;
  "secrets/both.age".publicKeys = users ++ [
    m3-zeus
  ];
  "secrets/vpn.age".publicKeys = users ++ [ m3-ares m3-zeus ];
}
NIX
    cat >want <<NIX
let
  m3tam3re = "$K1";
  m3-ares = "$K2";
  users = [ m3tam3re ];
  desktops = [ m3-ares ];
in
{
  "secrets/wifi.age".publicKeys = users ++ desktops; # home
  "secrets/zeus.age".publicKeys = users;
  "secrets/both.age".publicKeys = users;
  "secrets/vpn.age".publicKeys = users ++ [ m3-ares ];
}
NIX
    run "$M3AGE" registry rm-key m3-zeus
    assert_status 0
    assert_same_file secrets.nix want
}

# row 20 as the walkthrough met it: hosts rm of a host that was the only element of a list
test_row20_hosts_rm_leaves_no_empty_list() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    mkdir -p home
    export HOME=$PWD/home
    cd repo
    ssh-keygen -q -t ed25519 -N '' -C root@m3-zeus -f ../m3-zeus
    sed -i "s|^in$|  m3-zeus = \"$(cut -d' ' -f1,2 ../m3-zeus.pub)\";\nin|" secrets.nix
    sed -i 's|"secrets/wifi.age".publicKeys = users ++ workstations;|"secrets/wifi.age".publicKeys = users ++ workstations ++ [ m3-zeus ];|' secrets.nix
    grep -qF 'users ++ workstations ++ [ m3-zeus ];' secrets.nix || _fail "fixture: $(cat secrets.nix)"
    run "$M3AGE" hosts rm m3-zeus --no-rekey
    assert_status 0
    grep -qF '  "secrets/wifi.age".publicKeys = users ++ workstations;' secrets.nix ||
        _fail "wifi.age: $(grep wifi secrets.nix)"
    assert_not_contains secrets.nix "m3-zeus"
}

# row 3: a typo'd flag first, one age does not know either: m3age's error and both hints,
# not age's usage; called as age, age's behaviour is kept
test_row3_unknown_flag_first_names_it_with_both_hints() {
    run "$M3AGE" -x
    assert_status 2
    assert_lines err 2
    assert_contains err "m3age: error: unknown flag '-x'"
    assert_contains err "m3age: hint: 'm3age --help' lists m3age's commands; 'm3age -h' shows"
    assert_not_contains err "Usage:"
    assert_empty out
    ln -s "$BUILD/m3age" age
    run ./age -x
    assert_status 1
    assert_contains err "age: error: unknown or incomplete flag '-x'"
    assert_contains err "Usage:"
    run "$M3AGE" -r
    assert_status 1
    assert_contains err "unknown or incomplete flag '-r'"
}

# issue 21 leftover: the JSON rekey plan lists the stanzas a rekey keeps (the text plan's
# `?1 fido2-hmac stanza ... (kept; --force drops it)`), and keys inspect --json gives the tag
# of tagged P-256 stanzas as the text output does
test_plan_json_lists_kept_stanzas_and_inspect_json_p256_tags() {
    command -v openssl >/dev/null && command -v python3 >/dev/null || skip "no openssl/python3"
    . "$SRCDIR/tests/cli/yubikey_lib.inc"
    yk_repo
    yk_encrypt secrets/tailscale.age m3tam3re -- "$(piv yk-primary)" "$(piv yk-backup)" \
        "fido2-hmac AbCd"
    want='{"file": "secrets/tailscale.age", "state": "same", "add": [], "remove": [], "kept": ["1 fido2-hmac stanza"], "error": null}'
    run "$M3AGE" diff --json
    assert_status 0
    assert_contains out "$want"
    assert_contains out '{"file": "secrets/wifi.age", "state": "same", "add": [], "remove": [], "kept": [], "error": null}'
    run "$M3AGE" rekey --dry-run --json
    assert_status 0
    assert_contains out "$want"
    run "$M3AGE" rekey --dry-run --force --json -i "$YK/m3tam3re" secrets/tailscale.age
    assert_contains out '"remove": ["1 fido2-hmac stanza not attributable to any key"], "kept": []'
    run "$M3AGE" keys inspect --json secrets/tailscale.age
    assert_status 0
    assert_contains out "{\"type\": \"piv-p256\", \"tag\": \"$TAG_PRIMARY\", \"keys\": [\"keys.yubikeys.primary\"]}"
    assert_contains out '{"type": "fido2-hmac", "tag": null, "keys": []}'
}

# row 34: a missing ';' that the parser finds only at the next binding gets a hint naming
# the line it belongs to, in every command, which name the registry alike
test_row34_missing_semicolon_hint_in_every_command() {
    cat >secrets.nix <<NIX
let
  m3tam3re = "$K1";
  m3-ares = "$K2";
in
{
  "secrets/wifi.age".publicKeys = [ m3tam3re ];
  # the VPN
  "secrets/vpn.age".publicKeys = [ m3tam3re m3-ares ]

  "secrets/x.age".publicKeys = [ m3tam3re ];
}
NIX
    cp secrets.nix before
    mkdir -p secrets hosts/m3-ares
    "$M3AGE_FIXTURE" encrypt -r "$K1" -o secrets/wifi.age secrets.nix
    for c in "registry eval" audit "rekey -n" diff "hosts rm m3-ares" \
        "keys inspect secrets/wifi.age" "edit secrets/wifi.age"; do
        # shellcheck disable=SC2086
        run "$M3AGE" $c
        assert_status 2
        assert_eq "$(cat err)" "m3age: error: secrets.nix:10:30: unexpected '=', expected ';'
m3age: hint: missing ';' at the end of line 8?" "$c"
    done
    run "$M3AGE" check --host m3-ares
    assert_status 2
    assert_contains err "m3age: hint: missing ';' at the end of line 8?"
    assert_same_file secrets.nix before
    sed -i '3s/;$//' secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_eq "$(cat err)" "m3age: error: secrets.nix:4:1: unexpected 'in', expected ';'
m3age: hint: missing ';' at the end of line 3?" "let"
    # another syntax error on one line: no such guess
    printf '{ "secrets/x.age".publicKeys = [ "%s" ] ]; }\n' "$K1" >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_one_error_line "expected ';'"
}

# the same guess for a host module that does not parse (the host scan keeps the parser's hint)
test_row34_missing_semicolon_hint_in_a_host_module() {
    printf '{\n  "secrets/wifi.age".publicKeys = [ "%s" ];\n}\n' "$K1" >secrets.nix
    mkdir -p secrets hosts/m3-ares
    "$M3AGE_FIXTURE" encrypt -r "$K1" -o secrets/wifi.age secrets.nix
    cat >hosts/m3-ares/default.nix <<'NIX'
{ ... }:
{
  age.secrets.wifi.file = ../../secrets/wifi.age
  networking.hostName = "m3-ares";
}
NIX
    for c in audit "check --host m3-ares"; do
        # shellcheck disable=SC2086
        run "$M3AGE" $c
        assert_status 2
        assert_contains err "hosts/m3-ares/default.nix:4:23: unexpected '=', expected ';'" "$c"
        assert_contains err "m3age: hint: missing ';' at the end of line 3?" "$c"
    done
}

# row 21: a host removed without a rekey leaves its key in a header: hosts rm, audit and
# check name it by the same tag, said to be a tag (not a piece of the SHA256: fingerprint)
test_row21_hosts_rm_audit_and_check_show_the_same_tag() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    mkdir -p home
    export HOME=$PWD/home
    cd repo
    chmod 600 demo-keys/*
    ssh-keygen -q -t ed25519 -N '' -C root@m3-zeus -f ../m3-zeus
    run "$M3AGE" hosts add m3-zeus ../m3-zeus.pub --to servers --rekey -i demo-keys/m3tam3re-age.txt
    assert_status 0
    fp=$(ssh-keygen -lf ../m3-zeus.pub | awk '{print $2}')
    run "$M3AGE" hosts rm m3-zeus --no-rekey
    assert_status 0
    t=$(sed -nE 's/.*\(tag ([A-Za-z0-9+\/]{6}) in age headers\).*/\1/p' out)
    [ -n "$t" ] || _fail "no tag in: $(cat out)"
    assert_contains out "m3-zeus: removed ssh-ed25519 key $fp (tag $t in age headers) from secrets.nix"
    grep -aqF -- "-> ssh-ed25519 $t " secrets/m3tam3re-password.age || _fail "tag $t not in the header"
    run "$M3AGE" audit
    assert_contains out "still encrypted to unknown ssh-ed25519 key with tag $t, which"
    assert_not_contains out "(tag "
    run "$M3AGE" check --host m3-helios
    assert_status 1
    assert_contains out "unknown ssh-ed25519 key with tag $t"
    # the host's folder kept its key: audit names the file that holds it
    mkdir hosts/m3-zeus
    cp ../m3-zeus.pub hosts/m3-zeus/ssh_host_ed25519_key.pub
    run "$M3AGE" audit
    assert_contains out "still encrypted to unknown ssh-ed25519 key with tag $t, the key in hosts/m3-zeus/ssh_host_ed25519_key.pub, which its registry entry does not list"
}

# row 48: agenix's classic layout (secrets/secrets.nix, names relative to secrets/) without
# .git: from secrets/, the hosts one level up are found through the flake.nix beside them
# (reg_trust_root); without that marker the folder is its own root and audit says so
test_row48_classic_layout_without_git_finds_hosts_above() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    sed 's|"secrets/|"|' repo/secrets.nix >repo/secrets/secrets.nix
    rm repo/secrets.nix
    echo '{ }' >repo/flake.nix
    # run from repo/secrets, with out and err kept out of it (not plaintext in secrets/)
    in_secrets() { run sh -c 'cd repo/secrets && exec "$@"' sh "$@"; }
    in_secrets "$M3AGE" audit
    assert_status 0
    assert_contains out "0 errors, 0 warnings, 0 notes (6 secrets, 7 hosts)"
    assert_empty err
    in_secrets "$M3AGE" check --host m3-atlas
    assert_status 0
    assert_contains out "m3-atlas: ready (2 secrets)"
    rm repo/flake.nix
    in_secrets "$M3AGE" audit
    assert_contains out "(6 secrets, 0 hosts)"
    assert_contains err "m3age: warning: no host found"
}

# row 31: a wrong key on a secret of the registry: whom the file is for, by registry name
# (as keys inspect names them), and the key tried; the registry is read only on that failure
test_row31_no_match_names_whom_the_secret_is_for() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    cd repo
    chmod 600 demo-keys/*
    run "$M3AGE" decrypt -i demo-keys/m3-helios.ssh_host_ed25519_key secrets/wifi.age
    assert_status 1
    assert_empty out
    assert_eq "$(cat err)" "m3age: error: secrets/wifi.age: no identity matched any of the recipients
m3age: hint: secrets/wifi.age (entry 'secrets/wifi.age' of secrets.nix) is encrypted to m3tam3re, m3-ares, m3-kratos, m3-daedalus, 1 X25519 key; the identity tried (demo-keys/m3-helios.ssh_host_ed25519_key) is none of them"
    # not an entry: age's message alone
    cp secrets/wifi.age ../copy.age
    run "$M3AGE" decrypt -i demo-keys/m3-helios.ssh_host_ed25519_key ../copy.age
    assert_status 1
    assert_one_error_line "no identity matched any of the recipients"
    # a plain decrypt does not read the registry: a broken one does not stop it
    echo '{ broken' >>secrets.nix
    run "$M3AGE" decrypt -i demo-keys/m3tam3re-age.txt secrets/wifi.age
    assert_status 0
    assert_empty err
    run "$M3AGE" decrypt -i demo-keys/m3-helios.ssh_host_ed25519_key secrets/wifi.age
    assert_status 1
    assert_one_error_line "no identity matched any of the recipients"
}

run_tests
