let keys = import ../../../../../../../../etc/passwd; in
{
  "secrets/a.age".publicKeys = [ keys ];
}
