#!/bin/bash
# audit and check on a realistic seven-host flake: secrets wired through shared modules
# (hosts/common, modules/services, a mkHost helper in flake.nix, self + "/secrets/x.age",
# "${inputs.secrets}/x.age", ../../secrets/x.age), and a secrets folder that also holds
# public keys, files other tools encrypted, repository files and two real leaks.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "audit_layouts: skipped (no ssh-keygen)"; exit 0; }
command -v age >/dev/null || { echo "audit_layouts: skipped (no age)"; exit 0; }

HOSTS="m3-ares m3-kratos m3-daedalus m3-atlas m3-helios m3-hermes m3-aether"
FX=$T_ROOT/fleet # the repository, made once and copied by each test

# make_fleet: the repository in $FX (ssh-keygen keys, files encrypted with the age binary).
make_fleet() {
    local k f
    mkdir -p "$FX/keys" "$FX/secrets" "$FX/modules/services" "$FX/modules/cloud" "$FX/hosts/common"
    cd "$FX"
    for k in m3tam3re $HOSTS; do
        ssh-keygen -q -t ed25519 -N '' -C "$k" -f "keys/$k" </dev/null >/dev/null
    done
    {
        echo 'let'
        for k in m3tam3re $HOSTS; do printf '  %s = "%s";\n' "$k" "$(cut -d' ' -f1,2 "keys/$k.pub")"; done
        cat <<'NIX'
  users = [ m3tam3re ];
  desktops = [ m3-ares m3-kratos m3-daedalus ];
  servers = [ m3-atlas m3-helios m3-hermes ];
  all = desktops ++ servers ++ [ m3-aether ];
in
{
  "m3tam3re-password.age".publicKeys = users ++ all;
  "root-password.age".publicKeys = users ++ all;
  "nix-access-tokens.age".publicKeys = users ++ desktops ++ servers;
  "tailscale-auth-key.age".publicKeys = users ++ servers ++ [ m3-aether ];
  "restic-password.age".publicKeys = users ++ [ m3-atlas ];
  "restic-env.age".publicKeys = users ++ [ m3-atlas ];
  "nextcloud-admin.age".publicKeys = users ++ [ m3-helios ];
  "dkim-key.age".publicKeys = users ++ [ m3-hermes ];
  "syncthing-key.age".publicKeys = users ++ desktops;
  "wifi.age".publicKeys = users ++ [ m3-daedalus ];
  "cloud-init.age".publicKeys = users ++ [ m3-aether ];
  "old-vpn.age".publicKeys = users ++ [ m3-atlas ];
}
NIX
    } >secrets/secrets.nix
    # each file encrypted to exactly its entry's keys (as the registry evaluates them)
    "$M3AGE_FIXTURE" registry eval --rules secrets/secrets.nix --json >keys/eval.json
    for f in m3tam3re-password root-password nix-access-tokens tailscale-auth-key \
        restic-password restic-env nextcloud-admin dkim-key syncthing-key wifi cloud-init old-vpn; do
        python3 -c 'import json,sys; [print(k) for k in json.load(open(sys.argv[1]))[sys.argv[2]]["publicKeys"]]' \
            keys/eval.json "$f.age" >keys/rcpt
        printf 'value of %s\n' "$f" | age -e -R keys/rcpt -o "secrets/$f.age"
    done
    cat >flake.nix <<'NIX'
{
  description = "m3tam3re's fleet";
  inputs = {
    nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
    agenix.url = "github:ryantm/agenix";
    secrets = { url = "path:./secrets"; flake = false; };
  };
  outputs = { self, nixpkgs, agenix, ... }@inputs:
    let
      mkHost = name: nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        specialArgs = { inherit inputs self; };
        modules = [
          agenix.nixosModules.default
          ./hosts/${name}
          ./modules/common.nix
          { networking.hostName = name; }
        ];
      };
    in
    {
      nixosConfigurations = {
        m3-ares = mkHost "m3-ares";
        m3-kratos = mkHost "m3-kratos";
        m3-daedalus = mkHost "m3-daedalus";
        m3-atlas = mkHost "m3-atlas";
        m3-helios = mkHost "m3-helios";
        m3-hermes = mkHost "m3-hermes";
        m3-aether = nixpkgs.lib.nixosSystem {
          system = "aarch64-linux";
          specialArgs = { inherit inputs self; };
          modules = [ agenix.nixosModules.default ./hosts/m3-aether ./modules/cloud ];
        };
      };
    };
}
NIX
    cat >hosts/common/default.nix <<'NIX'
{ ... }:
{
  imports = [ ./users.nix ];
  age.secrets.m3tam3re-password.file = ../../secrets/m3tam3re-password.age;
}
NIX
    cat >hosts/common/users.nix <<'NIX'
{ self, config, ... }:
{
  age.secrets.root-password.file = self + "/secrets/root-password.age";
  users.users.root.hashedPasswordFile = config.age.secrets.root-password.path;
}
NIX
    cat >modules/common.nix <<'NIX'
{ self, ... }:
{
  nix.settings.experimental-features = [ "nix-command" "flakes" ];
  age.secrets.nix-access-tokens.file = "${self}/secrets/nix-access-tokens.age";
}
NIX
    cat >modules/desktop.nix <<'NIX'
{ lib, ... }:
{
  imports = [ ./services/syncthing.nix ];
  services.xserver.enable = lib.mkDefault true;
}
NIX
    cat >modules/cloud/default.nix <<'NIX'
{ ... }:
{
  imports = [ ../services/tailscale.nix ];
  age.secrets.cloud-init.file = ../../secrets/cloud-init.age;
}
NIX
    cat >modules/services/tailscale.nix <<'NIX'
{ config, ... }:
{
  age.secrets.tailscale-auth-key.file = ../../secrets/tailscale-auth-key.age;
  services.tailscale.authKeyFile = config.age.secrets.tailscale-auth-key.path;
}
NIX
    cat >modules/services/restic.nix <<'NIX'
{ ... }:
{
  age.secrets = {
    restic-password.file = ../../secrets/restic-password.age;
    restic-env = {
      file = ../../secrets/restic-env.age;
      owner = "root";
    };
  };
}
NIX
    echo '{ ... }: { age.secrets.nextcloud-admin.file = ../../secrets/nextcloud-admin.age; }' \
        >modules/services/nextcloud.nix
    echo '{ inputs, ... }: { age.secrets.dkim-key.file = "${inputs.secrets}/dkim-key.age"; }' \
        >modules/services/mail.nix
    echo '{ ... }: { age.secrets.syncthing-key.file = ../../secrets/syncthing-key.age; }' \
        >modules/services/syncthing.nix
    for k in $HOSTS; do mkdir -p "hosts/$k"; done
    printf '{ ... }:\n{\n  imports = [ ../common ./hardware.nix ../../modules/desktop.nix ];\n}\n' \
        >hosts/m3-ares/default.nix
    echo '{ ... }: { boot.loader.systemd-boot.enable = true; }' >hosts/m3-ares/hardware.nix
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/desktop.nix ];\n}\n' >hosts/m3-kratos/default.nix
    cat >hosts/m3-daedalus/default.nix <<'NIX'
{ ... }:
{
  imports = [ ../common ../../modules/desktop.nix ];
  age.secrets.wifi.file = ../../secrets/wifi.age;
}
NIX
    printf '{ ... }:\n{\n  imports = [\n    ../common\n    ../../modules/services/tailscale.nix\n    ../../modules/services/restic.nix\n  ];\n}\n' \
        >hosts/m3-atlas/default.nix
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/services/tailscale.nix ../../modules/services/nextcloud.nix ];\n}\n' \
        >hosts/m3-helios/default.nix
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/services/tailscale.nix ../../modules/services/mail.nix ];\n}\n' \
        >hosts/m3-hermes/default.nix
    printf '{ ... }:\n{\n  imports = [ ../common ];\n}\n' >hosts/m3-aether/default.nix

    # the secrets folder's other files: not secrets, or encrypted by other tools
    cp keys/m3-atlas.pub secrets/m3-atlas.pub
    printf 'm3-atlas,10.0.0.2 %s\n@cert-authority *.m3 %s\n' "$(cut -d' ' -f1,2 keys/m3-atlas.pub)" \
        "$(cut -d' ' -f1,2 keys/m3-helios.pub)" >secrets/known_hosts
    age-keygen 2>/dev/null | grep -o 'age1[0-9a-z]*' | sed 's/^/# backup key\n/' >secrets/recipients.txt
    printf 'openssl value\n' | openssl enc -aes-256-cbc -pbkdf2 -pass pass:m3tam3re -out secrets/legacy.enc
    printf '\0GITCRYPT\0%s' 'ciphertext-bytes' >secrets/crypted.bin
    printf 'password: ENC[AES256_GCM,data:Zm9v,iv:YmFy,tag:YmF6,type:str]\nsops:\n    version: 3.8.1\n' \
        >secrets/app.yaml
    if command -v gpg >/dev/null; then
        mkdir -m 700 keys/gnupg
        printf 'pgp value\n' | GNUPGHOME=$FX/keys/gnupg gpg --batch --quiet --pinentry-mode loopback \
            --passphrase m3tam3re -c -o secrets/backup.gpg 2>/dev/null
    fi
    [ -s secrets/backup.gpg ] || printf '\x8c\x0d\x04\x09\x03\x02abcdefgh\x01\xd2\x20rest' >secrets/backup.gpg
    printf 'rekey:\n    m3age rekey\n' >secrets/justfile
    printf '#!/bin/sh\nset -e\nexec m3age rekey "$@"\n' >secrets/rekey.sh
    printf 'DB_PASSWORD=change-me-please\n' >secrets/.env.example
    printf '# Secrets\n\nEdit with `m3age edit NAME.age`.\n' >secrets/README.md
    printf '*.txt\n' >secrets/.gitignore
    # two real leaks
    printf 'correct horse battery staple\n' >secrets/db-password.txt
    cp keys/m3-hermes secrets/m3-hermes_ssh_host_ed25519_key
    cd - >/dev/null
}

fleet() {
    [ -d "$FX" ] || (make_fleet) || _fail "cannot make the fleet"
    cp -r "$FX/." .
    rm -rf keys
}

test_audit_sees_shared_modules_and_only_real_leaks() {
    fleet
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 1 # the two leaks
    assert_contains out "2 errors, 1 warning, 11 notes (12 secrets, 7 hosts)"
    # M3A011 only for the secret no module uses
    assert_contains out "old-vpn.age"
    [ "$(grep -c M3A011 out)" -eq 1 ] || _fail "M3A011 on more than old-vpn.age: $(grep -B1 M3A011 out)"
    # hosts/common is imported, not a host: no M3A010 for it
    assert_not_contains out "M3A010"
    assert_not_contains out "hosts/common"
    # the leaks stay errors
    [ "$(grep -c M3A014 out)" -eq 2 ] || _fail "expected two M3A014: $(grep -B1 M3A014 out)"
    grep -A1 '^db-password.txt' out | grep -q 'error   M3A014' || _fail "db-password.txt: $(cat out)"
    grep -A1 '^m3-hermes_ssh_host_ed25519_key' out | grep -q 'error   M3A014.*private key' ||
        _fail "private key: $(cat out)"
    # the rest said for what it is, as notes
    local f
    for f in m3-atlas.pub known_hosts recipients.txt justfile rekey.sh .env.example README.md; do
        grep -A1 "^$f\$" out | grep -q 'note    M3A022' || _fail "$f: not an M3A022 note: $(cat out)"
    done
    for f in legacy.enc crypted.bin app.yaml backup.gpg; do
        grep -A1 "^$f\$" out | grep -q 'note    M3A023' || _fail "$f: not an M3A023 note: $(cat out)"
    done
    grep -A1 '^legacy.enc$' out | grep -q "openssl enc" || _fail "legacy.enc: $(cat out)"
    grep -A1 '^backup.gpg$' out | grep -q "OpenPGP" || _fail "backup.gpg: $(cat out)"
    assert_not_contains out ".gitignore"
    # leaks fixed: nothing but the unused secret (a warning) and notes
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 0
    assert_contains out "0 errors, 1 warning, 11 notes (12 secrets, 7 hosts)"
}

test_audit_json_says_which_module_and_host_use_each_secret() {
    fleet
    run "$M3AGE" audit --rules secrets/secrets.nix --json
    assert_status 1
    assert_contains out '{"file": "tailscale-auth-key.age", "host": "m3-aether", "module": "modules/services/tailscale.nix", "line": 3}'
    assert_contains out '{"file": "tailscale-auth-key.age", "host": "m3-atlas", "module": "modules/services/tailscale.nix", "line": 3}'
    assert_contains out '{"file": "root-password.age", "host": "m3-kratos", "module": "hosts/common/users.nix", "line": 3}'
    assert_contains out '{"file": "nix-access-tokens.age", "host": "m3-helios", "module": "modules/common.nix", "line": 4}'
    assert_contains out '{"file": "dkim-key.age", "host": "m3-hermes", "module": "modules/services/mail.nix", "line": 1}'
    assert_contains out '{"file": "syncthing-key.age", "host": "m3-ares", "module": "modules/services/syncthing.nix", "line": 1}'
    assert_contains out '"code": "M3A011", "severity": "warning", "file": "old-vpn.age"'
    assert_contains out '"code": "M3A023", "severity": "note", "file": "legacy.enc"'
    assert_contains out '"code": "M3A022", "severity": "note", "file": "m3-atlas.pub"'
    # m3-aether's own flake list has no modules/common.nix: it does not use that secret
    assert_not_contains out '{"file": "nix-access-tokens.age", "host": "m3-aether"'
    python3 -c 'import json,sys; d=json.load(open("out")); assert len(d["uses"]) == 33, len(d["uses"])' ||
        _fail "uses: $(grep -c '"host"' out)"
}

test_check_host_lists_what_its_modules_deploy() {
    fleet
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-atlas
    assert_status 0
    assert_contains out "m3-atlas: 6 secrets used by its modules"
    assert_contains out "ok    m3tam3re-password.age  (hosts/common/default.nix:4)"
    assert_contains out "ok    nix-access-tokens.age  (modules/common.nix:4)"
    assert_contains out "ok    restic-env.age  (modules/services/restic.nix:6)"
    assert_contains out "ok    restic-password.age  (modules/services/restic.nix:4)"
    assert_contains out "ok    root-password.age  (hosts/common/users.nix:3)"
    assert_contains out "ok    tailscale-auth-key.age  (modules/services/tailscale.nix:3)"
    assert_contains out "m3-atlas: ready (6 secrets)"
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-aether
    assert_status 0
    assert_contains out "m3-aether: 4 secrets used by its modules"
    assert_contains out "ok    cloud-init.age  (modules/cloud/default.nix:4)"
    assert_not_contains out "nix-access-tokens"
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-hermes
    assert_status 0
    assert_contains out "ok    dkim-key.age  (modules/services/mail.nix:1)"
    # a shared module's secret the host's key cannot open: the host is not ready
    sed -i 's/users ++ servers ++ \[ m3-aether \]/users ++ [ m3-atlas m3-helios m3-aether ]/' secrets/secrets.nix
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-hermes
    assert_status 1
    # one line per secret: its first finding, then the other codes (M3A009: the host uses it)
    assert_contains out "FAIL  tailscale-auth-key.age: still encrypted to m3-hermes, which its registry entry does not list"
    grep 'FAIL  tailscale-auth-key.age' out | grep -q 'M3A009' || _fail "no M3A009: $(cat out)"
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_contains out "host m3-hermes uses it (age.secrets.tailscale-auth-key in modules/services/tailscale.nix:3)"
    run "$M3AGE" check --rules secrets/secrets.nix --host common
    assert_status 2
    assert_contains err "no host 'common': other hosts import hosts/common"
}

test_hosts_named_by_the_flake_without_a_hosts_folder() {
    fleet
    local keys=$FX/keys
    mkdir -p other/machines other/modules other/secrets
    cd other
    printf 'let\n  m3tam3re = "%s";\n  m3-ares = "%s";\n  m3-atlas = "%s";\nin\n{\n' \
        "$(cut -d' ' -f1,2 "$keys/m3tam3re.pub")" "$(cut -d' ' -f1,2 "$keys/m3-ares.pub")" \
        "$(cut -d' ' -f1,2 "$keys/m3-atlas.pub")" >secrets.nix
    printf '  "secrets/%s.age".publicKeys = [ m3tam3re %s ];\n' a m3-ares b m3-atlas c m3-atlas >>secrets.nix
    echo '}' >>secrets.nix
    cut -d' ' -f1,2 "$keys/m3tam3re.pub" "$keys/m3-ares.pub" >rcpt-a
    cut -d' ' -f1,2 "$keys/m3tam3re.pub" "$keys/m3-atlas.pub" >rcpt-b
    for f in a b c; do
        printf 'value %s\n' "$f" | age -e -R "rcpt-$([ $f = a ] && echo a || echo b)" -o "secrets/$f.age"
    done
    rm rcpt-a rcpt-b
    cat >flake.nix <<'NIX'
{
  outputs = { self, nixpkgs, ... }:
    let
      mkHost = name: nixpkgs.lib.nixosSystem { modules = [ ./machines/${name}.nix ]; };
    in
    {
      nixosConfigurations = {
        m3-ares = mkHost "m3-ares";
        m3-atlas = mkHost "m3-atlas";
      };
    };
}
NIX
    echo '{ ... }: { age.secrets.a.file = ../secrets/a.age; }' >machines/m3-ares.nix
    echo '{ ... }: { imports = [ ../modules/backup.nix ]; }' >machines/m3-atlas.nix
    echo '{ ... }: { age.secrets.b.file = ../secrets/b.age; }' >modules/backup.nix
    run "$M3AGE" audit
    assert_status 0
    assert_contains out "0 errors, 1 warning, 0 notes (3 secrets, 2 hosts)"
    grep -A1 '^secrets/c.age$' out | grep -q M3A011 || _fail "$(cat out)"
    run "$M3AGE" check --host m3-atlas
    assert_status 0
    assert_contains out "ok    secrets/b.age  (modules/backup.nix:1)"
    run "$M3AGE" check --host m3-styx
    assert_status 2
    assert_contains err "no host 'm3-styx' (no folder hosts/m3-styx in"
    run "$M3AGE" check --host ../machines
    assert_status 2
    assert_contains err "no host '../machines' (no folder hosts/../machines in"
}

test_flake_helper_by_genAttrs_and_formals() {
    fleet
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    cat >flake.nix <<'NIX'
{
  outputs = { self, nixpkgs, agenix, ... }@inputs:
    let
      lib = nixpkgs.lib;
      mkSystem = { hostname, system ? "x86_64-linux" }: lib.nixosSystem {
        inherit system;
        modules = [ agenix.nixosModules.default (./hosts + "/${hostname}") "${self}/modules/common.nix" ];
      };
    in
    {
      nixosConfigurations = lib.genAttrs [ "m3-ares" "m3-atlas" ] (name: lib.nixosSystem {
        modules = [ ./hosts/${name} ./modules/common.nix ];
      }) // {
        m3-helios = mkSystem { hostname = "m3-helios"; };
      };
    };
}
NIX
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-atlas
    assert_status 0
    assert_contains out "ok    nix-access-tokens.age  (modules/common.nix:4)"
    run "$M3AGE" registry hosts --rules secrets/secrets.nix
    assert_status 0
    # every host gets the helpers' lists; none is taken for a host named "modules"
    [ "$(grep -c 'modules/common.nix:4' out)" -eq 7 ] || _fail "$(cat out)"
    # so m3-aether now gets modules/common.nix, and no longer modules/cloud
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 1
    assert_contains out "host m3-aether uses it (age.secrets.nix-access-tokens in modules/common.nix:4) but its registry entry does not list m3-aether"
    grep -A1 '^cloud-init.age$' out | grep -q 'M3A011' || _fail "cloud-init.age: $(cat out)"
    assert_contains out "1 error, 2 warnings, 11 notes (12 secrets, 7 hosts)"
}

test_computed_import_is_a_note_not_a_false_M3A011() {
    fleet
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    # old-vpn.age may come in through a computed import: not known, so no M3A011
    echo '{ ... }: { age.secrets.old-vpn.file = ../../secrets/old-vpn.age; }' >modules/services/vpn.nix
    cat >hosts/m3-atlas/default.nix <<'NIX'
{ lib, ... }:
{
  imports = [ ../common ../../modules/services/tailscale.nix ../../modules/services/restic.nix ]
    ++ map (n: ../../modules/services + "/${n}.nix") [ "vpn" ];
}
NIX
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 0
    assert_not_contains out "M3A011"
    assert_contains out "hosts/m3-atlas/default.nix"
    assert_contains out "line 4: import map (n: ../../modules/services + \"/\${n}.nix\") [ \"vpn\" ]: a computed list of imports"
    assert_contains out "no host is seen to use this secret, but 1 import could not be followed"
    # written as a path, it is followed
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/services/tailscale.nix ../../modules/services/restic.nix ../../modules/services/vpn.nix ];\n}\n' \
        >hosts/m3-atlas/default.nix
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 0
    assert_not_contains out "M3A011"
    assert_not_contains out "M3A024"
}

# age.secrets built by builtins.listToAttrs: a name/value pair with a plain name is that
# secret (not one called "value"); a computed name is one M3A017 however many hosts import
# the module, and softens M3A011 to a note (the value could name any secret)
test_listToAttrs_pairs_name_their_secret() {
    fleet
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    cat >modules/services/vpn.nix <<'NIX'
{ ... }:
{
  age.secrets = builtins.listToAttrs [ { name = "old-vpn"; value.file = ../../secrets/old-vpn.age; } ];
}
NIX
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/services/tailscale.nix ../../modules/services/restic.nix ../../modules/services/vpn.nix ];\n}\n' \
        >hosts/m3-atlas/default.nix
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 0
    assert_not_contains out "M3A011"
    assert_not_contains out "M3A017"
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-atlas
    assert_contains out "old-vpn.age"
    assert_not_contains out "age.secrets.value"
    # a computed name in a module two hosts import: one finding, and no false M3A011
    cat >modules/services/vpn.nix <<'NIX'
{ ... }:
{
  age.secrets = builtins.listToAttrs (map (n: { name = n; value.file = ../../secrets + "/${n}.age"; }) [ "old-vpn" ]);
}
NIX
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/services/vpn.nix ];\n}\n' \
        >hosts/m3-helios/extra.nix
    sed -i 's#imports = \[#imports = [ ./extra.nix#' hosts/m3-helios/default.nix
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 0
    assert_eq "$(grep -c "warning M3A017" out)" 1 "one definition, one finding: $(cat out)"
    assert_contains out 'age.secrets.${n}.file = ../../secrets + "/${n}.age": cannot tell which file this is without evaluating Nix'
    assert_not_contains out "M3A011"
    assert_contains out "no host is seen to use this secret, but 1 age.secrets file value could not be resolved without Nix"
}

test_import_forms_followed_and_named_modules_noted() {
    fleet
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    echo '{ ... }: { age.secrets.old-vpn.file = ../../secrets/old-vpn.age; }' >modules/services/vpn.nix
    echo 'args: { age.secrets.wifi.file = ../secrets/wifi.age; }' >modules/wifi.nix
    cat >hosts/m3-helios/default.nix <<'NIX'
{ lib, self, ... }:
{
  imports = [ ../common (import ../../modules/wifi.nix { }) ]
    ++ lib.optionals true [ "${self}/modules/services/vpn.nix" ]
    ++ [ self.nixosModules.monitoring ];
}
NIX
    run "$M3AGE" check --rules secrets/secrets.nix --host m3-helios
    assert_status 1 # neither file is encrypted to m3-helios
    assert_contains out "old-vpn.age: host m3-helios uses it (age.secrets.old-vpn in modules/services/vpn.nix:1)"
    assert_contains out "wifi.age: host m3-helios uses it (age.secrets.wifi in modules/wifi.nix:1)"
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_contains out "line 5: import self.nixosModules.monitoring: a module of this flake by name: not followed"
}

test_import_cycles_and_paths_out_of_the_repository_are_bounded() {
    fleet
    rm secrets/db-password.txt secrets/m3-hermes_ssh_host_ed25519_key
    mkdir -p outside
    echo '{ ... }: { age.secrets.old-vpn.file = ../secrets/old-vpn.age; }' >"$T_ROOT/evil.nix"
    ln -s "$T_ROOT/evil.nix" modules/evil.nix
    echo '{ ... }: { imports = [ ./b.nix ]; }' >modules/a.nix
    echo '{ ... }: { imports = [ ./a.nix ../modules/a.nix ./evil.nix ../../../etc/x.nix ]; }' >modules/b.nix
    printf '{ ... }:\n{\n  imports = [ ../common ../../modules/a.nix ];\n}\n' >hosts/m3-aether/default.nix
    run "$M3AGE" audit --rules secrets/secrets.nix
    assert_status 0
    assert_contains out "import ./evil.nix: outside the repository (a symlink): not read"
    assert_contains out "import ../../../etc/x.nix: outside the repository: not read"
    assert_not_contains out "old-vpn.age: host"
}

run_tests
