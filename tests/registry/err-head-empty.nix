{ "a.age".publicKeys = [ (builtins.head [ ]) ]; }
