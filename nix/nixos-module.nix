# NixOS module: makes agenix's module decrypt with m3age. Import it next to agenix's:
#
#   modules = [ agenix.nixosModules.default m3age.nixosModules.default ./configuration.nix ];
#
# agenix's activation script then runs `<m3age> --decrypt -i ID... -o PATH.tmp FILE`; m3age
# takes age's flags when its first argument is an option, so no `age` binary is involved.
# `package` is the m3age derivation the flake built for this system (a function of pkgs).
(import ./common.nix).module (
  {
    cfg,
    common,
    config,
    lib,
    options,
    package,
    pkgs,
    ...
  }:
  let
    hasAgenix = options ? age && options.age ? ageBin;
    # m3age with cfg.plugins first on its PATH: agenix runs it from the activation script,
    # whose PATH has no age plugins.
    pluginPath = lib.concatStringsSep ":" (map (p: "${p}/bin") cfg.plugins);
    pluginWrapper = pkgs.runCommand "m3age-with-plugins" { } ''
      mkdir -p $out/bin
      {
        echo '#!${pkgs.runtimeShell or "/bin/sh"}'
        echo 'PATH=${pluginPath}''${PATH:+:$PATH}'
        echo 'export PATH'
        echo 'exec ${cfg.package}/bin/m3age "$@"'
      } >$out/bin/m3age
      chmod 555 $out/bin/m3age
    '';
    ageBin =
      if cfg.plugins == [ ] then "${cfg.package}/bin/m3age" else "${pluginWrapper}/bin/m3age";
    # m3age.hostPqIdentity: where the host's post-quantum identity and its recipient live
    pqDir = cfg.hostPqIdentity.directory;
    pqKey = "${pqDir}/host-pq.txt";
    pqPub = "${pqDir}/host-pq.pub";
  in
  {
    options.m3age = common.options {
      default = package pkgs;
      enables = "Whether agenix decrypts secrets at activation with m3age (sets age.ageBin).";
      runs = "agenix's activation script";
      packages = "environment.systemPackages";
    }
    // {
      plugins = lib.mkOption {
        type = lib.types.listOf lib.types.package;
        default = [ ];
        example = lib.literalExpression "[ pkgs.age-plugin-tpm ]";
        description = "age plugins (packages with bin/age-plugin-NAME) on the PATH of agenix's activation step, for a host that decrypts with a plugin identity (e.g. a TPM-bound host key in age.identityPaths).";
      };
      # A post-quantum identity for the host, so that its secrets need not open with its
      # classical SSH host key (see `m3age hosts sync --pq`).
      hostPqIdentity = {
        enable = lib.mkOption {
          type = lib.types.bool;
          default = false;
          description = ''
            Whether the host gets a post-quantum (mlkem768x25519) identity: generated on the
            host at its first activation (`m3age keygen --pq`; mode 0400, root, never leaves
            it), added to age.identityPaths beside the SSH host keys, and its age1pq1
            recipient written to `directory`/host-pq.pub (world-readable) for
            `m3age hosts sync --pq` to collect.
          '';
        };
        directory = lib.mkOption {
          type = lib.types.str;
          default = "/var/lib/m3age";
          description = "The state folder of the host's post-quantum identity.";
        };
      };
    };

    config = lib.mkIf cfg.enable (
      lib.mkMerge [
        (common.needsAgenix hasAgenix "m3age: the option age.ageBin does not exist; import agenix's NixOS module (agenix.nixosModules.default) next to m3age's.")
        (lib.optionalAttrs hasAgenix {
          # mkDefault: above agenix's own default, below anything the user writes.
          age.ageBin = lib.mkDefault ageBin;
        })
        (lib.mkIf cfg.installCli { environment.systemPackages = [ cfg.package ]; })
        (lib.mkIf cfg.hostPqIdentity.enable {
          # before agenix decrypts: an identity made once, kept across generations
          system.activationScripts.m3ageHostPqIdentity = {
            deps = [ "specialfs" ];
            text = ''
              install -d -m 0755 -o root -g root ${lib.escapeShellArg pqDir}
              if [ ! -s ${lib.escapeShellArg pqKey} ]; then
                rm -f ${lib.escapeShellArg "${pqKey}.new"}
                (umask 077 && ${cfg.package}/bin/m3age keygen --pq -o ${lib.escapeShellArg "${pqKey}.new"}) 2>/dev/null &&
                  chmod 0400 ${lib.escapeShellArg "${pqKey}.new"} &&
                  mv -f ${lib.escapeShellArg "${pqKey}.new"} ${lib.escapeShellArg pqKey} ||
                  echo "m3age: error: cannot create the post-quantum identity ${pqKey}" >&2
              fi
              if [ -s ${lib.escapeShellArg pqKey} ] &&
                ${cfg.package}/bin/m3age keygen -y ${lib.escapeShellArg pqKey} >${lib.escapeShellArg "${pqPub}.new"}; then
                chmod 0444 ${lib.escapeShellArg "${pqPub}.new"}
                mv -f ${lib.escapeShellArg "${pqPub}.new"} ${lib.escapeShellArg pqPub}
              fi
            '';
          };
        })
        (lib.optionalAttrs hasAgenix (
          lib.mkIf cfg.hostPqIdentity.enable {
            system.activationScripts.agenixInstall.deps = [ "m3ageHostPqIdentity" ];
            # agenix's own default (the SSH host keys) plus the post-quantum identity: secrets
            # not moved yet still open
            age.identityPaths = [
              pqKey
            ]
            ++ map (k: k.path) (
              builtins.filter (k: k.type == "rsa" || k.type == "ed25519") (
                config.services.openssh.hostKeys or [ ]
              )
            );
          }
        ))
      ]
    );
  }
)
