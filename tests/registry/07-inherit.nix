let
  m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares";
  hostKeys = { m3-aether = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmXfnV8d0aP2t1sYc6Yc9Q0dGk0k8l1r6sZ3g5o9Hh1 root@m3-kratos"; m3-helios = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 root@m3-atlas"; };
  set = { inherit m3tam3re; inherit (hostKeys) m3-aether m3-helios; };
in
{
  "secrets/aether.age".publicKeys = [ set.m3tam3re set.m3-aether ];
  "secrets/helios.age".publicKeys = builtins.attrValues set;
}
