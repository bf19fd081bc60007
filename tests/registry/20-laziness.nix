let
  k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares";
  broken = throw "never used";
  alsoBroken = builtins.readFile ./does-not-exist.pub;
  cyclic = cyclic;
  unusedFn = x: x.y.z;
in
{
  "a.age".publicKeys = [ k ];
  "b.age".publicKeys = builtins.filter (x: true || x != broken) [ k ];
}
