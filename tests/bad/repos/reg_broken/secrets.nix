{
  "secrets/wifi.age".publicKeys = [ m3-ares ];
}
