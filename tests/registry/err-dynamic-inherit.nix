# inherit takes no name known only when evaluated.
let
  atlas = "ssh-ed25519 AAAAatlas";
  which = "atlas";
in
{
  inherit "${which}";
}
