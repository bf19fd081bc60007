let hosts = [ "m3-ares" "m3-kratos" ]; in
{ "${builtins.concatStringsSep "-" hosts}.age".publicKeys = builtins.genList (i: "key${toString i}") 3; }
