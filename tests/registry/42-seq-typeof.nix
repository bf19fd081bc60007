{ "t.age".publicKeys = map builtins.typeOf [ 1 1.0 "s" true null [ ] { } (x: x) ./. ] ++ [ (builtins.seq 1 "seq") (builtins.deepSeq [ 1 ] "deep") ]; }
