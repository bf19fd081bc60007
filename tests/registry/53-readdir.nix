# builtins.readDir: name -> "regular" / "directory" / "symlink" (links are not followed,
# a dangling one included), a folder reached through a symlink, and the common use: the
# keys of a folder of .pub files.
let
  pubs = builtins.attrNames (builtins.readDir ./fs);
  regular = builtins.attrNames (builtins.removeAttrs (builtins.readDir ./fs) [ "sub" "sublink" "link.pub" "dangling.pub" ]);
in
{
  all = builtins.readDir ./fs;
  sub = builtins.readDir ./fs/sub;
  throughLink = builtins.readDir ./fs/sublink;
  fromString = builtins.readDir "${toString ./fs}/sub";
  names = pubs;
  "secrets/helios.age".publicKeys = map (n: builtins.readFile (./fs + "/${n}"))
    (builtins.filter (n: n == "m3-helios.pub") regular);
}
