# A name given by ${ } never merges with another definition of it.
{
  hosts.atlas = "ssh-ed25519 AAAA1";
  ${"ho" + "sts"}.helios = "ssh-ed25519 AAAA2";
}
