let keys = builtins.readFile ./keys/hosts; in { "a.age".publicKeys = [ keys ]; }
