# Evaluates m3age's NixOS and home-manager modules next to agenix's real modules through the
# real nixpkgs `lib.evalModules` (the snapshots in ../shared/vendor, see its README). Only the
# options agenix's modules read from NixOS / home-manager are stand-ins (`nixosStubs`,
# `hmStubs`), and `pkgs` holds fake store paths plus the two builders they call. Used by
# tests/cli/nix_modules.sh, which also runs the activation scripts this yields.
{
  vendor,
  # the m3age "package": a prefix whose bin/m3age is the built binary in the tests
  m3agePrefix ? "/nix/store/00000000000000000000000000000000-m3age-0.1.0",
  # the secrets and identities the evaluated configuration declares
  secrets ? { },
  hmSecrets ? { },
  identityPaths ? [ ],
  secretsDir ? "/run/agenix",
  secretsMountPoint ? "/run/agenix.d",
  users ? { },
  # the home-manager user's home (its default identities are ~/.ssh/id_ed25519 and id_rsa)
  hmHome ? "/home/m3tam3re",
  extraModule ? { },
}:

let
  lib = import "${vendor}/nixpkgs-lib/lib";
  inherit (lib) mkOption types;
  fake = name: "/nix/store/00000000000000000000000000000000-${name}";
  drv = name: extra: {
    type = "derivation";
    inherit name;
    outPath = fake name;
    meta = { };
  } // extra;

  m3age = {
    type = "derivation";
    name = "m3age-0.1.0";
    pname = "m3age";
    version = "0.1.0";
    outPath = m3agePrefix;
    meta.mainProgram = "m3age";
  };

  pkgs = {
    age = drv "age-1.2.1" { meta.mainProgram = "age"; pname = "age"; };
    mount = drv "util-linux-mount" { };
    coreutils = drv "coreutils-9.5" { };
    getconf = drv "getconf" { };
    stdenv.hostPlatform = lib.systems.elaborate "x86_64-linux";
    m3age = m3age;
    # writeShellApplication's result names its script by text: the test takes the text back
    # from the store path (the real builder writes it after `set -o errexit -o nounset -o
    # pipefail`, which the test adds when it runs it).
    writeShellApplication =
      { name, text, ... }:
      {
        type = "derivation";
        inherit name text;
        outPath = "@SCRIPT@${text}@END@";
        meta.mainProgram = name;
      };
    writeShellScript = name: text: "@SCRIPT@${text}@END@";
  };

  anything = mkOption {
    type = types.anything;
    default = { };
  };
  attrsAny = mkOption {
    type = types.attrsOf types.anything;
    default = { };
  };

  # The assertions and warnings every module system here has.
  checks = {
    assertions = mkOption {
      type = types.listOf types.unspecified;
      default = [ ];
    };
    warnings = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
  };

  # What agenix's age.nix and m3age's module read or set in NixOS, and nothing else.
  nixosStubs = {
    options = checks // {
      environment.systemPackages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      users.users = attrsAny;
      services.openssh.enable = mkOption {
        type = types.bool;
        default = false;
      };
      services.userborn.enable = mkOption {
        type = types.bool;
        default = false;
      };
      systemd.sysusers.enable = mkOption {
        type = types.bool;
        default = false;
      };
      systemd.services = attrsAny;
      # NixOS: attrsOf (either str scriptType); the text is what matters here
      system.activationScripts = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.text = mkOption { type = types.lines; default = ""; };
            options.deps = mkOption { type = types.listOf types.str; default = [ ]; };
          }
        );
        default = { };
      };
    };
  };

  hmStubs = {
    options = checks // {
      home.homeDirectory = mkOption {
        type = types.str;
        default = hmHome;
      };
      home.packages = mkOption {
        type = types.listOf types.package;
        default = [ ];
      };
      systemd.user.services = attrsAny;
      launchd.agents = attrsAny;
    };
  };

  nixos = lib.evalModules {
    specialArgs = { modulesPath = "/nonexistent"; };
    modules = [
      { _module.args = { inherit pkgs; }; }
      nixosStubs
      "${vendor}/agenix/modules/age.nix"
      (import ../../nix/nixos-module.nix { package = _: m3age; })
      {
        age = { inherit secrets identityPaths secretsDir secretsMountPoint; };
        users.users = users;
      }
      extraModule
    ];
  };

  hm = lib.evalModules {
    modules = [
      { _module.args = { inherit pkgs; }; }
      hmStubs
      "${vendor}/agenix/modules/age-home.nix"
      (import ../../nix/hm-module.nix { package = _: m3age; })
      {
        # identities and folders: agenix's defaults (~/.ssh, $XDG_RUNTIME_DIR)
        age.secrets = hmSecrets;
      }
    ];
  };

  failed = cfg: map (a: a.message) (lib.filter (a: !a.assertion) cfg.assertions);
  # an option's type, description and default text; a group of options (m3age.hostPqIdentity)
  # as a set of its options
  optionDocs =
    opts:
    lib.mapAttrs (
      n: o:
      if lib.isOption o then
        {
          type = o.type.description;
          description = o.description;
          default = o.defaultText.text or null;
        }
      else
        optionDocs o
    ) (lib.filterAttrs (n: _: n != "_module") opts);
  act = nixos.config.system.activationScripts;
  unscript =
    s:
    let
      m = builtins.match "@SCRIPT@(.*)@END@.*" (builtins.unsafeDiscardStringContext s);
    in
    if m == null then throw "not a stub script: ${s}" else builtins.head m;
in
{
  inherit lib nixos hm;
  nixosAgeBin = nixos.config.age.ageBin;
  nixosFailedAssertions = failed nixos.config;
  nixosWarnings = nixos.config.warnings;
  nixosSystemPackages = map (p: p.name) nixos.config.environment.systemPackages;
  nixosOptions = optionDocs nixos.options.m3age;
  hmAgePackage = hm.config.age.package.outPath;
  hmExe = lib.getExe hm.config.age.package;
  hmFailedAssertions = failed hm.config;
  hmWarnings = hm.config.warnings;
  hmHomePackages = map (p: p.name) hm.config.home.packages;
  hmOptions = optionDocs hm.options.m3age;
  # the activation snippets in NixOS's order (agenixNewGeneration, agenixInstall, then users,
  # then agenixChown)
  activation = map (n: {
    name = n;
    text = act.${n}.text;
  }) [ "agenixNewGeneration" "agenixInstall" "agenixChown" ];
  hmService = unscript hm.config.systemd.user.services.agenix.Service.ExecStart;
}
