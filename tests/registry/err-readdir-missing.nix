{ "a.age".publicKeys = builtins.attrNames (builtins.readDir ./fs/missing); }
