{ "a.age".publicKeys = [ (builtins.fromJSON ''"\ude00"'') ]; }
