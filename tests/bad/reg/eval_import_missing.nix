let keys = import ./no-such-keys.nix; in
{
  "secrets/a.age".publicKeys = keys;
}
