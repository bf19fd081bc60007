let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; useArmor = 3 > 2; n = 5; in
{
  "a.age" = { publicKeys = [ k ]; armor = if useArmor then true else false; };
  "b.age".publicKeys = if n - 5 == 0 then [ k ] else throw "unreachable";
  "c.age".publicKeys = [ (if n * 2 / 5 >= 2 then "x" else "y") ];
}
