# The m3age package: built with the project's Makefile, tests run in checkPhase (the Go age
# binary and ssh-keygen are check inputs: the tests use the real tools), man pages and shell
# completions installed by `make install`, and an install check that decrypts with the
# installed binary.
#
# Which tests a build runs: by default the unit tests, the age conformance vectors and the
# interoperability tests with Go age and ssh-keygen (tests/run.sh's TEST_ONLY). That is what
# proves the build correct on the user's platform (the crypto, the file format, the key
# formats), in about a minute; the command-line suite (~1,000 tests, crash and race tests
# that fork thousands of processes, git and nix-instantiate inside the sandbox) checks the
# project's own changes, and a NixOS user should not pay for it on every nixpkgs bump of a
# dependency. `fullCheck = true` runs everything; the flake's `checks` do.
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
  # Run the whole test suite in checkPhase (see above), not the fast subset.
  fullCheck ? false,
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
  # nixpkgs' split: libraries the test programs link (host platform) are checkInputs, tools
  # the tests run (build platform) nativeCheckInputs.
  checkInputs = [
    criterion
    zlib
  ];
  nativeCheckInputs = [
    age
    openssh
  ]
  ++ lib.optionals fullCheck [
    git
    nix
    mandoc
    zsh
    fish
  ];
  preCheck = ''
    export HOME=$TMPDIR/home
    mkdir -p $HOME
  ''
  + lib.optionalString (!fullCheck) ''
    export TEST_ONLY='^(test_|conformance/|interop/)'
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
    # libssh and libcrypto are opened at run time by the names in makeFlags: prove them in the
    # installed package. A passphrase-protected ed25519 key is opened by libssh, an ssh-rsa
    # stanza is unwrapped by libcrypto, and a host key is matched to its stanza by its tag.
    sample=${./installcheck}
    for k in ed25519 rsa; do
      M3AGE_PASSPHRASE=throwaway "$out/${layout.bin}" decrypt -i "$sample/''${k}_key" \
        -o "$TMPDIR/$k.txt" "$sample/sample-$k.age"
      cmp "$TMPDIR/$k.txt" "$sample/sample.txt" || { echo "m3age package: $k sample differs"; exit 1; }
      "$out/${layout.bin}" keys inspect "$sample/sample-$k.age" -R "$sample/''${k}_key.pub" \
        >"$TMPDIR/$k.inspect"
      grep -q "ssh-$k .*''${k}_key.pub:1" "$TMPDIR/$k.inspect" ||
        { echo "m3age package: host key not matched: $(cat "$TMPDIR/$k.inspect")"; exit 1; }
    done
    runHook postInstallCheck
  '';

  passthru = { inherit layout fullCheck; };

  meta = {
    description = "age-encrypted secrets for NixOS flakes: an agenix drop-in with audit, lazy rekey and host-key sync";
    mainProgram = "m3age";
    # The Makefile's flags (-z relro/now, --as-needed), the sonames it dlopens (libssh.so.4,
    # libcrypto.so.3) and its install layout are Linux's.
    platforms = lib.platforms.linux;
  };
}
