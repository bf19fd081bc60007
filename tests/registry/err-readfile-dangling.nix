{ "a.age".publicKeys = [ (builtins.readFile ./fs/dangling.pub) ]; }
