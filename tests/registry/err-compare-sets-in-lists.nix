let pick = a: b: if a < b then b else a; in { "a.age".publicKeys = pick [ { k = 1; } ] [ { k = 2; } ]; }
