# the start is truncated to 32 bits, as Nix 2.8 does: 2^31 is negative
{ "a.age".publicKeys = [ (builtins.substring 2147483648 1 "age1") ]; }
