# builtins.fromJSON: a key list kept as JSON (publicKeys = builtins.fromJSON (builtins.readFile
# ../keys.json) in real registries), and every kind of JSON value as Nix 2.8 reads it.
let
  keys = builtins.fromJSON (builtins.readFile ./json/keys.json);
  all = keys.users ++ builtins.attrValues keys.hosts;
in
{
  "secrets/fleet.age" = { publicKeys = all; armor = keys.armor; };
  "secrets/none.age".publicKeys = if keys.rekeyAfter == null then keys.users else [ ];
  objects = builtins.fromJSON ''{ "b": {"x": [1, 2, {}]}, "a": 2, "a": 1, "": null, "z": [] }'';
  ints = builtins.fromJSON "[0, -0, 7, -7, 9223372036854775807, -9223372036854775808]";
  wrapped = builtins.fromJSON "[12345678901234567890, 18446744073709551615]";
  floats = builtins.fromJSON "[1.0, 1e2, -0.0, 1E-2, 0.1, 1.5e300, 2.5e-310, 3.14159265358979, 18446744073709551616, -9223372036854775809]";
  types = map builtins.typeOf (builtins.fromJSON "[1, 1.0, 1e0, \"1\", true, null, [], {}]");
  strings = builtins.fromJSON ''[ "plain", "a\"b\\c\/d", "\b\f\n\r\t", "\u00e9\u20AC", "\ud83d\ude00", "é€😀", "" ]'';
  nul = builtins.stringLength (builtins.fromJSON ''"ab\u0000cd"'');
  literals = builtins.fromJSON " \n\t\r[ true , false , null ]\n ";
  nested = builtins.fromJSON "[[[[{\"a\":[[]]}]]]]";
  scalar = builtins.fromJSON "42" + builtins.fromJSON " 1 ";
}
