let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; in
{
  "a.age" = { publicKeys = [ k ]; };
  "a.age".armor = true;
  nested.deep.path = { publicKeys = [ k ]; };
  nested.deep.other.publicKeys = [ k ];
}
