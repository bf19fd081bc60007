{ ... }:
{
  networking.hostName = "m3-aether";
  age.secrets.m3tam3re-password.file = ../../secrets/m3tam3re-password.age;
  age.secrets.wireguard.file = ../../secrets/wireguard-aether.age;
}
