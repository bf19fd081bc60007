let
  keys = import ./keys;
  u = import ./keys/users.nix;
in
{
  "secrets/wifi.age".publicKeys = [ keys.m3tam3re keys.m3-kratos ];
  "secrets/users.age".publicKeys = u.users ++ [ u.m3tam3re ];
}
