{ "a.age".publicKeys = [ (builtins.replaceStrings [ "a" ] [ 1 ] "age1") ]; }
