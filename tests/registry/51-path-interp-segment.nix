# A path interpolated inside a segment, as real registries write it.
let
  host = "helios";
  dir = "keys";
  name = "m3-";
in
{
  "secrets/helios.age".publicKeys = [
    (builtins.readFile ./keys/m3-${host}.pub)
    (builtins.readFile ./${dir}/${name}${host}.pub)
    (builtins.readFile ./k${"eys"}/m3-${host}.pub)
    (builtins.readFile ./keys/${name}helios.pub)
    (builtins.readFile ./keys/m3-${host}${".pub"})
  ];
  names = map baseNameOf [ ./keys/m3-${host}.pub ./keys/m3-${host} ];
  same = ./keys/m3-${host}.pub == ./keys/m3-helios.pub;
  imported = (import ./keys/${"default"}.nix).m3tam3re or null != null;
}
