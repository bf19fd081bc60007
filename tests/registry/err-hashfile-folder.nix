{ "a.age".publicKeys = [ (builtins.hashFile "sha256" ./fs/sub) ]; }
