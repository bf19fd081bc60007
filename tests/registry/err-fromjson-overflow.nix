{ "a.age".publicKeys = builtins.fromJSON "[1e400]"; }
