{
  "t.age".publicKeys = [ (toString 42) (toString true) (toString false) (toString null)
    (toString [ "a" 1 [ "b" ] [ ] "c" ]) (toString "s") (builtins.toString 1.5) (toString (-3)) ];
}
