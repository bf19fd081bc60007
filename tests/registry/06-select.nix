let
  keys = { users.m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; hosts = { "m3-hermes" = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmXfnV8d0aP2t1sYc6Yc9Q0dGk0k8l1r6sZ3g5o9Hh1 root@m3-kratos"; }; };
  name = "m3-hermes";
in
{
  "a.age".publicKeys = [ keys.users.m3tam3re keys.hosts."m3-hermes" keys.hosts.${name} ];
  "b.age".publicKeys = [ (keys.hosts.missing or "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p") ];
  "c.age".publicKeys = [ keys.users.m3tam3re or "none" ];
}
