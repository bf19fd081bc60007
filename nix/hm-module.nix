# home-manager module: makes agenix's home-manager module decrypt with m3age. Import it next
# to agenix's (agenix.homeManagerModules.default). agenix's home module runs
# `lib.getExe age.package`, so setting age.package to m3age (meta.mainProgram = "m3age") is
# enough; older versions of that module read age.ageBin, which is set when it exists. The
# options and the assertion it shares with nix/nixos-module.nix are in nix/common.nix.
(import ./common.nix).module (
  {
    cfg,
    common,
    lib,
    options,
    package,
    pkgs,
    ...
  }:
  let
    hasPackage = options ? age && options.age ? package;
    hasAgeBin = options ? age && options.age ? ageBin;
  in
  {
    options.m3age = common.options {
      default = package pkgs;
      enables = "Whether agenix's home-manager module decrypts secrets with m3age.";
      runs = "agenix's home-manager service";
      packages = "home.packages";
    };

    config = lib.mkIf cfg.enable (
      lib.mkMerge [
        (common.needsAgenix (hasPackage || hasAgeBin) "m3age: agenix's home-manager options are missing; import agenix.homeManagerModules.default next to m3age's.")
        (lib.optionalAttrs hasPackage { age.package = lib.mkDefault cfg.package; })
        (lib.optionalAttrs hasAgeBin { age.ageBin = lib.mkDefault "${cfg.package}/bin/m3age"; })
        (lib.mkIf cfg.installCli { home.packages = [ cfg.package ]; })
      ]
    );
  }
)
