# Values tests/cli/pq_nix.sh evaluates: the NixOS module's m3age.hostPqIdentity option,
# against the stand-ins in stub.nix.
let
  stub = import ./stub.nix;
  inherit (stub) lib evalModule;
  nixosModule = import ../../nix/nixos-module.nix { };
  options = stub.agenixNixosOptions // {
    age = stub.agenixNixosOptions.age // {
      identityPaths = lib.mkOption { default = [ ]; };
    };
  };
  hostKeys = [
    {
      path = "/etc/ssh/ssh_host_ed25519_key";
      type = "ed25519";
    }
    {
      path = "/etc/ssh/ssh_host_ecdsa_key";
      type = "ecdsa";
    }
  ];
  on = evalModule {
    module = nixosModule;
    inherit options;
    config.m3age.hostPqIdentity.enable = true;
    config.services.openssh.hostKeys = hostKeys;
  };
  elsewhere = evalModule {
    module = nixosModule;
    inherit options;
    config.m3age.hostPqIdentity = {
      enable = true;
      directory = "/persist/m3age";
    };
  };
  off = evalModule {
    module = nixosModule;
    inherit options;
    config.services.openssh.hostKeys = hostKeys;
  };
in
{
  defaults = [
    off.seen.m3age.hostPqIdentity.enable
    off.seen.m3age.hostPqIdentity.directory
  ];
  identityPaths = on.config.age.identityPaths;
  agenixAfter = on.config.system.activationScripts.agenixInstall.deps;
  elsewherePaths = elsewhere.config.age.identityPaths;
  offSets = [
    (off.config ? system)
    (off.config.age ? identityPaths)
  ];
  script = on.config.system.activationScripts.m3ageHostPqIdentity.text;
  scriptElsewhere = elsewhere.config.system.activationScripts.m3ageHostPqIdentity.text;
}
