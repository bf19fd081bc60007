{ ... }:
{
  age.secrets.passwd.file = ../../../../etc/passwd;
}
