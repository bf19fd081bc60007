{
  "u.age" = { publicKeys = [ http://example.org/key "a-b_c'd" ]; url = https://m3-atlas.example/x?y=1; };
}
