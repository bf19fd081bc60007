{
  description = "m3age: age-encrypted secrets for NixOS flake repositories, an agenix drop-in";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-unstable";

  outputs =
    { self, nixpkgs }:
    let
      # The package's meta.platforms is Linux (the Makefile's flags and sonames are Linux's):
      # no outputs are offered for systems it cannot build.
      systems = [
        "x86_64-linux"
        "aarch64-linux"
      ];
      forAllSystems = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # The m3age this flake builds, for whatever pkgs a consumer evaluates with.
      packageFor =
        pkgs:
        self.packages.${pkgs.stdenv.hostPlatform.system}.default
          or (pkgs.callPackage ./nix/package.nix { src = ./.; });
    in
    {
      packages = forAllSystems (pkgs: rec {
        m3age = pkgs.callPackage ./nix/package.nix { src = ./.; };
        default = m3age;
      });

      apps = forAllSystems (pkgs: {
        default = {
          type = "app";
          program = "${self.packages.${pkgs.stdenv.hostPlatform.system}.default}/bin/m3age";
        };
      });

      overlays.default = import ./nix/overlay.nix { src = ./.; };

      devShells = forAllSystems (pkgs: {
        default = import ./nix/shell.nix {
          inherit pkgs;
          m3age = self.packages.${pkgs.stdenv.hostPlatform.system}.default;
        };
      });

      nixosModules.default = import ./nix/nixos-module.nix { package = packageFor; };
      homeManagerModules.default = import ./nix/hm-module.nix { package = packageFor; };

      lib = import ./nix/lib.nix { package = packageFor; };

      # `nix flake check` on this repository: the package builds and its whole test suite
      # passes (a user's build runs the fast subset, see nix/package.nix).
      checks = forAllSystems (pkgs: {
        m3age = pkgs.callPackage ./nix/package.nix {
          src = ./.;
          fullCheck = true;
        };
      });
    };
}
