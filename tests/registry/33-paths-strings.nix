let
  dir = ./keys;
  helios = builtins.readFile (dir + "/m3-helios.pub");
  base = baseNameOf "/a/b/c.age";
in
{ "${base}".publicKeys = [ helios ]; }
