{ ... }:
{
  age.secrets.wifi.file = ../../secrets/wifi.age;
}
