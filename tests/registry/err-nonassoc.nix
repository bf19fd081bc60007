{ "a.age" = { publicKeys = [ "1" ]; armor = 1 == 1 == true; }; }
