# `inherit` takes a name in ${ } when it is a plain string, as Nix's parser does.
let
  atlas = "ssh-ed25519 AAAAatlas";
  keys = { helios = "ssh-ed25519 AAAAhelios"; };
in
{
  inherit ${"atlas"};
  inherit (keys) ${"helios"};
}
