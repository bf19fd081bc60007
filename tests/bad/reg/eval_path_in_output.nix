{
  "secrets/a.age".publicKeys = [ ./keys.pub ];
}
