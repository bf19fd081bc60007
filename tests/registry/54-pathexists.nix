# builtins.pathExists: a file, a folder, nothing, a dangling symlink (it exists, as a link),
# a symlink, a file's child, a string, and the choice real registries make with it.
let
  key = ./fs/m3-helios.pub;
  pick = p: if builtins.pathExists p then [ (builtins.readFile p) ] else [ ];
in
{
  checks = map builtins.pathExists [
    ./fs/m3-helios.pub
    ./fs
    ./fs/sub
    ./fs/missing.pub
    ./fs/dangling.pub
    ./fs/link.pub
    ./fs/sublink
    ./fs/m3-helios.pub/x
    ./fs/missing/x
    ./fs/empty
  ];
  asString = builtins.pathExists (toString key);
  "secrets/helios.age".publicKeys = pick key ++ pick ./fs/missing.pub;
}
