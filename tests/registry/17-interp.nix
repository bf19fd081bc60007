let user = "m3tam3re"; host = "m3-ares"; k = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares"; dir = "secrets"; in
{
  "${dir}/${host}-wifi.age".publicKeys = [ k ];
  "${dir}/${user}.age".publicKeys = [ "${k}" "prefix-${user}-${host}" ];
  ${"dyn" + ".age"}.publicKeys = [ k ];
  ${dir + "/x.age"} = { publicKeys = [ k ]; };
}
