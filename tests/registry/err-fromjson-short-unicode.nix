{ "a.age".publicKeys = [ (builtins.fromJSON ''"\u41"'') ]; }
