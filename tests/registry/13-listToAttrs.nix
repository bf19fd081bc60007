let
  k = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
  names = [ "wifi" "vpn" "backup" "wifi" ];
in
builtins.listToAttrs (map (n: { name = "secrets/${n}.age"; value = { publicKeys = [ k ]; }; }) names)
