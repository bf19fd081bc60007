{
  "esc.age".publicKeys = [ "quote \" backslash \\ dollar \$ ${"$"}{x} tab\t nl\n cr\r" "\u00e9" "ünïcødé ✓" "$$x" "a$" ];
}
