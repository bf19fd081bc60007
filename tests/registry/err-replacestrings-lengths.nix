{ "a.age".publicKeys = [ (builtins.replaceStrings [ "a" ] [ ] "age1") ]; }
