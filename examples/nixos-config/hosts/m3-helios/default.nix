{ self, ... }:
{
  networking.hostName = "m3-helios";
  age.secrets.m3tam3re-password.file = ../../secrets/m3tam3re-password.age;
  age.secrets."nextcloud-admin" = {
    file = "${self}/secrets/nextcloud-admin.age";
    owner = "nextcloud";
  };
}
