let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; hosts = [ "a" "b" ]; in
{
  "t.age" = {
    publicKeys = [ k ];
    armor = builtins.elem "a" hosts && !(builtins.any (h: h == "c") hosts) || false;
  };
  "u.age" = { publicKeys = [ k ]; armor = builtins.all (h: h != "") hosts -> 1 == 1; };
  "v.age" = { publicKeys = [ k ]; armor = ({ a = 1; } ? a) && !({ } ? a.b) && [ 1 2 ] != [ 2 1 ]; };
}
