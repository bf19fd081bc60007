# `import ./keys/hosts` reads keys/hosts/default.nix, whose own paths are relative to
# keys/hosts; importing the folder and its default.nix is one file.
let
  hosts = import ./keys/hosts;
  same = import ./keys/hosts/default.nix;
in
{
  "secrets/backup.age".publicKeys = [ hosts.m3-atlas hosts.m3-helios ];
  "secrets/same.age".publicKeys = if hosts == same then [ hosts.m3-atlas ] else [ ];
}
