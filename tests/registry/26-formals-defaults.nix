let
  f = { a, b ? a + "-default", ... }@all: [ a b (toString (builtins.length (builtins.attrNames all))) ];
  g = { x ? y, y ? "why" }: x;
in
{
  "f.age".publicKeys = f { a = "A"; extra = 1; };
  "g.age".publicKeys = [ (g { }) (g { x = "ex"; }) ];
}
