let k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; in
assert builtins.isString k;
assert builtins.isList [ k ] && builtins.isAttrs { } && builtins.typeOf 1 == "int";
{ "a.age".publicKeys = [ k ]; }
