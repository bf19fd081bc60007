{ "a.age".publicKeys = builtins.attrNames (builtins.readDir ./fs/dangling.pub); }
