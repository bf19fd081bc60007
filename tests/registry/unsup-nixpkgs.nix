let pkgs = import <nixpkgs> { }; in { "a.age".publicKeys = [ "1" ]; b = pkgs.hello; }
