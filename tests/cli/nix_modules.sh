#!/bin/bash
# tests/cli/nix_modules.sh: m3age's NixOS and home-manager modules evaluated next to agenix's
# real modules through the real nixpkgs `lib.evalModules` (the read-only snapshots in
# ../shared/vendor, or M3AGE_VENDOR), and agenix's generated scripts run with the built m3age
# as the age binary: the NixOS activation snippets against a throwaway root in a private mount
# namespace, the home-manager user service against a throwaway home. Only the options agenix's
# modules read from NixOS / home-manager are stand-ins (tests/nix/vendor-eval.nix).
. "$(dirname "$0")/../lib.sh"

VENDOR="${M3AGE_VENDOR:-$SRCDIR/../shared/vendor}"
STORE=/nix/store/00000000000000000000000000000000-m3age-0.1.0

# Without the snapshots (or nix-instantiate) the file is one skipped line.
if ! command -v nix-instantiate >/dev/null 2>&1 || [ ! -f "$VENDOR/nixpkgs-lib/lib/default.nix" ] ||
    [ ! -f "$VENDOR/agenix/modules/age.nix" ]; then
    test_modules_against_the_real_module_system() {
        command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
        skip "no nixpkgs lib / agenix snapshots in $VENDOR (set M3AGE_VENDOR)"
    }
    run_tests
    exit
fi

need_vendor() {
    command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
    [ -f "$VENDOR/nixpkgs-lib/lib/default.nix" ] && [ -f "$VENDOR/agenix/modules/age.nix" ] ||
        skip "no nixpkgs lib / agenix snapshots in $VENDOR"
}

# veval ARGS EXPR: evaluate EXPR (over `e`, the vendor evaluation with ARGS) to JSON in ./out.
veval() {
    need_vendor
    run env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode \
        --eval --strict --json -E "let e = import $SRCDIR/tests/nix/vendor-eval.nix ({
            vendor = \"$VENDOR\"; } // $1); in $2"
    assert_status 0
}

expect() { # expect ARGS EXPR JSON
    veval "$1" "$2"
    assert_eq "$(cat out)" "$3" "$2"
}

# json_string: decode the JSON string on stdin.
json_string() {
    python3 -c 'import json, sys; sys.stdout.write(json.load(sys.stdin))'
}

test_nixos_module_next_to_agenix_sets_agebin() {
    expect '{ }' 'e.nixosAgeBin' "\"$STORE/bin/m3age\""
    # agenix's own default is ${pkgs.age}/bin/age at priority 1500; m3age's mkDefault wins
    expect '{ }' 'e.nixos.options.age.ageBin.highestPrio' 1000
    expect '{ }' 'e.nixosFailedAssertions' '[]'
    expect '{ }' 'e.nixosWarnings' '[]'
    expect '{ }' 'e.nixosSystemPackages' '["m3age-0.1.0"]'
}

# agenix's own assertions are live next to m3age's module: secrets without identities
test_agenix_assertions_still_apply() {
    expect '{ secrets.wifi.file = "/src/wifi.age"; }' 'e.nixosFailedAssertions' \
        '["age.identityPaths must be set, for example by enabling openssh."]'
    expect '{ hmSecrets.wifi.file = "/src/wifi.age"; }' 'e.hmFailedAssertions' '[]'
}

test_nixos_module_user_agebin_wins() {
    expect '{ extraModule = { age.ageBin = "/opt/age"; }; }' 'e.nixosAgeBin' '"/opt/age"'
    expect '{ extraModule = { m3age.enable = false; }; }' 'e.nixosAgeBin' \
        '"/nix/store/00000000000000000000000000000000-age-1.2.1/bin/age"'
    expect '{ extraModule = { m3age.installCli = false; }; }' 'e.nixosSystemPackages' '[]'
}

test_nixos_module_options_types_and_docs() {
    veval '{ }' 'e.nixosOptions'
    assert_contains out '"enable":{"default":null,"description":"Whether agenix decrypts secrets at activation with m3age (sets age.ageBin).","type":"boolean"}'
    assert_contains out '"package":{"default":"m3age.packages.${system}.default","description":"The m3age package agenix'"'"'s activation script runs.","type":"package"}'
    assert_contains out '"installCli":{"default":null,"description":"Whether to put m3age (and its agenix name) in environment.systemPackages.","type":"boolean"}'
    # a group of options is documented option by option
    assert_contains out '"hostPqIdentity":{"directory":{"default":null,"description":"The state folder of the host'"'"'s post-quantum identity.","type":"string"}'
    # a wrong type is the module system's error, naming the option
    run env NIX_PATH= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode --eval --strict -E \
        "(import $SRCDIR/tests/nix/vendor-eval.nix { vendor = \"$VENDOR\"; extraModule = { m3age.enable = \"yes\"; }; }).nixosAgeBin"
    [ "$status" -ne 0 ] || _fail "m3age.enable = \"yes\" evaluated"
    assert_contains err 'm3age.enable'
}

test_nixos_module_without_agenix_asserts() {
    need_vendor
    run env NIX_PATH= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode --eval --strict --json -E "
        let lib = import $VENDOR/nixpkgs-lib/lib;
            eval = lib.evalModules { modules = [
              { options.assertions = lib.mkOption { type = lib.types.listOf lib.types.unspecified; default = [ ]; };
                options.environment.systemPackages = lib.mkOption { type = lib.types.listOf lib.types.package; default = [ ]; };
                options.system.activationScripts = lib.mkOption { type = lib.types.attrsOf lib.types.unspecified; default = { }; }; }
              (import $SRCDIR/nix/nixos-module.nix { package = _: { type = \"derivation\"; name = \"m3age\"; outPath = \"/m3age\"; }; })
              { _module.args.pkgs = { }; } ]; };
        in map (a: a.message) (lib.filter (a: !a.assertion) eval.config.assertions)"
    assert_status 0
    assert_contains out "import agenix's NixOS module (agenix.nixosModules.default) next to m3age's"
}

test_home_manager_module_next_to_agenix_sets_age_package() {
    expect '{ }' 'e.hmAgePackage' "\"$STORE\""
    # agenix's home module runs lib.getExe age.package
    expect '{ }' 'e.hmExe' "\"$STORE/bin/m3age\""
    expect '{ }' 'e.hm.options.age.package.highestPrio' 1000
    expect '{ }' 'e.hmFailedAssertions' '[]'
    expect '{ }' 'e.hmWarnings' '[]'
    expect '{ }' 'e.hmHomePackages' '["m3age-0.1.0"]'
    veval '{ }' 'e.hmOptions'
    assert_contains out '"package":{"default":"m3age.packages.${system}.default","description":"The m3age package agenix'"'"'s home-manager service runs.","type":"package"}'
}

# nix/package.nix with the real lib (stdenv.mkDerivation returns its arguments): Linux only,
# and the flake offers no system the package's platforms leave out.
test_package_platforms_with_the_real_lib() {
    need_vendor
    run env NIX_PATH= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode --eval --strict --json -E "
        let lib = import $VENDOR/nixpkgs-lib/lib;
            d = n: { type = \"derivation\"; name = n; outPath = \"/nix/store/00000000000000000000000000000000-\" + n; };
            args = lib.genAttrs [ \"pkg-config\" \"libsodium\" \"openssl\" \"libssh\" \"libbsd\" \"criterion\" \"zlib\"
              \"age\" \"openssh\" \"git\" \"nix\" \"mandoc\" \"zsh\" \"fish\" ] d;
            p = import $SRCDIR/nix/package.nix (args // { inherit lib; src = \"/src\";
              stdenv = { mkDerivation = a: a; cc.targetPrefix = \"\"; }; });
            flake = import $SRCDIR/flake.nix;
            nixpkgs = { lib = lib; legacyPackages = lib.genAttrs lib.platforms.all (s: { stdenv.hostPlatform.system = s; callPackage = _: _: { }; }); };
            out = flake.outputs { self = out; inherit nixpkgs; };
        in {
          linux = p.meta.platforms == lib.platforms.linux;
          darwin = lib.elem \"aarch64-darwin\" p.meta.platforms;
          flakeOk = lib.all (s: lib.elem s p.meta.platforms) (builtins.attrNames out.packages);
          flake = builtins.attrNames out.packages;
        }"
    assert_status 0
    assert_eq "$(cat out)" '{"darwin":false,"flake":["aarch64-linux","x86_64-linux"],"flakeOk":true,"linux":true}' "platforms"
}

# The activation fixture: host keys made by ssh-keygen under ./root/etc/ssh, secrets encrypted
# by Go age: wifi (ed25519, 0400, root), db (rsa, 0440, nobody:nogroup through users.users),
# broken (for another key: fails to decrypt).
need_activation() {
    need_vendor
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v age >/dev/null || skip "age not installed"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    [ "$(id -u)" -eq 0 ] || skip "needs root (a private mount namespace, chown)"
    unshare -m true 2>/dev/null || skip "no private mount namespaces here"
    getent passwd nobody >/dev/null && getent group nogroup >/dev/null || skip "no nobody:nogroup"
    mkdir -p root/etc/ssh src pkg/bin
    ln -s "$M3AGE" pkg/bin/m3age
    ssh-keygen -q -t ed25519 -N '' -C m3-atlas -f root/etc/ssh/ssh_host_ed25519_key
    ssh-keygen -q -t rsa -b 2048 -N '' -C m3-atlas -f root/etc/ssh/ssh_host_rsa_key
    ssh-keygen -q -t ed25519 -N '' -C m3-hermes -f other_key
    printf 'psk=hunter2\n' >wifi.plain
    printf 'postgres://atlas\n' >db.plain
    age -R root/etc/ssh/ssh_host_ed25519_key.pub -o src/wifi.age wifi.plain
    age -R root/etc/ssh/ssh_host_rsa_key.pub -o src/db.age db.plain
    printf 'nope\n' | age -R other_key.pub -o src/broken.age
}

# activation_script SECRETS: agenix's NixOS activation snippets for SECRETS (a Nix attrset
# text) as NixOS's activation script runs them: no errexit, an ERR trap records a failed
# snippet, "Activation script snippet 'NAME' failed" is printed, and the status is the
# script's exit status. Written to ./activate.sh.
activation_script() {
    veval "{ m3agePrefix = \"$PWD/pkg\"; secrets = $1;
        identityPaths = [ \"$PWD/root/etc/ssh/ssh_host_ed25519_key\" \"$PWD/root/etc/ssh/ssh_host_rsa_key\" ];
        secretsDir = \"$PWD/root/run/agenix\"; secretsMountPoint = \"$PWD/root/run/agenix.d\";
        users = { nobody.group = \"nogroup\"; }; }" \
        'builtins.concatStringsSep "\n" (map (s: "#### Activation script snippet ${s.name}:\n_localstatus=0\n${s.text}\nif (( _localstatus > 0 )); then printf \"Activation script snippet %s failed (%s)\\n\" \"${s.name}\" \"$_localstatus\"; fi\n") e.activation)'
    {
        echo '_status=0'
        echo 'trap "_status=1 _localstatus=\$?" ERR'
        echo 'umask 0022'
        json_string <out
        echo 'exit $_status'
    } >activate.sh
}

# in_namespace SCRIPT: run SCRIPT in a private mount namespace where /etc/group also has the
# `keys` group agenix chowns to, so neither its ramfs mount nor the group touch the host.
in_namespace() {
    cp /etc/group group
    getent group keys >/dev/null || echo 'keys:x:96:' >>group
    cat >ns.sh <<EOF
set -e
mount --make-rprivate /
mount --bind "$PWD/group" /etc/group
cd "$PWD"
$(cat "$1")
EOF
    run unshare -m bash ns.sh
}

test_agenix_activation_with_m3age_decrypts_for_ssh_host_keys() {
    need_activation
    activation_script "{ wifi.file = \"$PWD/src/wifi.age\";
        db = { file = \"$PWD/src/db.age\"; mode = \"0440\"; owner = \"nobody\"; }; }"
    assert_contains activate.sh "$PWD/pkg/bin/m3age --decrypt"
    # two activations (a reboot-free switch): generation 1, then 2 with 1 removed; the state
    # is recorded inside the namespace (the ramfs is gone once it ends)
    cat >steps.sh <<'EOF'
report() {
    echo "link $(readlink root/run/agenix)"
    ls root/run/agenix.d | tr '\n' ' '; echo
    for f in wifi db; do
        echo "$f $(stat -c '%a %U %G' root/run/agenix/$f) $(cat root/run/agenix/$f)"
    done
    echo "mp $(stat -c '%a %G' root/run/agenix.d) $(grep -c " $PWD/root/run/agenix.d ramfs" /proc/mounts)"
}
bash activate.sh >run1.log 2>&1 || echo "run 1 status $?" >>run1.log
report >state1
bash activate.sh >run2.log 2>&1 || echo "run 2 status $?" >>run2.log
report >state2
EOF
    in_namespace steps.sh
    assert_status 0
    assert_not_contains run1.log 'failed'
    assert_not_contains run1.log 'WARNING'
    assert_contains run1.log '[agenix] symlinking new secrets'
    assert_eq "$(cat state1)" "link $PWD/root/run/agenix.d/1
1 
wifi 400 root root psk=hunter2
db 440 nobody nogroup postgres://atlas
mp 751 keys 1" "generation 1"
    assert_eq "$(cat state2)" "link $PWD/root/run/agenix.d/2
2 
wifi 400 root root psk=hunter2
db 440 nobody nogroup postgres://atlas
mp 751 keys 1" "generation 2"
    assert_contains run2.log '[agenix] removing old secrets (generation 1)'
    # nothing left behind on the real disk: the generations lived in the namespace's ramfs
    [ -z "$(ls -A root/run/agenix.d 2>/dev/null)" ] || _fail "secrets left on disk: $(ls root/run/agenix.d)"
}

test_agenix_activation_with_a_secret_that_fails_to_decrypt() {
    need_activation
    activation_script "{ wifi.file = \"$PWD/src/wifi.age\"; broken.file = \"$PWD/src/broken.age\";
        db = { file = \"$PWD/src/db.age\"; mode = \"0440\"; owner = \"nobody\"; }; }"
    cat >steps.sh <<'EOF'
st=0; bash activate.sh >run.log 2>&1 || st=$?
echo "status $st" >state
echo "link $(readlink root/run/agenix)" >>state
ls -A root/run/agenix/ | tr '\n' ' ' >>state
EOF
    in_namespace steps.sh
    assert_status 0
    # agenix's behaviour: the snippet is reported failed and the activation fails, the other
    # secrets are installed and the generation is linked; m3age leaves no partial file
    assert_eq "$(cat state)" "status 1
link $PWD/root/run/agenix.d/1
db wifi " "after a failed decryption"
    assert_contains run.log "Activation script snippet agenixInstall failed"
    assert_contains run.log "m3age: error: $PWD/src/broken.age"
    # (agenix then cannot chown the missing secret either: that snippet fails too)
    assert_contains run.log "chown: cannot access '$PWD/root/run/agenix.d/1/broken'"
    assert_contains run.log "Activation script snippet agenixChown failed"
}

# home-manager: agenix's user service script (writeShellApplication: errexit, nounset,
# pipefail) with the user's default identities ~/.ssh/id_ed25519 and ~/.ssh/id_rsa and the
# folders under $XDG_RUNTIME_DIR.
hm_script() {
    veval "{ m3agePrefix = \"$PWD/pkg\"; hmHome = \"$PWD/home\"; hmSecrets = $1; }" 'e.hmService'
    { printf 'set -o errexit\nset -o nounset\nset -o pipefail\n'; json_string <out; } >service.sh
}

need_hm() {
    need_vendor
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v age >/dev/null || skip "age not installed"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    mkdir -p home/.ssh src pkg/bin xdg
    ln -s "$M3AGE" pkg/bin/m3age
    ssh-keygen -q -t ed25519 -N '' -C m3tam3re -f home/.ssh/id_ed25519
    ssh-keygen -q -t rsa -b 2048 -N '' -C m3tam3re -f home/.ssh/id_rsa
    ssh-keygen -q -t ed25519 -N '' -C m3-hermes -f other_key
    printf 'token-1\n' | age -R home/.ssh/id_ed25519.pub -o src/gh.age
    printf 'mail-pw\n' | age -R home/.ssh/id_rsa.pub -o src/mail.age
    printf 'nope\n' | age -R other_key.pub -o src/broken.age
}

test_home_manager_service_with_m3age() {
    need_hm
    hm_script "{ gh.file = \"$PWD/src/gh.age\"; mail = { file = \"$PWD/src/mail.age\"; mode = \"0440\"; }; }"
    assert_contains service.sh "$PWD/pkg/bin/m3age --decrypt"
    local i
    for i in 1 2; do
        run env -i PATH="$PATH" HOME="$PWD/home" XDG_RUNTIME_DIR="$PWD/xdg" bash service.sh
        assert_status 0
        assert_eq "$(readlink xdg/agenix)" "$PWD/xdg/agenix.d/$i" "generation $i"
        assert_eq "$(cat xdg/agenix/gh) $(stat -c %a xdg/agenix/gh)" "token-1 400" "gh, run $i"
        assert_eq "$(cat xdg/agenix/mail) $(stat -c %a xdg/agenix/mail)" "mail-pw 440" "mail, run $i"
    done
    assert_eq "$(ls xdg/agenix.d)" 2 "old generation removed"
}

test_home_manager_service_stops_at_a_secret_that_fails() {
    need_hm
    hm_script "{ a.file = \"$PWD/src/gh.age\"; b.file = \"$PWD/src/broken.age\"; c.file = \"$PWD/src/mail.age\"; }"
    run env -i PATH="$PATH" HOME="$PWD/home" XDG_RUNTIME_DIR="$PWD/xdg" bash service.sh
    # errexit: the service fails at the broken secret, nothing is linked, no partial file
    [ "$status" -ne 0 ] || _fail "the service succeeded with an undecryptable secret"
    assert_contains err "m3age: error: $PWD/src/broken.age"
    assert_absent xdg/agenix
    assert_eq "$(ls -A xdg/agenix.d/1)" a "generation 1 holds only the secret before the failure"
}

run_tests
