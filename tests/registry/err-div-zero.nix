{ "a.age" = { publicKeys = [ "1" ]; n = 1 / 0; }; }
