# builtins.substring and builtins.replaceStrings, as registries use them: a host key cut out
# of a known_hosts line, file names made from host names, and Nix 2.8's edge cases
let
  known = "m3-atlas ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAtlas00000000000000000000000000000000000000";
  atlas = builtins.substring 9 (-1) known;
  m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE";
  hosts = [ "m3-ares" "m3-kratos" "m3-daedalus" ];
  short = h: builtins.replaceStrings [ "m3-" ] [ "" ] h;
  s = builtins.substring;
  r = builtins.replaceStrings;
in
builtins.listToAttrs (map (h: {
  name = "secrets/${short h}-wifi.age";
  value.publicKeys = [ m3tam3re ];
}) hosts)
// {
  "secrets/atlas-restic.age".publicKeys = [ m3tam3re atlas ];
  "secrets/edge-cases.age".publicKeys = [
    (s 2 3 "hello")
    (s 10 3 "hello")
    (s 5 1 "hello")
    (s 1 100 "hello")
    (s 0 0 "hello")
    (s 0 (-2) "abc")
    (s 3 (-5) "abc")
    (s 4294967297 1 "abc")
    (s 0 4294967298 "abc")
    (s 0 (-4294967295) "abc")
    (s 1 2 { outPath = "xyz"; })
    (s 1 2 "a${"b"}cd")
    (r [ "a" "ab" ] [ "1" "2" ] "abab")
    (r [ "ab" "a" ] [ "2" "1" ] "abab")
    (r [ "" ] [ "-" ] "abc")
    (r [ "" ] [ "-" ] "")
    (r [ "b" "" ] [ "X" "-" ] "abc")
    (r [ "aa" ] [ "b" ] "aaa")
    (r [ "a" ] [ "aa" ] "aaa")
    (r [ ] [ ] "same")
    (r [ "x" "never" ] [ "y" (s 0 1 "zz") ] "xx")
    (r [ "\n" ] [ "\\n" ] "two\nlines")
  ];
}
