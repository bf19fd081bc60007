#!/bin/bash
# The NixOS module's m3age.plugins: agenix's activation step finds the plugins of a host that
# decrypts with a plugin identity. The module is evaluated with nix-instantiate against the
# stand-ins of tests/nix/stub.nix, and the wrapper it builds is then made and run for real,
# the way agenix's activation script calls age.ageBin.
. "$(dirname "$0")/../lib.sh"

need_nix() {
    command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
}
# module_eval PLUGINS_NIX: the module's age.ageBin and its wrapper's build script, as JSON in
# ./out, with m3age.package at ./pkg and m3age.plugins = PLUGINS_NIX.
module_eval() {
    need_nix
    cat >eval.nix <<NIX
let
  stub = import $SRCDIR/tests/nix/stub.nix;
  m = stub.evalModule {
    module = import $SRCDIR/nix/nixos-module.nix { };
    options = stub.agenixNixosOptions;
    config.m3age.package = { type = "derivation"; name = "m3age"; outPath = "$PWD/pkg"; };
    config.m3age.plugins = $1;
  };
  wrapper = m.config.age.ageBin.content;
in
{
  ageBin = wrapper;
  priority = m.config.age.ageBin.priority;
  option = m.options.m3age.plugins.default;
}
NIX
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json eval.nix
    assert_status 0
}

test_no_plugins_keeps_ageBin_m3age_itself() {
    module_eval '[ ]'
    assert_eq "$(cat out)" "{\"ageBin\":\"$PWD/pkg/bin/m3age\",\"option\":[],\"priority\":1000}"
}

test_plugins_are_on_the_path_of_the_activation_call() {
    command -v python3 >/dev/null || skip "python3 is not installed"
    command -v age >/dev/null || skip "Go age is not installed"
    module_eval "[ { type = \"derivation\"; name = \"age-plugin-m3test\"; outPath = \"$PWD/plug\"; } ]"
    assert_contains out '-m3age-with-plugins/bin/m3age"'
    assert_contains out '"priority":1000'
    # The wrapper's build script, made and run here (the stand-in runCommand keeps it).
    cat >script.nix <<NIX
let
  stub = import $SRCDIR/tests/nix/stub.nix;
  # runCommand's derivation stands for its build script here, to make and run it below.
  pkgs = stub.pkgs // { runCommand = name: env: cmd: { type = "derivation"; inherit name; outPath = cmd; }; };
  m2 = stub.evalModule {
    module = args: import $SRCDIR/nix/nixos-module.nix { } (args // { inherit pkgs; });
    options = stub.agenixNixosOptions;
    config.m3age.package = { type = "derivation"; name = "m3age"; outPath = "$PWD/pkg"; };
    config.m3age.plugins = [ { type = "derivation"; name = "p"; outPath = "$PWD/plug"; } ];
  };
in
builtins.substring 0 (builtins.stringLength m2.config.age.ageBin.content - 10) m2.config.age.ageBin.content
NIX
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json script.nix
    assert_status 0
    python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))' <out >build.sh
    mkdir -p pkg/bin plug/bin wrap
    ln -s "$M3AGE" pkg/bin/m3age
    ln -s "$SRCDIR/tests/plugin/age-plugin-m3test" plug/bin/age-plugin-m3test
    run env out="$PWD/wrap" bash -e build.sh
    assert_status 0
    head -1 wrap/bin/m3age | grep -q '^#!/' || _fail "no interpreter line: $(head -1 wrap/bin/m3age)"
    # agenix's call, with the activation script's PATH (no plugin on it).
    "$SRCDIR/tests/plugin/age-plugin-m3test" --generate ok >host.id
    R=$(sed -n 's/^# recipient: //p' host.id)
    printf 'wifi\n' >plain
    PATH="$SRCDIR/tests/plugin:$PATH" age -r "$R" -o wifi.age plain
    PATH=/usr/bin:/bin run ./wrap/bin/m3age --decrypt -i host.id -o wifi.tmp wifi.age
    assert_status 0
    assert_eq "$(cat wifi.tmp)" "wifi"
    # without the wrapper the plugin is not found
    PATH=/usr/bin:/bin run ./pkg/bin/m3age --decrypt -i host.id -o wifi2.tmp wifi.age
    assert_status 1
    assert_contains err "age-plugin-m3test not found in PATH"
}

test_plugins_and_a_post_quantum_host_identity_together() {
    # the plugin wrapper is agenix's ageBin, and it gets the host's post-quantum identity
    # beside the SSH host keys; the identity itself is made by the unwrapped m3age
    need_nix
    cat >both.nix <<NIX
let
  stub = import $SRCDIR/tests/nix/stub.nix;
  m = stub.evalModule {
    module = import $SRCDIR/nix/nixos-module.nix { };
    options = stub.agenixNixosOptions // {
      age = stub.agenixNixosOptions.age // {
        identityPaths = stub.lib.mkOption { default = [ ]; };
      };
    };
    config.m3age.package = { type = "derivation"; name = "m3age"; outPath = "$PWD/pkg"; };
    config.m3age.plugins = [ { type = "derivation"; name = "p"; outPath = "$PWD/plug"; } ];
    config.m3age.hostPqIdentity.enable = true;
    config.services.openssh.hostKeys = [ { path = "/etc/ssh/ssh_host_ed25519_key"; type = "ed25519"; } ];
  };
in
{
  ageBin = m.config.age.ageBin.content;
  identityPaths = m.config.age.identityPaths;
  keygen = builtins.match ".*($PWD/pkg/bin/m3age keygen --pq).*" m.config.system.activationScripts.m3ageHostPqIdentity.text;
}
NIX
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json both.nix
    assert_status 0
    assert_contains out '-m3age-with-plugins/bin/m3age"'
    assert_contains out '"identityPaths":["/var/lib/m3age/host-pq.txt","/etc/ssh/ssh_host_ed25519_key"]'
    assert_contains out "\"keygen\":[\"$PWD/pkg/bin/m3age keygen --pq\"]"
}

run_tests
