let
  all = { "a.age".publicKeys = [ "1" ]; "b.age".publicKeys = [ "2" ]; "c.age".publicKeys = [ "3" ]; };
in
removeAttrs all [ "b.age" ] // { "d.age".publicKeys = builtins.concatLists (builtins.catAttrs "publicKeys" (builtins.attrValues all)); }
