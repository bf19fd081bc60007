{ "a.age".publicKeys = builtins.attrNames (builtins.readDir ./keys); }
