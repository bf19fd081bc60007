# builtins.hashFile with every algorithm Nix 2.8 knows, on a key, an empty file and a file
# reached through a symlink.
let algos = [ "md5" "sha1" "sha256" "sha512" ]; in
{
  key = map (a: builtins.hashFile a ./fs/m3-helios.pub) algos;
  empty = map (a: builtins.hashFile a ./fs/empty) algos;
  link = builtins.hashFile "sha256" ./fs/link.pub;
  fromString = builtins.hashFile "sha1" (toString ./fs/m3-helios.pub);
  "secrets/helios.age".publicKeys =
    if builtins.hashFile "sha256" ./fs/link.pub == builtins.hashFile "sha256" ./fs/m3-helios.pub
    then [ (builtins.readFile ./fs/link.pub) ] else [ ];
}
