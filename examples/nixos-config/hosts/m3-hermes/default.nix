{ ... }:
{
  networking.hostName = "m3-hermes";
  age.secrets.m3tam3re-password.file = ../../secrets/m3tam3re-password.age;
  age.secrets.mail-relay = {
    file = ../../secrets/mail-relay.age;
    owner = "postfix";
    group = "postfix";
  };
}
