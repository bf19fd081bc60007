# the full fleet of m3tam3re
let
  # users
  m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJq0wq3cTqs3RPIBAcEpmhcM5YzjrYz4cUnaJ5Q1D9nE m3tam3re@m3-ares";
  users = [ m3tam3re ];

  # desktops and laptop
  m3-ares = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAres0000000000000000000000000000000000000000";
  m3-kratos = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKratos00000000000000000000000000000000000000";
  m3-daedalus = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDaedalus000000000000000000000000000000000000";
  workstations = [ m3-ares m3-kratos m3-daedalus ];

  # servers
  m3-atlas = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAtlas00000000000000000000000000000000000000";
  m3-helios = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHelios0000000000000000000000000000000000000";
  m3-hermes = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHermes0000000000000000000000000000000000000";
  m3-aether = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAether0000000000000000000000000000000000000";
  servers = [ m3-atlas m3-helios m3-hermes m3-aether ];
in
{
  "secrets/wifi.age".publicKeys = users ++ workstations;
  "secrets/m3tam3re-password.age".publicKeys = users ++ workstations ++ servers;
  "secrets/atlas-restic.age".publicKeys = users ++ [ m3-atlas ];
  "secrets/helios-acme.age".publicKeys = users ++ [ m3-helios ];
  "secrets/hermes-smtp.age" = {
    publicKeys = users ++ [ m3-hermes ];
    armor = true;
  };
  "secrets/aether-wg.age".publicKeys = users ++ [ m3-aether ];
  "secrets/tailscale.age".publicKeys = users ++ workstations ++ servers;
}
