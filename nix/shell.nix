# devShells.default: every build and test dependency of m3age (`make`, `make check`,
# `make asan`, `make bench`, `make lint-man`), plus the shells the completion tests drive.
{
  pkgs,
  m3age ? pkgs.callPackage ./package.nix { },
}:

pkgs.mkShell {
  inputsFrom = [ m3age ];
  packages = with pkgs; [
    gnumake
    pkg-config
    criterion
    zlib
    age
    openssh
    git
    nix
    mandoc
    hyperfine
    valgrind
    clang-tools
    bashInteractive
    zsh
    fish
  ];
}
