#!/bin/bash
# registry_hosts.sh: `m3age registry hosts` finds the secret files host modules use.
. "$(dirname "$0")/../lib.sh"

fleet() {
    mkdir -p .git hosts/m3-ares/services hosts/m3-atlas hosts/m3-aether secrets
    cat >hosts/m3-ares/default.nix <<'NIX'
{ config, lib, self, inputs, ... }:
{
  imports = [ ./services ];
  age.secrets.wifi.file = ../../secrets/wifi.age;
  age.secrets."m3tam3re-password" = {
    file = "${self}/secrets/m3tam3re-password.age";
    owner = "m3tam3re";
    mode = "0400";
  };
  config = lib.mkIf true {
    age.secrets = {
      vpn = { file = self + "/secrets/vpn.age"; group = "wheel"; };
      other.file = someVar;
    };
  };
}
NIX
    echo '{ ... }: { age.secrets.restic.file = ../../../secrets/restic.age; }' \
        >hosts/m3-ares/services/default.nix
    echo '{ inputs, ... }: { age.secrets.db.file = "${inputs.self}/secrets/atlas-db.age"; }' \
        >hosts/m3-atlas/configuration.nix
    echo '{ }' >hosts/m3-aether/default.nix
}

test_hosts_lists_files_per_host() {
    fleet
    run "$M3AGE" registry hosts
    assert_status 0
    cat >want <<'EOF2'
m3-aether
m3-ares
  secrets/m3tam3re-password.age  (age.secrets.m3tam3re-password, hosts/m3-ares/default.nix:6:12)
  secrets/restic.age  (age.secrets.restic, hosts/m3-ares/services/default.nix:1:38)
  secrets/vpn.age  (age.secrets.vpn, hosts/m3-ares/default.nix:12:22)
  secrets/wifi.age  (age.secrets.wifi, hosts/m3-ares/default.nix:4:27)
  ? someVar  (age.secrets.other, hosts/m3-ares/default.nix:13:20: not resolved)
m3-atlas
  secrets/atlas-db.age  (age.secrets.db, hosts/m3-atlas/configuration.nix:1:42)
EOF2
    assert_same_file out want
}

test_hosts_json() {
    fleet
    run "$M3AGE" registry hosts --json
    assert_status 0
    assert_contains out '"m3-atlas":{"secrets":[{"name":"db","file":"secrets/atlas-db.age","at":"hosts/m3-atlas/configuration.nix","line":1,"col":42}],"unresolved":[]}'
    assert_contains out '"unresolved":[{"name":"other","expr":"someVar","at":"hosts/m3-ares/default.nix","line":13,"col":20}]'
}

test_hosts_from_a_subfolder() {
    fleet
    cd hosts/m3-atlas
    run "$M3AGE" registry hosts
    assert_status 0
    assert_contains out "secrets/atlas-db.age"
}

test_hosts_syntax_error_is_reported() {
    fleet
    echo '{ age.secrets.x.file = ; }' >hosts/m3-atlas/broken.nix
    run "$M3AGE" registry hosts
    assert_status 2
    assert_one_error_line "hosts/m3-atlas/broken.nix:1:24: unexpected ';'"
}

test_no_hosts_folder() {
    mkdir .git
    run "$M3AGE" registry hosts
    assert_status 2
    assert_contains err "no hosts/ folder"
}

# The other forms: inputs.X + "/x", a quoted name with a space, the set form with
# owner/group/mode, paths relative to a nested module, and what cannot be resolved.
test_hosts_other_forms() {
    mkdir -p .git hosts/m3-hermes/mods
    cat >hosts/m3-hermes/default.nix <<'NIX'
{ inputs, self, ... }:
{
  age.secrets."hermes-token".file = inputs.secrets + "/hermes/token.age";
  age.secrets.mail = { file = ./mail.age; owner = "mail"; group = "mail"; mode = "0440"; };
  age.secrets = { "dkim key".file = "${self}/secrets/dkim.age"; };
}
NIX
    echo '{ ... }: { age.secrets.x.file = ../../../secrets/x.age; age.secrets.y.file = builtins.toPath "/x"; }' \
        >hosts/m3-hermes/mods/a.nix
    run "$M3AGE" registry hosts
    assert_status 0
    cat >want <<'EOF2'
m3-hermes
  hermes/token.age  (age.secrets.hermes-token, hosts/m3-hermes/default.nix:3:37)
  hosts/m3-hermes/mail.age  (age.secrets.mail, hosts/m3-hermes/default.nix:4:31)
  secrets/dkim.age  (age.secrets.dkim key, hosts/m3-hermes/default.nix:5:37)
  secrets/x.age  (age.secrets.x, hosts/m3-hermes/mods/a.nix:1:33)
  ? builtins.toPath "/x"  (age.secrets.y, hosts/m3-hermes/mods/a.nix:1:78: not resolved)
EOF2
    assert_same_file out want
}

# Regression (found by fuzz_hosts): a file string holding a NUL byte resolved to the text
# before it, and "${self}/." to the repository root; both name no file and are unresolved.
test_hosts_nul_byte_and_repository_root_are_unresolved() {
    mkdir -p .git hosts/m3-helios
    {
        printf '{ self, ... }:\n{\n'
        printf '  age.secrets.root.file = "${self}/.";\n'
        printf '  age.secrets.raw.file = "${self}/x\000y.age";\n'
        printf '  age.secrets.ok.file = "${self}/secrets/ok.age";\n}\n'
    } >hosts/m3-helios/default.nix
    run "$M3AGE" registry hosts
    assert_status 0
    assert_contains out '  secrets/ok.age  (age.secrets.ok, hosts/m3-helios/default.nix:5:25)'
    assert_contains out '(age.secrets.root, hosts/m3-helios/default.nix:3:27: not resolved)'
    assert_contains out '(age.secrets.raw, hosts/m3-helios/default.nix:4:26: not resolved)'
    [ "$(grep -c '^  [^ ?]' out)" -eq 1 ] || _fail "resolved more than secrets/ok.age: $(cat out)"
}

run_tests
