{
  "secrets/a.age".publicKeys = [ (builtins.getEnv "HOME") ];
}
