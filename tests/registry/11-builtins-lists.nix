let
  keys = { m3-ares = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; m3-kratos = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGmXfnV8d0aP2t1sYc6Yc9Q0dGk0k8l1r6sZ3g5o9Hh1 root@m3-kratos"; m3-atlas = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 root@m3-atlas"; m3-hermes = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"; };
  names = builtins.attrNames keys;
  all = builtins.attrValues keys;
in
{
  "names.age".publicKeys = names;
  "all.age".publicKeys = all;
  "mapped.age".publicKeys = map (n: keys.${n}) (builtins.filter (n: n != "m3-atlas") names);
  "concat.age".publicKeys = builtins.concatLists [ [ keys.m3-ares ] [ ] [ keys.m3-kratos ] ];
  "cmap.age".publicKeys = builtins.concatMap (n: [ keys.${n} ]) [ "m3-hermes" ];
  "head.age".publicKeys = [ (builtins.head all) (builtins.elemAt all 2) ];
  "len.age" = { publicKeys = [ (toString (builtins.length all)) ]; n = builtins.length all; };
}
