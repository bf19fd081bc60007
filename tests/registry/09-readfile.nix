let
  helios = builtins.readFile ./keys/m3-helios.pub;
  trimmed = builtins.head (builtins.filter (x: x != "") [ "" helios ]);
in
{
  "secrets/helios.age".publicKeys = [ helios trimmed ];
}
