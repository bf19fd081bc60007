{
  "secrets/a.age".publicKeys = abort "stop here";
}
