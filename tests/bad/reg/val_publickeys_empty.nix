{
  "secrets/a.age".publicKeys = [ ];
}
