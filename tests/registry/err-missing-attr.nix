let keys = { a = "1"; }; in { "a.age".publicKeys = [ keys.b ]; }
