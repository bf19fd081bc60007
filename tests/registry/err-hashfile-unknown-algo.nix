{ "a.age".publicKeys = [ (builtins.hashFile "sha384" ./fs/m3-helios.pub) ]; }
