{ "a.age".publicKeys = [ (builtins.readFile (builtins.fetchurl "https://example.org/k.pub")) ]; }
