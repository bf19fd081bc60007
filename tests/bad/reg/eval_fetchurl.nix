let k = builtins.fetchurl "https://example.org/keys"; in
{
  "secrets/a.age".publicKeys = [ k ];
}
