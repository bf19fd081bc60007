{ ... }:
{
  networking.hostName = "m3-atlas";
  age.secrets = {
    m3tam3re-password.file = ../../secrets/m3tam3re-password.age;
    restic = {
      file = ../../secrets/restic-atlas.age;
      owner = "restic";
      mode = "0400";
    };
  };
}
