{ "a.age" = { publicKeys = [ "1" ]; unused = [ (throw "forced by --strict") ]; }; }
