{ prefix ? "secrets/" }:
names: builtins.listToAttrs (map (n: { name = prefix + n + ".age"; value = { publicKeys = [ "age1qqq" ]; }; }) names)
