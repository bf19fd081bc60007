{ "a.age".publicKeys = [ (builtins.substring 0 1 42) ]; }
