{ "c.age".publicKeys = [ "bell:\a" (builtins.readFile ./keys/ctrl.txt) ]; }
