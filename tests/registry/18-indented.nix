let
  k = ''
    ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE
  '';
  multi = ''
      line one
        indented
      ''${not interpolated} '''quoted''' $x
    tab:''\t end
  '';
  oneline = ''  spaced  '';
in
{
  "a.age".publicKeys = [ k multi oneline ];
}
