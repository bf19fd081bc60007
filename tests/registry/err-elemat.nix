{ "a.age".publicKeys = [ (builtins.elemAt [ "1" ] 1) ]; }
