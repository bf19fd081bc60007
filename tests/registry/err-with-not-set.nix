with "x"; { "a.age".publicKeys = [ y ]; }
