let a = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; in
let b = a; c = let d = b; in d; in
{ "a.age".publicKeys = [ a b c ]; }
