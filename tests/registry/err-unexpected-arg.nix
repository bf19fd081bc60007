let f = { a }: [ a ]; in { "a.age".publicKeys = f { a = "1"; b = "2"; }; }
