let
  k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares";
  mk = keys: { publicKeys = keys; };
  mk2 = { keys, armor ? false, ... }: { publicKeys = keys; inherit armor; };
  add = a: b: a ++ b;
in
{
  "a.age" = mk [ k ];
  "b.age" = mk2 { keys = [ k ]; };
  "c.age" = mk2 { keys = add [ k ] [ "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p" ]; armor = true; extra = 1; };
  "d.age" = (args@{ keys, ... }: { publicKeys = args.keys; }) { keys = [ k ]; };
}
