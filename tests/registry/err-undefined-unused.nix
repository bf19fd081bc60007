# A variable bound nowhere is an error of the whole file (Nix binds variables when it
# parses), even in code that is never evaluated: here a function nobody calls, in lets
# and lambdas nested in one another.
let
  atlas = "ssh-ed25519 AAAAatlas";
  unused = host: port: let inner = let deeper = port; in deeper; in hosts.${host} + inner;
in
{
  "secrets/wifi.age".publicKeys = [ atlas ];
}
