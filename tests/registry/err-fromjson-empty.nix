{ "a.age".publicKeys = builtins.fromJSON ""; }
