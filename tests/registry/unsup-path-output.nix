{ "a.age" = { publicKeys = [ "1" ]; file = ./keys/m3-helios.pub; }; }
