{ "a.age" = { publicKeys = [ "1" ]; }; "a.age" = { publicKeys = [ "1" ]; }; }
