# A minimal stand-in for nixpkgs' `lib` and `pkgs`, enough to evaluate m3age's Nix files with
# nix-instantiate and no nixpkgs (there is no network in CI). Module-system functions return
# tagged values (mkIf -> { _type = "if"; ... }) and `evalModule` resolves them, so tests can
# assert what a module sets and at which priority. Derivations are plain attribute sets with
# a fake store path: nothing is built, their attributes are inspected.
let
  b = builtins;
  fakeStore = name: "/nix/store/00000000000000000000000000000000-${name}";

  lib = rec {
    # module system
    mkOption = attrs: attrs // { _type = "option"; };
    mkIf = condition: content: {
      _type = "if";
      inherit condition content;
    };
    mkMerge = contents: {
      _type = "merge";
      inherit contents;
    };
    mkOverride = priority: content: {
      _type = "override";
      inherit priority content;
    };
    mkDefault = mkOverride 1000;
    mkForce = mkOverride 50;
    literalExpression = text: {
      _type = "literalExpression";
      inherit text;
    };
    types = {
      bool = { name = "bool"; };
      str = { name = "str"; };
      package = { name = "package"; };
      path = { name = "path"; };
      listOf = t: { name = "listOf"; elem = t; };
      attrsOf = t: { name = "attrsOf"; elem = t; };
    };

    # outputs: nixpkgs' getLib is the "lib" output, else "out", else the derivation itself
    getLib = d: d.lib or d.out or d;

    # attribute sets and lists
    optionalAttrs = cond: attrs: if cond then attrs else { };
    optionalString = cond: s: if cond then s else "";
    optional = cond: x: if cond then [ x ] else [ ];
    optionals = cond: l: if cond then l else [ ];
    concatMap = f: l: b.concatLists (map f l);
    concatStringsSep = b.concatStringsSep;
    genAttrs =
      names: f:
      b.listToAttrs (
        map (n: {
          name = n;
          value = f n;
        }) names
      );
    hasPrefix = prefix: s: b.substring 0 (b.stringLength prefix) s == prefix;
    isDerivation = v: b.isAttrs v && (v.type or null) == "derivation";
    recursiveUpdate =
      lhs: rhs:
      lhs
      // b.mapAttrs (
        n: v: if b.isAttrs v && b.isAttrs (lhs.${n} or null) then recursiveUpdate lhs.${n} v else v
      ) rhs;

    # shell quoting, as nixpkgs does it: safe words stay bare
    escapeShellArg =
      arg:
      let
        s = toString arg;
      in
      if b.match "[[:alnum:],._+:@%/-]+" s != null then
        s
      else
        "'${b.replaceStrings [ "'" ] [ "'\\''" ] s}'";
    escapeShellArgs = l: b.concatStringsSep " " (map escapeShellArg l);

    # sources: keep the arguments to inspect, copy nothing
    cleanSourceWith = args: args // { _type = "cleanSource"; };
    cleanSource = src: cleanSourceWith { inherit src; filter = _: _: true; };

    platforms.unix = [ "x86_64-linux" "aarch64-linux" "x86_64-darwin" "aarch64-darwin" ];
    platforms.linux = [ "x86_64-linux" "aarch64-linux" ];
  };

  fakeDrv = name: {
    type = "derivation";
    inherit name;
    pname = name;
    outPath = fakeStore name;
  };

  pkgs = rec {
    inherit lib;
    stdenv = {
      hostPlatform.system = "x86_64-linux";
      cc.targetPrefix = "";
      mkDerivation =
        attrs:
        attrs
        // rec {
          type = "derivation";
          name = "${attrs.pname}-${attrs.version}";
          outPath = fakeStore name;
        };
    };
    callPackage =
      fn: args:
      let
        f = if b.isFunction fn then fn else import fn;
      in
      f (b.intersectAttrs (b.functionArgs f) pkgs // args);
    runCommand =
      name: env: buildCommand:
      env
      // {
        type = "derivation";
        inherit name buildCommand;
        outPath = fakeStore name;
      };
    mkShell = attrs: attrs // { type = "derivation"; name = "nix-shell"; outPath = fakeStore "nix-shell"; };
  }
  // b.listToAttrs (
    map (n: { name = n; value = fakeDrv n; }) [
      "pkg-config" "libsodium" "openssl" "libssh" "libbsd" "criterion" "zlib" "age" "openssh"
      "git" "nix" "mandoc" "gnumake" "hyperfine" "valgrind" "clang-tools" "bashInteractive"
      "zsh" "fish" "coreutils"
    ]
  );

  # resolve: turn mkIf/mkMerge into plain values; overrides stay as { _type = "override"; ... }
  # with their content resolved, so a test sees the priority a module used.
  merge =
    l: r:
    if b.isAttrs l && b.isAttrs r && !(lib.isDerivation l) && (l._type or null) == null then
      l // b.mapAttrs (n: v: if l ? ${n} then merge l.${n} v else v) r
    else if b.isList l && b.isList r then
      l ++ r
    else
      r;
  resolve =
    v:
    if !(b.isAttrs v) || lib.isDerivation v then
      v
    else if (v._type or null) == "if" then
      (if v.condition then resolve v.content else { })
    else if (v._type or null) == "merge" then
      b.foldl' merge { } (map resolve v.contents)
    else if (v._type or null) == "override" then
      v // { content = resolve v.content; }
    else
      b.mapAttrs (_: resolve) v;

  # the default of every option in a tree of options
  defaults =
    opts:
    b.mapAttrs (
      _: o: if (o._type or null) == "option" then o.default or null else defaults o
    ) opts;

  # evalModule { module, config ? { }, options ? { } }: call MODULE with a config made of its
  # option defaults overridden by CONFIG (what a user would write), and OPTIONS standing for
  # the options other modules declare (e.g. agenix's age.ageBin). Returns the module's own
  # options, the config it saw, and its resolved config definitions.
  evalModule =
    {
      module,
      config ? { },
      options ? { },
    }:
    let
      m = module {
        inherit lib pkgs;
        config = seen;
        options = options // m.options;
      };
      seen = lib.recursiveUpdate (defaults m.options) config;
    in
    {
      inherit seen;
      options = m.options;
      config = resolve m.config;
    };

  # What agenix's NixOS and home-manager modules declare, as far as m3age cares.
  agenixNixosOptions = {
    age.ageBin = lib.mkOption { type = lib.types.str; default = "${pkgs.age}/bin/age"; };
    age.secrets = lib.mkOption { default = { }; };
  };
  agenixHomeOptions = {
    age.package = lib.mkOption { type = lib.types.package; default = pkgs.age; };
    age.secrets = lib.mkOption { default = { }; };
  };

  # A flake input `nixpkgs` made of the stand-ins, for evaluating flake.nix's outputs.
  nixpkgs = {
    inherit lib;
    legacyPackages = lib.genAttrs lib.platforms.unix (
      system: pkgs // { stdenv = pkgs.stdenv // { hostPlatform.system = system; }; }
    );
  };
in
{
  inherit
    lib
    pkgs
    evalModule
    resolve
    agenixNixosOptions
    agenixHomeOptions
    nixpkgs
    fakeStore
    ;
}
