{ "a.age".publicKeys = [ (builtins.fromJSON (builtins.readFile ./json/bad-utf8.json)) ]; }
