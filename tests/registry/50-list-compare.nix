# Lists compare as in Nix 2.8: the first elements that are not equal decide (later ones are
# never evaluated), else the shorter list is the lesser. Used to pick keys by version.
let
  versions = [ [ 1 2 ] [ 1 10 ] [ 1 2 0 ] [ ] ];
  newest = builtins.foldl' (a: b: if a < b then b else a) [ ] versions;
in
{
  "secrets/versioned.age".publicKeys =
    if newest == [ 1 10 ] && [ 1 (throw "never") ] < [ 2 (throw "never") ] && [ { } ] < [ { } 0 ]
      && !([ "b" ] <= [ "a" ]) && [ 1 ] < [ 1.5 ] && [ [ 1 ] ] >= [ [ 0 5 ] ]
    then [ "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq0" ]
    else [ ];
}
