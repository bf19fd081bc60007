let
  keys = { m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; m3-ares = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmXfnV8d0aP2t1sYc6Yc9Q0dGk0k8l1r6sZ3g5o9Hh1 root@m3-kratos"; };
  inherit (keys) m3tam3re;
  inherit (keys) m3-ares;
in
{ "a.age".publicKeys = [ m3tam3re m3-ares ]; }
