let k = "1"; in { "a.age".publicKeys = [ (k "x") ]; }
