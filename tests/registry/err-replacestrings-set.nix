# no coercion: a set with outPath is not a string here (it is for substring)
{ "a.age".publicKeys = [ (builtins.replaceStrings [ "a" ] [ "b" ] { outPath = "age1"; }) ]; }
