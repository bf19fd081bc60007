# For users without flakes: `nix-build` builds m3age with the nixpkgs on NIX_PATH;
# `nix-build -A ...` is not needed, the file evaluates to the package itself.
{
  pkgs ? import <nixpkgs> { },
}:

pkgs.callPackage ./nix/package.nix { src = ./.; }
