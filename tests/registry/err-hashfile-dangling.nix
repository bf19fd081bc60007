{ "a.age".publicKeys = [ (builtins.hashFile "sha256" ./fs/dangling.pub) ]; }
