# A path through a name that is not a set literal, in a set nobody uses.
let
  unused = {
    atlas = "ssh-ed25519 AAAA1";
    atlas.port = 22;
  };
in
{ }
