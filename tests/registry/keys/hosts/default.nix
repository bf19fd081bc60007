# A folder imported as `import ./keys/hosts`: its paths are relative to this folder.
{
  m3-helios = builtins.readFile ../m3-helios.pub;
  m3-atlas = builtins.readFile ./m3-atlas.pub;
  users = import ../users.nix;
}
