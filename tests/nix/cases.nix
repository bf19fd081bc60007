# Values tests/cli/nix.sh evaluates (nix-instantiate --eval --strict --json -A NAME) and
# compares with what it expects. Everything runs against the stand-ins in stub.nix.
let
  stub = import ./stub.nix;
  inherit (stub) lib pkgs evalModule;
  root = ../..;

  # the flake's outputs, with the stand-in nixpkgs and itself as `self`
  flake = import (root + "/flake.nix");
  self =
    flake.outputs {
      inherit self;
      nixpkgs = stub.nixpkgs;
    }
    // {
      outPath = stub.fakeStore "source";
    };

  m3ageStore = stub.fakeStore "m3age-0.1.0";
  nixosModule = import (root + "/nix/nixos-module.nix") { };
  hmModule = import (root + "/nix/hm-module.nix") { };
  withAgenix = evalModule {
    module = nixosModule;
    options = stub.agenixNixosOptions;
  };
  withoutAgenix = evalModule { module = nixosModule; };
  disabled = evalModule {
    module = nixosModule;
    options = stub.agenixNixosOptions;
    config.m3age.enable = false;
  };
  custom = evalModule {
    module = nixosModule;
    options = stub.agenixNixosOptions;
    config.m3age.package = pkgs.stdenv.mkDerivation {
      pname = "m3age-patched";
      version = "9";
    };
    config.m3age.installCli = false;
  };
  hm = evalModule {
    module = hmModule;
    options = stub.agenixHomeOptions;
  };
  hmOld = evalModule {
    module = hmModule;
    options = stub.agenixNixosOptions;
  };
  hmNone = evalModule { module = hmModule; };

  package = pkgs.callPackage (root + "/nix/package.nix") { };
  packageFull = pkgs.callPackage (root + "/nix/package.nix") { fullCheck = true; };
  mkLib = import (root + "/nix/lib.nix") { };
  audit = mkLib.auditCheck {
    inherit pkgs;
    src = "/nix/store/11111111111111111111111111111111-config";
  };
  auditHosts = mkLib.auditCheck {
    inherit pkgs;
    src = "/nix/store/11111111111111111111111111111111-config";
    root = "secrets";
    rules = "secrets.nix";
    hosts = [
      "m3-aether"
      "m3-atlas"
    ];
    extraArgs = [ "--rules=my secrets.nix" ];
  };
  flakeAudit = self.lib.auditCheck {
    pkgs = stub.nixpkgs.legacyPackages.aarch64-linux;
    src = "/nix/store/22222222222222222222222222222222-source";
  };
  lines = s: builtins.filter (l: builtins.isString l && l != "") (builtins.split "\n" s);
  flakeModule = evalModule {
    module = self.nixosModules.default;
    options = stub.agenixNixosOptions;
  };
in
{
  inherit m3ageStore;

  # NixOS module
  ageBin = withAgenix.config.age.ageBin.content;
  ageBinPriority = withAgenix.config.age.ageBin.priority;
  systemPackages = map (p: p.name) withAgenix.config.environment.systemPackages;
  assertionsOk = map (a: a.assertion) withAgenix.config.assertions;
  noAgenixSetsNothing = withoutAgenix.config ? age;
  noAgenixAssertion = map (a: {
    inherit (a) assertion;
    inherit (a) message;
  }) withoutAgenix.config.assertions;
  disabledConfig = disabled.config;
  customAgeBin = custom.config.age.ageBin.content;
  customSystemPackages = custom.config.environment or { };
  optionNames = builtins.attrNames withAgenix.options.m3age;

  # home-manager module
  hmPackage = hm.config.age.package.content.outPath;
  hmPackagePriority = hm.config.age.package.priority;
  hmMainProgram = hm.config.age.package.content.meta.mainProgram;
  hmHasAgeBin = hm.config.age ? ageBin;
  hmOldAgeBin = hmOld.config.age.ageBin.content;
  hmHomePackages = map (p: p.name) hm.config.home.packages;
  hmNoneAssertion = map (a: a.assertion) hmNone.config.assertions;

  # package expression
  packageName = package.name;
  packageMakeFlags = package.makeFlags;
  packageHardeningDisable = package.hardeningDisable;
  packageCheck = {
    inherit (package) doCheck checkTarget doInstallCheck;
    checkInputs = map (p: p.name) package.checkInputs;
    nativeCheckInputs = map (p: p.name) package.nativeCheckInputs;
    platforms = package.meta.platforms;
    buildInputs = map (p: p.name) package.buildInputs;
    mainProgram = package.meta.mainProgram;
  };
  packageInstallCheck = package.installCheckPhase;
  packagePreCheck = package.preCheck;
  packageFull = {
    nativeCheckInputs = map (p: p.name) packageFull.nativeCheckInputs;
    preCheck = packageFull.preCheck;
  };
  packageLayout = package.passthru.layout;
  layoutPaths = builtins.attrValues (import (root + "/nix/layout.nix"));
  sourceFilter = map (p: package.src.filter p.path p.type) [
    { path = "/src/build"; type = "directory"; }
    { path = "/src/.git"; type = "directory"; }
    { path = "/src/result"; type = "symlink"; }
    { path = "/src/result-man"; type = "symlink"; }
    { path = "/src/libage"; type = "directory"; }
    { path = "/src/Makefile"; type = "regular"; }
    { path = "/src/libage/build.c"; type = "regular"; }
  ];

  # lib.auditCheck
  auditName = audit.name;
  auditLines = lines audit.buildCommand;
  auditArgs = audit.passthru.args;
  auditHostsLines = lines auditHosts.buildCommand;
  auditHostsArgs = auditHosts.passthru.args;

  # flake outputs
  flakeSystems = builtins.attrNames self.packages;
  flakePackage = self.packages.x86_64-linux.default.name;
  flakePackageSrc = toString self.packages.x86_64-linux.default.src.src == toString root;
  flakeApp = self.apps.x86_64-linux.default;
  flakeOverlay = ((self.overlays.default pkgs pkgs).m3age).name;
  flakeDevShellInputs = map (p: p.name) self.devShells.x86_64-linux.default.inputsFrom;
  flakeDevShellPackages = map (p: p.name) self.devShells.x86_64-linux.default.packages;
  flakeModuleAgeBin = flakeModule.config.age.ageBin.content;
  flakeAuditLines = lines flakeAudit.buildCommand;
  flakeChecks = builtins.attrNames self.checks.x86_64-linux;
  flakeChecksFull = self.checks.x86_64-linux.m3age.passthru.fullCheck;
  flakeHm = builtins.isFunction self.homeManagerModules.default;

  # default.nix
  defaultNix = (import (root + "/default.nix") { inherit pkgs; }).name;
}
