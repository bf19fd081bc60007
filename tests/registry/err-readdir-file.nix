{ "a.age".publicKeys = builtins.attrNames (builtins.readDir ./fs/m3-helios.pub); }
