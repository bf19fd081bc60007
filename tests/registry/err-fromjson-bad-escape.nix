{ "a.age".publicKeys = [ (builtins.fromJSON ''"\x41"'') ]; }
