let keys = import ./inc_broken.nix; in
{
  "secrets/a.age".publicKeys = keys;
}
