{ ... }:
{
  networking.hostName = "m3-daedalus";
  age.secrets.wifi.file = ../../secrets/wifi.age;
  age.secrets.m3tam3re-password.file = ../../secrets/m3tam3re-password.age;
}
