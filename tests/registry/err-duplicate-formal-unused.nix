# A function's argument named twice: a parse error, called or not.
let
  pick = { host, host }: host;
in
{ }
