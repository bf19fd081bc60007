{ "a.age".publicKeys = builtins.fromJSON "[01]"; }
