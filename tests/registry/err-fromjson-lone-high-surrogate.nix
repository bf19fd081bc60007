{ "a.age".publicKeys = [ (builtins.fromJSON ''"\ud83d x"'') ]; }
