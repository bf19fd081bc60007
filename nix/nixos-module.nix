# NixOS module: makes agenix's module decrypt with m3age. Import it next to agenix's:
#
#   modules = [ agenix.nixosModules.default m3age.nixosModules.default ./configuration.nix ];
#
# agenix's activation script then runs `<m3age> --decrypt -i ID... -o PATH.tmp FILE`; m3age
# takes age's flags when its first argument is an option, so no `age` binary is involved.
# `package` is the m3age derivation the flake built for this system (a function of pkgs).
{
  package ? pkgs: pkgs.m3age or (pkgs.callPackage ./package.nix { }),
}:

{
  config,
  options,
  lib,
  pkgs,
  ...
}:

let
  cfg = config.m3age;
  hasAgenix = options ? age && options.age ? ageBin;
  # m3age with cfg.plugins first on its PATH: agenix runs it from the activation script,
  # whose PATH has no age plugins.
  pluginPath = lib.concatStringsSep ":" (map (p: "${p}/bin") cfg.plugins);
  pluginWrapper = pkgs.runCommand "m3age-with-plugins" { } ''
    mkdir -p $out/bin
    {
      echo '#!${pkgs.runtimeShell or "/bin/sh"}'
      echo 'PATH=${pluginPath}''${PATH:+:$PATH}'
      echo 'export PATH'
      echo 'exec ${cfg.package}/bin/m3age "$@"'
    } >$out/bin/m3age
    chmod 555 $out/bin/m3age
  '';
  ageBin =
    if cfg.plugins == [ ] then "${cfg.package}/bin/m3age" else "${pluginWrapper}/bin/m3age";
in
{
  options.m3age = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether agenix decrypts secrets at activation with m3age (sets age.ageBin).";
    };
    package = lib.mkOption {
      type = lib.types.package;
      default = package pkgs;
      defaultText = lib.literalExpression "m3age.packages.\${system}.default";
      description = "The m3age package agenix's activation script runs.";
    };
    plugins = lib.mkOption {
      type = lib.types.listOf lib.types.package;
      default = [ ];
      example = lib.literalExpression "[ pkgs.age-plugin-tpm ]";
      description = "age plugins (packages with bin/age-plugin-NAME) on the PATH of agenix's activation step, for a host that decrypts with a plugin identity (e.g. a TPM-bound host key in age.identityPaths).";
    };
    installCli = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to put m3age (and its agenix name) in environment.systemPackages.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = hasAgenix;
            message = "m3age: the option age.ageBin does not exist; import agenix's NixOS module (agenix.nixosModules.default) next to m3age's.";
          }
        ];
      }
      (lib.optionalAttrs hasAgenix {
        # mkDefault: above agenix's own default, below anything the user writes.
        age.ageBin = lib.mkDefault ageBin;
      })
      (lib.mkIf cfg.installCli { environment.systemPackages = [ cfg.package ]; })
    ]
  );
}
