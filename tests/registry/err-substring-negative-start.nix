{ "a.age".publicKeys = [ (builtins.substring (-1) 2 "age1") ]; }
