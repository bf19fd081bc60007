let k = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"; in
{
  "secrets/a.age".publicKeys = [ k ];
  "secrets/a.age".armor = true;
  "hosts/vm/wifi.age".publicKeys = [ k ];
}
