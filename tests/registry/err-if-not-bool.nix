{ "a.age" = { publicKeys = [ "1" ]; armor = if "yes" then true else false; }; }
