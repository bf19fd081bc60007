# overlays.default: adds `m3age` to pkgs. `src` is the m3age source (the flake passes itself).
{
  src ? ../.,
}:

final: prev: {
  m3age = final.callPackage ./package.nix { inherit src; };
}
