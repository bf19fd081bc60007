let
  a = { "z.age".publicKeys = [ "1" ]; "m.age".publicKeys = [ "2" ]; };
  b = { "A.age".publicKeys = [ "3" ]; "_.age".publicKeys = [ "4" ]; "é.age".publicKeys = [ "5" ]; "0.age".publicKeys = [ "6" ]; };
in
a // b
