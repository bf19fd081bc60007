{
  "secrets/a.age".publicKeys = [ nobody ];
}
