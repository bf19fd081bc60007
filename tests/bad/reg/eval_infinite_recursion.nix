let k = k; in
{
  "secrets/a.age".publicKeys = [ k ];
}
