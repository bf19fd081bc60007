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
        age.ageBin = lib.mkDefault "${cfg.package}/bin/m3age";
      })
      (lib.mkIf cfg.installCli { environment.systemPackages = [ cfg.package ]; })
    ]
  );
}
