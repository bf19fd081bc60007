# A name defined twice is an error when Nix parses the file, even in a set that is never
# used.
let
  unused = { atlas = "ssh-ed25519 AAAA1"; atlas = "ssh-ed25519 AAAA2"; };
in
{
  "secrets/wifi.age".publicKeys = [ "age1qqqq" ];
}
