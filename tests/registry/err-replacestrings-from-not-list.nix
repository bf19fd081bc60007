{ "a.age".publicKeys = [ (builtins.replaceStrings "a" [ "b" ] "age1") ]; }
