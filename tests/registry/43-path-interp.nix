let
  host = "m3-helios";
  dir = "keys";
in
{
  "secrets/helios.age".publicKeys = [
    (builtins.readFile ./keys/${host}.pub)
    (builtins.readFile ./${dir}/${host}.pub)
    (toString (builtins.length [ ./keys/${host}.pub ]))
  ];
}
