# Code that is never evaluated still has its variables bound: each of these names is found
# (in a with, a rec set, a let, a function's arguments, a builtin), so the file evaluates.
let
  atlas = "ssh-ed25519 AAAAatlas";
  hosts = { helios = "ssh-ed25519 AAAAhelios"; };
  unusedWith = with hosts; [ helios anything-from-with ];
  unusedRec = rec { a = b; b = atlas; };
  unusedLambda = { port ? default, default ? 22, ... }@args: args.host or port;
  unusedLet = let x = y; y = map toString [ 1 ]; in x ++ __attrNames hosts;
  unusedIf = with hosts; if true then atlas else anything-from-with;
in
with hosts;
{
  "secrets/wifi.age".publicKeys = [ atlas helios ];
}
