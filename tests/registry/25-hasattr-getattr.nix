let keys = { m3-ares = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; }; in
{
  "a.age" = {
    publicKeys = [ (builtins.getAttr "m3-ares" keys) ];
    armor = builtins.hasAttr "m3-ares" keys && !(builtins.hasAttr "nope" keys);
  };
}
