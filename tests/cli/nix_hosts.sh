#!/bin/bash
# tests/cli/nix_hosts.sh: --nix takes which secrets each host uses from the flake's
# nixosConfigurations as the real Nix evaluates them (pure, offline, a private store), where
# the static scan can only guess: secret lists computed in a shared module, the real module
# system (nixpkgs' lib.evalModules from ../shared/vendor) naming the defining module, a
# secret from another input. A flake Nix cannot evaluate (or one host of it) is one note and
# the static answer; reading outside the repository or the network is refused without
# hanging; an evaluation that never ends is stopped at M3AGE_NIX_TIMEOUT (exit 2).
. "$(dirname "$0")/../lib.sh"

export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.org GIT_COMMITTER_NAME=t \
    GIT_COMMITTER_EMAIL=t@example.org GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
VENDOR="${M3AGE_VENDOR:-$SRCDIR/../shared/vendor}"

need_tools() {
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v nix >/dev/null || skip "nix not installed"
    command -v git >/dev/null || skip "git not installed"
    command -v age >/dev/null || skip "age not installed"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
}

# The repository (made once per file, copied per test): hosts m3-atlas and m3-helios import
# modules/secrets.nix, which computes their secrets from a list of names (backup only for
# m3-atlas): the static scan cannot resolve them. backup.age lists m3tam3re alone: a host
# that uses it cannot decrypt it, which only Nix's answer shows.
fixture() {
    local fx=$T_ROOT/fixture h
    need_tools
    if [ ! -d "$fx" ]; then
        mkdir -p "$fx.tmp/repo/secrets" "$fx.tmp/repo/modules" "$fx.tmp/keys"
        for h in m3-atlas m3-helios m3tam3re; do
            ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$fx.tmp/keys/$h"
        done
        cd "$fx.tmp/repo"
        {
            echo 'let'
            for h in m3-atlas m3-helios m3tam3re; do
                echo "  $h = \"$(cut -d' ' -f1,2 "../keys/$h.pub")\";"
            done
            cat <<'NIX'
in
{
  "secrets/db.age".publicKeys = [ m3tam3re m3-atlas m3-helios ];
  "secrets/backup.age".publicKeys = [ m3tam3re ];
  "secrets/wifi.age".publicKeys = [ m3tam3re ];
}
NIX
        } >secrets.nix
        cat >modules/secrets.nix <<'NIX'
host:
let
  names = [ "db" ] ++ (if host == "m3-atlas" then [ "backup" ] else [ ]);
in
{
  age.secrets = builtins.listToAttrs (map (n: { name = n; value.file = ../secrets + "/${n}.age"; }) names);
}
NIX
        for h in m3-atlas m3-helios; do
            mkdir -p "hosts/$h"
            printf '{ ... }:\n{\n  imports = [ (import ../../modules/secrets.nix "%s") ];\n}\n' "$h" \
                >"hosts/$h/default.nix"
        done
        cat >flake.nix <<'NIX'
{
  outputs = { self }:
    let
      host = name: { config = import ./modules/secrets.nix name; };
    in
    {
      nixosConfigurations.m3-atlas = host "m3-atlas";
      nixosConfigurations.m3-helios = host "m3-helios";
    };
}
NIX
        echo db | age -R ../keys/m3tam3re.pub -R ../keys/m3-atlas.pub -R ../keys/m3-helios.pub -o secrets/db.age
        echo bk | age -R ../keys/m3tam3re.pub -o secrets/backup.age
        echo w | age -R ../keys/m3tam3re.pub -o secrets/wifi.age
        git init -q -b main .
        git add -A
        git commit -qm init
        cd - >/dev/null
        mv "$fx.tmp" "$fx"
    fi
    cp -a "$fx/repo" repo
    cp -a "$fx/keys" keys
    mkdir tmp
    export TMPDIR=$PWD/tmp # the private store must be gone afterwards
    cd repo
}

# nix_fixture: the fixture, for a test that needs Nix to read it as a git+file: flake. Nix
# 2.8 runs git after setns() back into the mount namespace it started in, which puts git at
# the machine's real root when Nix runs in a chroot (a build chroot such as sbuild's): git
# then cannot find the repository ("fatal: cannot change to '...'") and m3age rightly falls
# back to the static scan. Only that failure skips, with its reason.
nix_fixture() {
    local p=$T_ROOT/gitflake-probe
    fixture
    if [ ! -f "$p.out" ]; then
        mkdir -p "$p"
        (cd "$p" && printf '{ outputs = { self }: { x = 1; }; }\n' >flake.nix && git init -q -b main . &&
            git add -A && git commit -qm probe) >/dev/null 2>&1
        nix --extra-experimental-features 'nix-command flakes' eval --store "$p.store" \
            "git+file://$p#x" >"$p.out" 2>&1 || true
    fi
    if grep -q "fatal: cannot change to" "$p.out"; then
        skip "Nix runs git outside this chroot and cannot read a git+file: flake here ($(grep -m1 -o "fatal: .*" "$p.out"))"
    fi
}

# commit: the repository as git tracks it (git+file: sees tracked files only)
commit() { git add -A && git commit -qm "${1:-change}"; }

# Without Nix the computed names stay unknown: the shared module's definition is said once
# (not once per host that imports it), under the name as written, and no secret is called
# unused while such a value could name it.
test_audit_static_scan_cannot_resolve_computed_secrets() {
    fixture
    run "$M3AGE" audit
    assert_status 0
    assert_contains out 'modules/secrets.nix
  warning M3A017  line 6: age.secrets.${n}.file = ../secrets + "/${n}.age": cannot tell which file this is without evaluating Nix'
    assert_eq "$(grep -c "warning M3A017" out)" 1 "one definition, one finding"
    assert_not_contains out 'age.secrets.value'
    assert_not_contains out 'M3A011'
    assert_contains out 'secrets/db.age
  note    M3A024  no host is seen to use this secret, but 1 age.secrets file value could not be resolved without Nix (see M3A017; --nix evaluates them)'
}

test_audit_with_nix_knows_which_host_uses_what() {
    nix_fixture
    run "$M3AGE" audit --nix
    assert_status 1
    assert_eq "$(grep -c M3A011 out)" 1 "only wifi.age is unused"
    assert_contains out 'secrets/wifi.age
  warning M3A011'
    assert_contains out 'host m3-atlas uses it (age.secrets.backup, as Nix evaluates it) but its registry entry does not list m3-atlas'
    assert_not_contains out 'M3A017'
    assert_empty err
    [ -z "$(ls ../tmp)" ] || _fail "left in TMPDIR: $(ls ../tmp)"
    assert_eq "$(git status --porcelain | grep -v -e ' out$' -e ' err$')" "" "the repository is unchanged (no flake.lock)"
}

test_audit_json_says_where_each_host_answer_came_from() {
    nix_fixture
    run "$M3AGE" audit --nix --json
    assert_status 1
    assert_contains out '{"file": "secrets/backup.age", "host": "m3-atlas", "module": null, "line": null}'
    assert_contains out '{"file": "secrets/db.age", "host": "m3-helios", "module": null, "line": null}'
    assert_contains out '"hosts_source": {
    "m3-atlas": "nix",
    "m3-helios": "nix"
  }'
    run "$M3AGE" audit --json
    assert_contains out '"m3-atlas": "static"'
}

test_check_host_with_nix_and_without() {
    nix_fixture
    run "$M3AGE" check --host m3-atlas
    assert_status 0
    assert_contains out 'm3-atlas: 0 secrets used by its modules'
    run "$M3AGE" check --host m3-atlas --nix
    assert_status 1
    assert_contains out 'm3-atlas: 2 secrets used by its modules (as Nix evaluates them)'
    assert_contains out '  FAIL  secrets/backup.age: host m3-atlas uses it'
    assert_contains out '  ok    secrets/db.age'
    assert_contains out 'm3-atlas: not ready: 1 error'
    run "$M3AGE" check --host m3-helios --nix
    assert_status 0
    assert_contains out 'm3-helios: ready (1 secret)'
}

test_affected_with_nix_sees_a_computed_secret_list_change() {
    nix_fixture
    sed -i 's/\[ "db" \]/[ "db" "wifi" ]/' modules/secrets.nix
    commit 'wifi for every host'
    run "$M3AGE" affected HEAD~1
    assert_status 0
    assert_contains out 'no host affected'
    run "$M3AGE" affected --nix HEAD~1
    assert_status 0
    assert_empty err
    assert_eq "$(cat out)" "m3-atlas
  secrets/wifi.age: now used (age.secrets.wifi)
m3-helios
  secrets/wifi.age: now used (age.secrets.wifi)
2 of 2 hosts affected (compared with $(git rev-parse --short=12 HEAD~1), HEAD~1)"
}

test_a_file_that_is_no_path_of_the_flake_is_named_as_nix_gives_it() {
    nix_fixture
    sed -i 's|nixosConfigurations.m3-helios = host "m3-helios";|nixosConfigurations.m3-helios.config.age.secrets.db.file = "/run/keys/db.age";|' flake.nix
    commit
    run "$M3AGE" check --host m3-helios --nix
    assert_status 1
    assert_contains out "FAIL  /run/keys/db.age: age.secrets.db uses '/run/keys/db.age', which has no entry in the registry (M3A016)"
}

test_flake_that_fails_is_one_note_and_the_static_scan() {
    nix_fixture
    sed -i 's/nixosConfigurations.m3-atlas = host "m3-atlas";/nixosConfigurations = throw "broken on purpose";/; /m3-helios = host/d' flake.nix
    commit
    run "$M3AGE" audit --nix
    assert_status 0
    assert_lines err 1
    assert_contains err 'm3age: note: flake.nix: nixosConfigurations not evaluated: broken on purpose (Nix); the hosts'"'"' secrets are read statically'
    assert_contains out 'M3A017'
}

test_one_host_that_fails_falls_back_alone() {
    nix_fixture
    sed -i 's/nixosConfigurations.m3-helios = host "m3-helios";/nixosConfigurations.m3-helios = throw "helios is broken";/' flake.nix
    commit
    run "$M3AGE" audit --nix --json
    assert_status 1
    assert_lines err 1
    assert_contains err 'm3age: note: flake.nix: nixosConfigurations.m3-helios: helios is broken (Nix); its secrets are read statically'
    assert_contains out '"m3-atlas": "nix",
    "m3-helios": "static"'
}

test_untracked_flake_changes_are_not_seen() {
    nix_fixture
    # as nixos-rebuild: git+file: reads what git tracks
    printf 'host: { age.secrets.wifi.file = ../secrets/wifi.age; }\n' >modules/other.nix
    sed -i 's|import ./modules/secrets.nix name|import ./modules/other.nix name|' flake.nix
    git add flake.nix
    run "$M3AGE" audit --nix
    assert_status 0
    assert_lines err 1
    assert_contains err "note: flake.nix: nixosConfigurations not evaluated: getting status of 'modules/other.nix': No such file or directory (Nix)"
}

test_reading_outside_the_repository_is_refused() {
    nix_fixture
    sed -i 's|host = name: { config = import ./modules/secrets.nix name; };|host = name: { config.age.secrets.x.file = builtins.readFile /etc/passwd; };|' flake.nix
    commit
    run timeout 60 "$M3AGE" audit --nix
    assert_status 0
    assert_lines err 1
    assert_contains err "note: flake.nix: nixosConfigurations not evaluated: access to absolute path '/etc/passwd' is forbidden"
    assert_not_contains out 'root:'
}

test_the_network_is_refused_without_hanging() {
    nix_fixture
    sed -i 's|host = name: { config = import ./modules/secrets.nix name; };|host = name: { config.age.secrets.x.file = builtins.fetchurl "http://192.0.2.1/x.age"; };|' flake.nix
    commit
    run timeout 60 "$M3AGE" audit --nix
    assert_status 0
    assert_lines err 1
    assert_contains err "note: flake.nix: nixosConfigurations not evaluated: "
    assert_contains err "http://192.0.2.1/x.age"
}

test_an_endless_evaluation_is_stopped_at_the_time_limit() {
    nix_fixture
    sed -i 's|host = name: { config = import ./modules/secrets.nix name; };|host = name: let f = n: if n == 0 then 0 else f (n - 1) + f (n - 1); in { config.age.secrets.x.file = toString (f 60); };|' flake.nix
    commit
    SECONDS=0
    M3AGE_NIX_TIMEOUT=2 run timeout 60 "$M3AGE" audit --nix
    assert_status 2
    assert_one_error_line 'm3age: error: flake.nix: Nix did not finish within 2 s (stopped; M3AGE_NIX_TIMEOUT=SECONDS changes the limit)'
    [ "$SECONDS" -lt 20 ] || _fail "took $SECONDS s"
    [ -z "$(ls ../tmp)" ] || _fail "left in TMPDIR: $(ls ../tmp)"
    ! pgrep -f "$PWD#nixosConfigurations" >/dev/null || _fail "Nix still runs"
    M3AGE_NIX_TIMEOUT=soon run "$M3AGE" audit --nix
    assert_status 2
    assert_one_error_line 'M3AGE_NIX_TIMEOUT=soon: not a number of seconds from 1 to 86400'
}

test_a_signal_kills_nix_and_removes_the_private_store() {
    nix_fixture
    sed -i 's|host = name: { config = import ./modules/secrets.nix name; };|host = name: let f = n: if n == 0 then 0 else f (n - 1) + f (n - 1); in { config.age.secrets.x.file = toString (f 60); };|' flake.nix
    commit
    "$M3AGE" audit --nix >out 2>err &
    local pid=$! i=0
    while ! pgrep -f "$PWD#nixosConfigurations" >/dev/null; do
        i=$((i + 1))
        [ "$i" -lt 300 ] || _fail "Nix never started"
        sleep 0.1
    done
    kill -TERM "$pid"
    set +e
    wait "$pid"
    status=$?
    set -e
    assert_status 143
    ! pgrep -f "$PWD#nixosConfigurations" >/dev/null || _fail "Nix still runs"
    [ -z "$(ls ../tmp)" ] || _fail "left in TMPDIR: $(ls ../tmp)"
}

test_nix_instantiate_is_time_limited_too() {
    need_tools
    cat >secrets.nix <<'NIX'
let f = n: if n == 0 then 0 else f (n - 1) + f (n - 1); in
{ "a.age".publicKeys = [ (toString (f 60)) ]; }
NIX
    M3AGE_NIX_TIMEOUT=2 run timeout 60 "$M3AGE" registry eval --nix
    assert_status 2
    assert_one_error_line 'secrets.nix: Nix did not finish within 2 s'
}

test_a_secret_from_another_input_is_that_input_taken_as_the_repository() {
    nix_fixture
    mkdir -p ../shared/secrets
    cp secrets/db.age ../shared/secrets/db.age
    cat >flake.nix <<NIX
{
  inputs.shared = { url = "path:$(cd ../shared && pwd)"; flake = false; };
  outputs = { self, shared }: {
    nixosConfigurations.m3-atlas.config.age.secrets.db.file = shared + "/secrets/db.age";
    nixosConfigurations.m3-helios.config.age.secrets.db.file = ./secrets/db.age;
  };
}
NIX
    commit
    run "$M3AGE" audit --nix --json
    assert_status 0
    assert_contains out '{"file": "secrets/db.age", "host": "m3-atlas", "module": null, "line": null}'
    assert_contains out '{"file": "secrets/db.age", "host": "m3-helios", "module": null, "line": null}'
    assert_absent flake.lock
}

test_no_flake_is_the_static_scan_in_silence() {
    fixture
    git rm -q flake.nix
    git commit -qm 'no flake'
    run "$M3AGE" audit --nix
    assert_status 0
    assert_empty err
    assert_contains out 'M3A017'
}

test_a_flake_with_locked_inputs_is_not_fetched() {
    nix_fixture
    cat >flake.nix <<'NIX'
{
  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-24.05";
  outputs = { self, nixpkgs }: {
    nixosConfigurations.m3-atlas = nixpkgs.lib.nixosSystem { modules = [ ./hosts/m3-atlas ]; };
  };
}
NIX
    cat >flake.lock <<'JSON'
{
  "nodes": {
    "nixpkgs": {
      "locked": { "lastModified": 1700000000, "narHash": "sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "owner": "NixOS", "repo": "nixpkgs", "rev": "0000000000000000000000000000000000000000", "type": "github" },
      "original": { "owner": "NixOS", "ref": "nixos-24.05", "repo": "nixpkgs", "type": "github" }
    },
    "root": { "inputs": { "nixpkgs": "nixpkgs" } }
  },
  "root": "root",
  "version": 7
}
JSON
    commit
    SECONDS=0
    run timeout 60 "$M3AGE" audit --nix
    assert_status 0
    [ "$SECONDS" -lt 20 ] || _fail "took $SECONDS s"
    assert_lines err 2
    assert_contains err "m3age: note: flake.nix: nixosConfigurations not evaluated: unable to download 'https://api.github.com/repos/NixOS/nixpkgs/tarball/0000000000000000000000000000000000000000'"
    assert_contains err "m3age: hint: the flake's inputs are not in m3age's private Nix store; M3AGE_NIX_STORE=daemon evaluates with those your Nix store holds"
    assert_contains out 'M3A017'
    assert_eq "$(git status --porcelain | grep -v -e ' out$' -e ' err$')" "" "flake.lock is unchanged"
}

test_a_store_named_by_m3age_nix_store_is_used() {
    nix_fixture
    M3AGE_NIX_STORE=$PWD/../mystore run "$M3AGE" check --host m3-atlas --nix
    assert_status 1
    assert_contains out 'm3-atlas: 2 secrets used by its modules (as Nix evaluates them)'
    ls -d ../mystore/nix/store/*-source >/dev/null || _fail "nothing in the named store"
}

# The real module system: nixpkgs' lib (a copy of the vendored snapshot, tracked in the
# test's repository) evaluates each host; definitionsWithLocations names the module.
test_module_system_names_the_module_that_defines_a_secret() {
    nix_fixture
    [ -f "$VENDOR/nixpkgs-lib/lib/default.nix" ] || skip "no nixpkgs lib snapshot in $VENDOR (set M3AGE_VENDOR)"
    cp -a "$VENDOR/nixpkgs-lib" nixpkgs-lib
    cat >modules/age.nix <<'NIX'
{ lib, ... }:
{
  options.age.secrets = lib.mkOption {
    type = lib.types.attrsOf (lib.types.submodule {
      options.file = lib.mkOption { type = lib.types.path; };
    });
    default = { };
  };
}
NIX
    cat >modules/db.nix <<'NIX'
{ ... }: { age.secrets.db.file = ../secrets/db.age; }
NIX
    cat >modules/backup.nix <<'NIX'
{ lib, enableBackup ? false, ... }: { age.secrets = lib.mkIf enableBackup { backup.file = ../secrets/backup.age; }; }
NIX
    cat >flake.nix <<'NIX'
{
  outputs = { self }:
    let
      lib = import ./nixpkgs-lib/lib;
      host = backup: lib.evalModules {
        modules = [ ./modules/age.nix ./modules/db.nix ./modules/backup.nix ];
        specialArgs.enableBackup = backup;
      };
    in
    {
      nixosConfigurations.m3-atlas = host false;
      nixosConfigurations.m3-helios = host true;
    };
}
NIX
    commit
    run "$M3AGE" audit --nix --json
    assert_status 1
    assert_contains out '{"file": "secrets/db.age", "host": "m3-atlas", "module": "modules/db.nix", "line": null}'
    assert_contains out '{"file": "secrets/backup.age", "host": "m3-helios", "module": "modules/backup.nix", "line": null}'
    assert_not_contains out '"host": "m3-atlas", "module": "modules/backup.nix"'
    run "$M3AGE" check --host m3-atlas --nix
    assert_status 0
    assert_contains out '  ok    secrets/db.age  (modules/db.nix)'
}

# agenix's own NixOS module (vendored) next to m3age's, through tests/nix/vendor-eval.nix's
# stand-ins for the NixOS options agenix reads, all copied into the flake's repository.
test_agenix_real_module_next_to_m3age_module() {
    nix_fixture
    [ -f "$VENDOR/nixpkgs-lib/lib/default.nix" ] && [ -f "$VENDOR/agenix/modules/age.nix" ] ||
        skip "no nixpkgs lib / agenix snapshots in $VENDOR (set M3AGE_VENDOR)"
    mkdir -p vendor tests/nix nix
    cp -a "$VENDOR/nixpkgs-lib" "$VENDOR/agenix" vendor/
    cp "$SRCDIR/tests/nix/vendor-eval.nix" tests/nix/
    cp "$SRCDIR"/nix/*.nix nix/
    cat >modules/atlas.nix <<'NIX'
{ ... }: { age.secrets.db = { file = ../secrets/db.age; owner = "postgres"; }; }
NIX
    cat >flake.nix <<'NIX'
{
  outputs = { self }:
    let
      host = m: (import ./tests/nix/vendor-eval.nix { vendor = ./vendor; extraModule = m; }).nixos;
    in
    {
      nixosConfigurations.m3-atlas = host ./modules/atlas.nix;
      nixosConfigurations.m3-helios = host (import ./modules/secrets.nix "m3-helios");
    };
}
NIX
    commit
    run "$M3AGE" audit --nix --json
    assert_empty err
    assert_contains out '{"file": "secrets/db.age", "host": "m3-atlas", "module": "modules/atlas.nix", "line": null}'
    assert_contains out '{"file": "secrets/db.age", "host": "m3-helios", "module": null, "line": null}'
    assert_contains out '"m3-atlas": "nix",
    "m3-helios": "nix"'
}

run_tests
