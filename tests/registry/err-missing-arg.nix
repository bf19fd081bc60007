let f = { a, b }: [ a b ]; in { "a.age".publicKeys = f { a = "1"; }; }
