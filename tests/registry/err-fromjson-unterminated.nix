{ "a.age".publicKeys = builtins.fromJSON "[\"age1x"; }
