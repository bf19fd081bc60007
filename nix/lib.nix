# m3age's Nix functions. `auditCheck` turns a repository into a flake check:
#
#   checks.x86_64-linux.secrets = m3age.lib.auditCheck {
#     pkgs = nixpkgs.legacyPackages.x86_64-linux;
#     src = ./.;
#   };
#
# The check runs `m3age audit` in a copy of the repository. Audit reads only the registry,
# the hosts' modules and the .age headers, so no private key is needed; error findings (exit
# 1) or an audit that cannot run (exit 2) fail the build, warnings do not. The JSON report
# (`m3age audit --json`) is the check's output.
{
  # package: pkgs -> the m3age derivation to run (the flake passes its own build).
  package ? pkgs: pkgs.callPackage ./package.nix { },
}:

{
  auditCheck =
    {
      pkgs,
      src,
      # The folder within src holding the registry (agenix users often keep secrets/secrets.nix).
      root ? ".",
      # The registry file, relative to root; null lets m3age find secrets.nix as usual.
      rules ? null,
      # Limit the audit to these hosts (the --host option); [ ] audits every host.
      hosts ? [ ],
      extraArgs ? [ ],
      m3age ? package pkgs,
      name ? "m3age-audit",
    }:
    let
      inherit (pkgs) lib;
      args = lib.concatMap (h: [
        "--host"
        h
      ]) hosts ++ extraArgs;
      audit = extra: lib.escapeShellArgs ([ "${m3age}/bin/m3age" "audit" ] ++ extra ++ args);
      dir = if root == "." then "${src}" else "${src}/${root}";
    in
    pkgs.runCommand name
      {
        # Nothing is fetched or secret: the audit reads the repository only.
        preferLocalBuild = true;
        allowSubstitutes = false;
        passthru = { inherit args; };
      }
      (
        ''
          export HOME="$TMPDIR/home" NO_COLOR=1 LC_ALL=C
          mkdir -p "$HOME"
          cd ${lib.escapeShellArg dir}
        ''
        + lib.optionalString (rules != null) ''
          export RULES=${lib.escapeShellArg rules}
        ''
        + ''
          # The human report goes to the build log; a non-zero status fails the check.
          ${audit [ ]}
          ${audit [ "--json" ]} > "$out"
        ''
      );
}
