{
  "secrets/a.age".publicKeys = [ 42 ];
}
