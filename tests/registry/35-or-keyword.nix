let s = { a = { b = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; }; }; in
{
  "x.age".publicKeys = [ (s.a.b or "no") (s.a.c or "fallback") (s.z.y.x or "deep") ];
  "y.age".publicKeys = [ (s.a or { b = "q"; }).b ];
}
