let mk = import ./keys/fn.nix { }; mk2 = import ./keys/fn.nix { prefix = "hosts/"; }; in
mk [ "a" "b" ] // mk2 [ "c" ]
