# What nix/nixos-module.nix and nix/hm-module.nix share: the options m3age.enable,
# m3age.package and m3age.installCli, and the assertion that agenix's own module is
# imported. Each module names, in the texts it passes, where the option acts.
{ lib }:

{
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
}
