{
  "secrets/a.age".publicKeys = [ (builtins.readFile /etc/hostname) ];
}
