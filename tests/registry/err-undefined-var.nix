let k = "age1x"; in { "a.age".publicKeys = [ k m3-nope ]; }
