# The m3age package: built with the project's Makefile, tests run in checkPhase (the Go age
# binary, ssh-keygen, git and nix-instantiate are check inputs: the tests use the real tools),
# man pages and shell completions installed by `make install`.
{
  lib,
  stdenv,
  pkg-config,
  libsodium,
  openssl,
  libssh,
  libbsd,
  criterion,
  zlib,
  age,
  openssh,
  git,
  nix,
  mandoc,
  zsh,
  fish,
  src ? ../.,
}:

let
  layout = import ./layout.nix;
in
stdenv.mkDerivation {
  pname = "m3age";
  version = "0.1.0";

  # The checkout without build/, .git and nix-build result links.
  src = lib.cleanSourceWith {
    name = "m3age-source";
    inherit src;
    filter =
      path: type:
      let
        base = baseNameOf (toString path);
      in
      !(type == "directory" && (base == "build" || base == ".git"))
      && base != "result"
      && !(lib.hasPrefix "result-" base);
  };

  nativeBuildInputs = [ pkg-config ];
  buildInputs = [
    libsodium
    openssl
    libssh
    libbsd
  ];

  # build-aux/deps.sh checks through pkg-config and installs nothing outside Debian.
  postPatch = ''
    patchShebangs build-aux tests bench
  '';

  makeFlags = [
    "PREFIX=${placeholder "out"}"
    "CC=${stdenv.cc.targetPrefix}cc"
    # libssh and libcrypto are opened with dlopen when first needed (keys/sshlib.c,
    # libage/cryptolib.c); they are not DT_NEEDED libraries, so the fixup would drop their
    # folders from the RUNPATH: name them by store path.
    "LIBSSH_SONAME=${libssh}/lib/libssh.so.4"
    "LIBCRYPTO_SONAME=${lib.getLib openssl}/lib/libcrypto.so.3"
    # Nix rebuilds m3age when libsodium or libbsd change, but their shared libraries are
    # what nixpkgs ships and keeps patched: link those.
    "STATIC_DEPS=0"
    # The compiler wrapper already gives m3age glibc's store folder as its run path.
    "LIBC_RUNPATH="
  ];
  enableParallelBuilding = true;
  # The Makefile sets _FORTIFY_SOURCE=2 itself (with the stack protector, PIE and relro/now);
  # the wrapper's own definition would clash with it.
  hardeningDisable = [ "fortify" ];

  doCheck = true;
  checkTarget = "check";
  nativeCheckInputs = [
    criterion
    zlib
    age
    openssh
    git
    nix
    mandoc
    zsh
    fish
  ];
  preCheck = ''
    export HOME=$TMPDIR/home
    mkdir -p $HOME
  '';

  doInstallCheck = true;
  installCheckPhase = ''
    runHook preInstallCheck
    for f in ${
      lib.concatStringsSep " " [
        layout.bin
        layout.bashCompletion
        layout.zshCompletion
        layout.fishCompletion
      ]
    }; do
      test -s "$out/$f" || { echo "m3age package: $f missing"; exit 1; }
    done
    test -L "$out/${layout.agenixLink}" || { echo "m3age package: agenix link missing"; exit 1; }
    "$out/${layout.bin}" --version
    runHook postInstallCheck
  '';

  passthru = { inherit layout; };

  meta = {
    description = "age-encrypted secrets for NixOS flakes: an agenix drop-in with audit, lazy rekey and host-key sync";
    mainProgram = "m3age";
    platforms = lib.platforms.unix;
  };
}
