{ "a.age".publicKeys = [ (builtins.fromJSON "\"a\tb\"") ]; }
