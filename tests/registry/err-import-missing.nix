let keys = import ./keys/missing.nix; in { "a.age".publicKeys = [ keys.x ]; }
