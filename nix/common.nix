# What nix/nixos-module.nix and nix/hm-module.nix share: how a module is made (`module`),
# the options m3age.enable, m3age.package and m3age.installCli, and the assertion that
# agenix's own module is imported. Each module names, in the texts it passes, where the
# option acts.
let
  parts = lib: {
    # options: the three options; default is the m3age package, runs says what runs it
    # ("agenix's activation script"), packages where installCli puts it, enables what enable
    # sets on.
    options =
      {
        default,
        enables,
        runs,
        packages,
      }:
      {
        enable = lib.mkOption {
          type = lib.types.bool;
          default = true;
          description = enables;
        };
        package = lib.mkOption {
          type = lib.types.package;
          inherit default;
          defaultText = lib.literalExpression "m3age.packages.\${system}.default";
          description = "The m3age package ${runs} runs.";
        };
        installCli = lib.mkOption {
          type = lib.types.bool;
          default = true;
          description = "Whether to put m3age (and its agenix name) in ${packages}.";
        };
      };

    # needsAgenix: the config that fails evaluation with message when ok is false.
    needsAgenix = ok: message: {
      assertions = [
        {
          assertion = ok;
          inherit message;
        }
      ];
    };
  };
in
{
  # module body: an m3age module as flake.nix exports it, a function of `{ package ? ... }`
  # (the m3age derivation for a pkgs; by default pkgs.m3age, else built from this source)
  # that returns the module itself. body is called with the module's arguments (config,
  # options, lib, pkgs, ...) plus cfg (config.m3age), package, and common (the shared
  # options and assertion above).
  module =
    body:
    {
      package ? pkgs: pkgs.m3age or (pkgs.callPackage ./package.nix { }),
    }:
    # pkgs is named so that the module system passes it (it gives a module only the
    # arguments its function names, beyond config, options and lib).
    args@{ config, lib, pkgs, ... }:
    body (
      args
      // {
        inherit package;
        cfg = config.m3age;
        common = parts lib;
      }
    );
}
