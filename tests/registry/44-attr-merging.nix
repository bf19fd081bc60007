# Nix's parser merges the definitions of one name when each is a path or a set literal
# (parentheses included), into the first of them: the merged set is recursive exactly when
# that first one is a `rec { }`, and an `inherit` in a merged literal reads the scope
# around the set.
let
  x = 9;
  host = "m3-atlas";
in
rec {
  x = 1;
  # a rec literal first: the names added later see its scope
  hosts = rec { atlas = "ssh-ed25519 AAAAatlas"; };
  hosts.helios = atlas;
  # a plain literal first: a rec one merged in evaluates outside (z is the let's x, 9)
  users = { m3tam3re = "age1user"; };
  users = rec { x = 2; z = x; };
  # a literal in parentheses is a literal
  "secrets/wifi.age" = ({ publicKeys = [ hosts.atlas ]; });
  "secrets/wifi.age".armor = true;
  # inherit in a merged literal: from the rec set around it (x = 1, not the let's 9)
  groups = { inherit x; };
  groups.servers = [ host ];
  # a static ${ } name is a name like any other
  ${"keys"}.a = 1;
  keys.b = 2;
}
