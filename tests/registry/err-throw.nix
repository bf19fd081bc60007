{ "a.age".publicKeys = throw "no keys for a.age"; }
