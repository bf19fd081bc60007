{
  "secrets/a.age".publicKeys = [ "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA" ];
}
