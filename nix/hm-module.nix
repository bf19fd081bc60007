# home-manager module: makes agenix's home-manager module decrypt with m3age. Import it next
# to agenix's (agenix.homeManagerModules.default). agenix's home module runs
# `lib.getExe age.package`, so setting age.package to m3age (meta.mainProgram = "m3age") is
# enough; older versions of that module read age.ageBin, which is set when it exists.
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
  hasPackage = options ? age && options.age ? package;
  hasAgeBin = options ? age && options.age ? ageBin;
in
{
  options.m3age = {
    enable = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether agenix's home-manager module decrypts secrets with m3age.";
    };
    package = lib.mkOption {
      type = lib.types.package;
      default = package pkgs;
      defaultText = lib.literalExpression "m3age.packages.\${system}.default";
      description = "The m3age package agenix's home-manager service runs.";
    };
    installCli = lib.mkOption {
      type = lib.types.bool;
      default = true;
      description = "Whether to put m3age (and its agenix name) in home.packages.";
    };
  };

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        assertions = [
          {
            assertion = hasPackage || hasAgeBin;
            message = "m3age: agenix's home-manager options are missing; import agenix.homeManagerModules.default next to m3age's.";
          }
        ];
      }
      (lib.optionalAttrs hasPackage { age.package = lib.mkDefault cfg.package; })
      (lib.optionalAttrs hasAgeBin { age.ageBin = lib.mkDefault "${cfg.package}/bin/m3age"; })
      (lib.mkIf cfg.installCli { home.packages = [ cfg.package ]; })
    ]
  );
}
