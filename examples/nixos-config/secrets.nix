# Which keys may read each secret (agenix's secrets.nix). Demo repository: every key in
# demo-keys/ is a throwaway made for this example.
let
  # users
  m3tam3re = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA6sLg99zCo9EHPAt8NlCbg9KhjaHiduKChiQ8glz1Ky";
  m3tam3re-age = "age12kr962pt7x97k8vke4gx9s8pujpat8mh37rye9j0ssdjhdut2fjs5c4w9n";
  users = [ m3tam3re m3tam3re-age ];

  # desktops and laptop
  m3-ares = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKU6Poov6Qww7DsGxVqYG0abqj8kr3lNkNwZBO/7I8xp";
  m3-kratos = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJfSsy3/7y93dbWkdc5xmozroEALK1mhP0wwAM+DVteh";
  m3-daedalus = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPa4TnUeHqZilNl76adQrA0yvcqzvw1FrrPe+tqcnTw+";
  # servers
  m3-atlas = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINLt68Pjj9t8kmmdyzCSYtQh4l4u6B8OwlGZXltqU2uz";
  m3-helios = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBG29iuKFgBfe862qhrxNva5NtjcwSAiJoer85G9vLtk";
  m3-hermes = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC01PKv/1svasCyne2dvPPuk2KDNNYSxS5Gz7I5NLCzT";
  # cloud
  m3-aether = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO/7VlPnKUBlhK8lHyVaDSiD3Jvf81iwabXKil9MQW+t";

  workstations = [ m3-ares m3-kratos m3-daedalus ];
  servers = [ m3-atlas m3-helios m3-hermes m3-aether ];
in
{
  "secrets/wifi.age".publicKeys = users ++ workstations;
  "secrets/m3tam3re-password.age".publicKeys = users ++ workstations ++ servers;
  "secrets/restic-atlas.age".publicKeys = users ++ [ m3-atlas ];
  "secrets/nextcloud-admin.age".publicKeys = users ++ [ m3-helios ];
  "secrets/mail-relay.age" = {
    publicKeys = users ++ [ m3-hermes ];
    armor = true;
  };
  "secrets/wireguard-aether.age".publicKeys = users ++ [ m3-aether ];
}
