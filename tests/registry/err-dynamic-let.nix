# A let may not name its bindings with ${ } (other than around a plain string).
let
  ${"m3-" + "atlas"} = "ssh-ed25519 AAAA1";
in
{ }
