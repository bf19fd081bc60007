{ "a.age".publicKeys = lib.attrValues { a = "1"; }; }
