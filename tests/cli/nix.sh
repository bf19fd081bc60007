#!/bin/bash
# tests/cli/nix.sh: the Nix side of m3age (issue 9), evaluated with the real nix-instantiate
# and no nixpkgs: every .nix file parses; the NixOS and home-manager modules, the package
# expression, lib.auditCheck, the flake's outputs and default.nix are evaluated against the
# stand-ins in tests/nix/stub.nix (values in tests/nix/cases.nix) and what they produce is
# asserted. The audit check's script and agenix's activation call are also run for real
# against the built m3age, once the commands they use exist.
. "$(dirname "$0")/../lib.sh"

CASES="$SRCDIR/tests/nix/cases.nix"
STORE=/nix/store/00000000000000000000000000000000-m3age-0.1.0

need_nix() {
    command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
}

nix_instantiate() {
    env NIX_PATH= NIX_REMOTE= HOME="$PWD" nix-instantiate --store dummy:// --readonly-mode "$@"
}

# nix_case NAME: evaluate tests/nix/cases.nix's NAME to JSON in ./out.
nix_case() {
    need_nix
    run nix_instantiate --eval --strict --json -A "$1" "$CASES"
    assert_status 0
}

# expect NAME JSON: NAME evaluates to exactly JSON.
expect() {
    nix_case "$1"
    assert_eq "$(cat out)" "$2" "$1"
}

# json_string: decode the JSON string on stdin (the escapes toJSON writes for text; pure bash,
# so it runs in a Nix build sandbox too).
json_string() {
    local s
    s=$(cat)
    s=${s#\"}
    s=${s%\"}
    s=${s//\\\\/$'\001'}
    s=${s//\\\"/\"}
    s=${s//\\n/$'\n'}
    s=${s//\\t/$'\t'}
    s=${s//\\r/$'\r'}
    s=${s//$'\001'/\\}
    printf '%s\n' "$s"
}

test_every_nix_file_parses() {
    need_nix
    local n=0 f
    while IFS= read -r f; do
        run nix_instantiate --parse "$f"
        [ "$status" -eq 0 ] || _fail "$f does not parse: $(head -c 400 err)"
        n=$((n + 1))
    # The registry and bad-input corpora hold deliberately broken files (data, checked by
    # their own tests against nix-instantiate); every other .nix file is project code.
    done < <(find "$SRCDIR" -name '*.nix' -not -path "$SRCDIR/build/*" -not -path "$SRCDIR/.git/*" \
        -not -path "$SRCDIR/tests/registry/*" -not -path "$SRCDIR/tests/bad/*" | sort)
    # flake.nix, default.nix, the package, both modules, lib, overlay, shell, layout, stub...
    [ "$n" -ge 11 ] || _fail "only $n .nix files found"
}

test_parse_rejects_a_broken_file() {
    need_nix
    printf '{ outputs = { self }: {\n' >broken.nix
    run nix_instantiate --parse broken.nix
    [ "$status" -ne 0 ] || _fail "a truncated file parsed"
}

test_nixos_module_sets_agebin_to_m3age() {
    expect ageBin "\"$STORE/bin/m3age\""
    # mkDefault: wins over agenix's own default (1500), loses to anything the user writes
    expect ageBinPriority 1000
    expect assertionsOk '[true]'
    expect systemPackages '["m3age-0.1.0"]'
    expect optionNames '["enable","hostPqIdentity","installCli","package","plugins"]'
}

test_nixos_module_without_agenix_fails_with_a_message() {
    expect noAgenixSetsNothing false
    nix_case noAgenixAssertion
    assert_contains out '"assertion":false'
    assert_contains out "import agenix's NixOS module (agenix.nixosModules.default)"
}

test_nixos_module_disabled_sets_nothing() {
    expect disabledConfig '{}'
}

test_nixos_module_uses_the_package_option() {
    expect customAgeBin '"/nix/store/00000000000000000000000000000000-m3age-patched-9/bin/m3age"'
    expect customSystemPackages '{}'
}

test_flake_module_uses_the_flake_package() {
    expect flakeModuleAgeBin "\"$STORE/bin/m3age\""
}

test_home_manager_module_sets_age_package() {
    expect hmPackage "\"$STORE\""
    expect hmPackagePriority 1000
    # agenix's home module runs lib.getExe age.package: meta.mainProgram must be m3age
    expect hmMainProgram '"m3age"'
    expect hmHasAgeBin false
    expect hmHomePackages '["m3age-0.1.0"]'
}

test_home_manager_module_sets_agebin_on_older_agenix() {
    expect hmOldAgeBin "\"$STORE/bin/m3age\""
    expect hmNoneAssertion '[false]'
}

test_package_builds_with_the_makefile_and_runs_the_tests() {
    expect packageName '"m3age-0.1.0"'
    nix_case packageMakeFlags
    assert_contains out '"PREFIX=/'
    # libssh and libcrypto are dlopen'ed: the package names them by store path (no RUNPATH
    # entry for them)
    assert_contains out '-libssh/lib/libssh.so.4"'
    assert_contains out '/lib/libcrypto.so.3"'
    expect packageHardeningDisable '["fortify"]'
    # nixpkgs' conventions: linked test libraries in checkInputs, tools in nativeCheckInputs;
    # Linux only (the Makefile's flags and sonames)
    expect packageCheck '{"buildInputs":["libsodium","openssl","libssh","libbsd"],"checkInputs":["criterion","zlib"],"checkTarget":"check","doCheck":true,"doInstallCheck":true,"mainProgram":"m3age","nativeCheckInputs":["age","openssh"],"platforms":["x86_64-linux","aarch64-linux"]}'
}

# A user's build runs the fast subset (unit, conformance, interop); fullCheck = true (the
# flake's checks) runs everything, with the tools the command-line tests need.
test_package_check_subset_and_full_check() {
    nix_case packagePreCheck
    json_string <out >precheck
    assert_contains precheck "export TEST_ONLY='^(test_|conformance/|interop/)'"
    expect packageFull '{"nativeCheckInputs":["age","openssh","git","nix","mandoc","zsh","fish"],"preCheck":"export HOME=$TMPDIR/home\nmkdir -p $HOME\n"}'
    expect flakeChecksFull true
    # the subset's pattern selects what tests/run.sh names those files
    local n
    n=$(ls "$SRCDIR"/tests/unit/test_*.c "$SRCDIR"/tests/conformance/*.sh "$SRCDIR"/tests/interop/*.sh | wc -l)
    [ "$n" -ge 10 ] || _fail "the fast subset holds only $n test files"
}

test_package_install_check_names_the_layout() {
    nix_case packageInstallCheck
    json_string <out >script
    assert_contains script 'for f in bin/m3age share/bash-completion/completions/m3age share/zsh/site-functions/_m3age share/fish/vendor_completions.d/m3age.fish; do'
    assert_contains script 'test -L "$out/bin/agenix"'
    assert_contains script '"$out/bin/m3age" --version'
}

# The install check run as stdenv runs a phase (errexit, nounset, pipefail), with $out a prefix
# holding the built m3age and the committed samples read-only as in the store: it decrypts
# for the ed25519 (libssh) and rsa (libcrypto) keys, and a binary that cannot fails it.
install_check_run() {
    nix_case packageInstallCheck
    json_string <out >phase
    mkdir -p prefix/bin samples tmp
    cp "$SRCDIR"/nix/installcheck/* samples/
    chmod 444 samples/*
    local f
    for f in share/bash-completion/completions/m3age share/zsh/site-functions/_m3age \
        share/fish/vendor_completions.d/m3age.fish; do
        mkdir -p "prefix/$(dirname "$f")"
        echo x >"prefix/$f"
    done
    ln -s "$1" prefix/bin/m3age
    ln -s m3age prefix/bin/agenix
    sed -e "s|/nix/store/[a-z0-9]*-installcheck|$PWD/samples|" phase >phase.sh
    assert_contains phase.sh "sample=$PWD/samples"
    run env -i PATH="$PATH" out="$PWD/prefix" TMPDIR="$PWD/tmp" \
        bash -c 'set -eu -o pipefail; runHook() { :; }; . ./phase.sh'
}

test_package_install_check_runs_with_the_built_m3age() {
    need_age_mode
    install_check_run "$M3AGE"
    assert_status 0
    assert_same_file tmp/ed25519.txt samples/sample.txt
    assert_same_file tmp/rsa.txt samples/sample.txt
    assert_contains tmp/rsa.inspect 'rsa_key.pub:1'
}

test_package_install_check_fails_without_a_working_m3age() {
    need_age_mode
    # a binary whose decryption fails (here: wrong output) is caught by the check
    printf '#!/bin/sh\ncase "$1" in --version) echo m3age 0 ;; *) exit 2 ;; esac\n' >fake
    chmod +x fake
    install_check_run "$PWD/fake"
    [ "$status" -ne 0 ] || _fail "the install check passed with a broken m3age"
}

test_package_source_leaves_out_build_and_git() {
    # build/, .git, result, result-man out; sources in (even a file named build.c)
    expect sourceFilter '[false,false,false,false,true,true,true]'
}

test_audit_check_command_line() {
    expect auditName '"m3age-audit"'
    expect auditArgs '[]'
    expect auditLines "[\"export HOME=\\\"\$TMPDIR/home\\\" NO_COLOR=1 LC_ALL=C\",\"mkdir -p \\\"\$HOME\\\"\",\"cd /nix/store/11111111111111111111111111111111-config\",\"# The human report goes to the build log; a non-zero status fails the check.\",\"$STORE/bin/m3age audit\",\"$STORE/bin/m3age audit --json > \\\"\$out\\\"\"]"
}

test_audit_check_hosts_root_rules_and_quoting() {
    expect auditHostsArgs '["--host","m3-aether","--host","m3-atlas","--rules=my secrets.nix"]'
    nix_case auditHostsLines
    assert_contains out '"cd /nix/store/11111111111111111111111111111111-config/secrets"'
    assert_contains out '"export RULES=secrets.nix"'
    assert_contains out "\"$STORE/bin/m3age audit --host m3-aether --host m3-atlas '--rules=my secrets.nix'\""
    assert_contains out "\"$STORE/bin/m3age audit --json --host m3-aether --host m3-atlas '--rules=my secrets.nix' > \\\"\$out\\\"\""
}

test_flake_outputs() {
    expect flakeSystems '["aarch64-linux","x86_64-linux"]'
    expect flakePackage '"m3age-0.1.0"'
    expect flakePackageSrc true # the flake's own folder (./.), cleaned
    expect flakeApp "{\"program\":\"$STORE/bin/m3age\",\"type\":\"app\"}"
    expect flakeOverlay '"m3age-0.1.0"'
    expect flakeChecks '["m3age"]'
    expect flakeHm true
    expect flakeDevShellInputs '["m3age-0.1.0"]'
    nix_case flakeDevShellPackages
    local p
    for p in gnumake criterion age openssh git nix mandoc hyperfine valgrind zsh fish; do
        assert_contains out "\"$p\""
    done
}

test_flake_lib_audit_check_uses_the_flake_package() {
    nix_case flakeAuditLines
    assert_contains out "\"$STORE/bin/m3age audit\""
    assert_contains out '"cd /nix/store/22222222222222222222222222222222-source"'
}

test_default_nix_is_the_package() {
    expect defaultNix '"m3age-0.1.0"'
}

# fake_package: ./pkg/bin/m3age is the built m3age; prints the prefix standing for the store path.
fake_package() {
    mkdir -p pkg/bin
    ln -sf "$M3AGE" pkg/bin/m3age
    echo "$PWD/pkg"
}

# audit_script REPO: the auditCheck builder script for REPO with the built m3age, in ./audit.sh.
audit_script() {
    local prefix
    prefix=$(fake_package)
    run nix_instantiate --eval --strict --json -E "((import $SRCDIR/nix/lib.nix { }).auditCheck {
        pkgs = (import $SRCDIR/tests/nix/stub.nix).pkgs;
        src = \"$1\";
        m3age = \"$prefix\";
      }).buildCommand"
    assert_status 0
    json_string <out >audit.sh
}

# run_builder SCRIPT: run a runCommand script as stdenv does (errexit on), $out = ./result.
run_builder() {
    mkdir -p build-tmp
    # (under make valgrind, pkg/bin/m3age is the valgrind wrapper, which needs BUILD)
    run env -i PATH="$PATH" TMPDIR="$PWD/build-tmp" out="$PWD/result" \
        ${M3AGE_WRAPPER:+BUILD="$BUILD"} bash -e "$1"
}

need_audit() {
    need_nix
    [ -x "$M3AGE" ] || skip "m3age not built"
    run "$M3AGE" audit --help
    [ "$status" -eq 0 ] || skip "m3age audit not available in this build yet"
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    command -v age >/dev/null || skip "age not installed"
}

test_audit_check_fails_the_build_on_error_findings() {
    need_audit
    mkdir -p repo/secrets
    ssh-keygen -q -t ed25519 -N '' -C m3-aether -f key
    cat >repo/secrets.nix <<NIX
let m3-aether = "$(cut -d' ' -f1,2 key.pub)"; in {
  "secrets/wifi.age".publicKeys = [ m3-aether ];
}
NIX
    # registry entry without its file: an error finding
    audit_script "$PWD/repo"
    local want=0
    (cd repo && "$M3AGE" audit) >/dev/null 2>&1 || want=$?
    assert_eq "$want" 1 "m3age audit on a repository missing a secret"
    run_builder audit.sh
    assert_status 1
    assert_absent result
}

test_audit_check_passes_and_writes_the_json_report() {
    need_audit
    mkdir -p repo/secrets
    ssh-keygen -q -t ed25519 -N '' -C m3-aether -f key
    cat >repo/secrets.nix <<NIX
let m3-aether = "$(cut -d' ' -f1,2 key.pub)"; in {
  "secrets/wifi.age".publicKeys = [ m3-aether ];
}
NIX
    echo 'psk=hunter2' | age -R key.pub -o repo/secrets/wifi.age
    audit_script "$PWD/repo"
    local want=0
    (cd repo && "$M3AGE" audit --json) >want.json 2>/dev/null || want=$?
    run_builder audit.sh
    assert_status "$want"
    [ "$want" -eq 0 ] || _fail "m3age audit found errors in a clean repository: $(cat want.json)"
    assert_same_file result want.json
}

# lib.auditCheck on a copy of the demo repository: the same verdict as `m3age audit` there.
test_audit_check_on_the_demo_repository() {
    need_audit
    local demo="$SRCDIR/examples/nixos-config"
    [ -f "$demo/secrets.nix" ] || skip "no demo repository"
    cp -r "$demo" repo
    rm -rf repo/demo-keys # a flake check has no private keys
    audit_script "$PWD/repo"
    local want=0
    (cd repo && "$M3AGE" audit --json) >want.json 2>/dev/null || want=$?
    run_builder audit.sh
    assert_status "$want"
    if [ "$want" -eq 0 ]; then assert_same_file result want.json; else assert_absent result; fi
}

# agenix's activation on m3-ares with the demo repository's host key.
test_agenix_activation_on_the_demo_repository() {
    need_age_mode
    local demo="$SRCDIR/examples/nixos-config"
    [ -f "$demo/secrets.nix" ] || skip "no demo repository"
    run "$M3AGE" keys convert --help
    [ "$status" -eq 0 ] || skip "OpenSSH keys not supported by this build yet"
    cp "$demo/demo-keys/m3-ares.ssh_host_ed25519_key" host_key
    chmod 600 host_key
    mkdir run
    agenix_decrypt run/wifi "$demo/secrets/wifi.age" host_key
    assert_status 0
    [ -s run/wifi.tmp ] || _fail "empty secret"
    assert_eq "$(stat -c %a run/wifi.tmp)" 400 "mode under umask u=r,g=,o="
    # m3-ares is not a recipient of the atlas backup key: fails, leaves nothing
    agenix_decrypt run/restic "$demo/secrets/restic-atlas.age" host_key
    [ "$status" -ne 0 ] || _fail "m3-ares opened restic-atlas.age"
    assert_absent run/restic.tmp
}

# agenix's activation, as its module runs it with age.ageBin set by m3age's module:
# (umask u=r,g=,o=; LANG=C <ageBin> --decrypt -i ID... -o PATH.tmp FILE)
agenix_decrypt() { # agenix_decrypt OUT FILE ID...
    local bin out=$1 file=$2
    shift 2
    nix_case ageBin
    bin=$(json_string <out)
    bin=${bin/$STORE/$(fake_package)}
    local ids=() id
    for id in "$@"; do ids+=(-i "$id"); done
    run bash -c 'umask u=r,g=,o=; LANG=C "$@"' _ "$bin" --decrypt "${ids[@]}" -o "$out.tmp" "$file"
}

need_age_mode() {
    need_nix
    [ -x "$M3AGE" ] || skip "m3age not built"
    command -v age-keygen >/dev/null || skip "age not installed"
    run "$M3AGE" --version
    [ "$status" -eq 0 ] || skip "m3age's age mode not available in this build yet"
}

test_agenix_activation_decrypts_with_m3age() {
    need_age_mode
    age-keygen -o id.txt 2>/dev/null
    printf 'psk=hunter2\n' >plain
    age -r "$(age-keygen -y id.txt)" -o wifi.age plain
    age -a -r "$(age-keygen -y id.txt)" -o wifi-armored.age plain
    mkdir run
    agenix_decrypt run/wifi wifi.age id.txt
    assert_status 0
    assert_same_file run/wifi.tmp plain
    assert_eq "$(stat -c %a run/wifi.tmp)" 400 "mode under umask u=r,g=,o="
    agenix_decrypt run/armored2 wifi-armored.age id.txt
    assert_status 0
    assert_same_file run/armored2.tmp plain
}

test_agenix_activation_failure_leaves_no_tmp() {
    need_age_mode
    age-keygen -o id.txt 2>/dev/null
    age-keygen -o other.txt 2>/dev/null
    printf 'psk=hunter2\n' | age -r "$(age-keygen -y id.txt)" -o wifi.age
    mkdir run
    agenix_decrypt run/wifi wifi.age other.txt
    [ "$status" -ne 0 ] || _fail "decrypting with the wrong identity succeeded"
    assert_absent run/wifi.tmp
    agenix_decrypt run/wifi wifi.age # no readable identity: zero -i
    [ "$status" -ne 0 ] || _fail "decrypting with no identity succeeded"
    assert_absent run/wifi.tmp
}

test_agenix_activation_with_an_ssh_host_key() {
    need_age_mode
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    run "$M3AGE" keys convert --help
    [ "$status" -eq 0 ] || skip "OpenSSH keys not supported by this build yet"
    ssh-keygen -q -t ed25519 -N '' -f ssh_host_ed25519_key
    printf 'psk=hunter2\n' >plain
    age -R ssh_host_ed25519_key.pub -o wifi.age plain
    mkdir run
    agenix_decrypt run/wifi wifi.age ssh_host_ed25519_key
    assert_status 0
    assert_same_file run/wifi.tmp plain
}

# readme_block LANG N: the Nth ```LANG block of README.md's Nix section.
readme_block() {
    awk -v lang="$1" -v n="$2" '
        /^## Nix: / { in_section = 1 }
        in_section && $0 == "```" lang { k++; if (k == n) { on = 1; next } }
        on && /^```$/ { exit }
        on { print }' "$SRCDIR/README.md"
}

test_readme_three_lines_evaluate() {
    need_nix
    readme_block nix 1 >lines.nix
    [ -s lines.nix ] || _fail "no nix block in README.md"
    grep -q 'src = \./\.;' lines.nix || _fail "README's check line lost its src = ./."
    # the lines are attribute definitions of a user's flake; ./. becomes a store path here
    { echo "{ nixpkgs, agenix, m3age }: {"
      sed 's|src = \./\.;|src = "/nix/store/33333333333333333333333333333333-config";|' lines.nix
      echo "}"; } >user.nix
    cat >expr.nix <<NIX
let
  stub = import $SRCDIR/tests/nix/stub.nix;
  flake = import $SRCDIR/flake.nix;
  m3age = flake.outputs { self = m3age; nixpkgs = stub.nixpkgs; } // { outPath = "/src"; };
  user = import ./user.nix { nixpkgs = stub.nixpkgs; agenix = { nixosModules.default = { }; }; inherit m3age; };
  module = builtins.elemAt user.modules 1;
in {
  url = user.inputs.m3age.url;
  follows = user.inputs.m3age.inputs.nixpkgs.follows;
  ageBin = (stub.evalModule { inherit module; options = stub.agenixNixosOptions; }).config.age.ageBin.content;
  check = user.checks.x86_64-linux.secrets.buildCommand;
}
NIX
    run nix_instantiate --eval --strict --json expr.nix
    assert_status 0
    assert_contains out '"url":"github:m3tam3re/m3age"'
    assert_contains out '"follows":"nixpkgs"'
    assert_contains out "\"ageBin\":\"$STORE/bin/m3age\""
    assert_contains out 'cd /nix/store/33333333333333333333333333333333-config\n'
    assert_contains out "$STORE/bin/m3age audit --json > "
}

test_readme_shell_commands_parse() {
    local n=1 found=0
    while readme_block sh "$n" >block.sh && [ -s block.sh ]; do
        run bash -n block.sh
        [ "$status" -eq 0 ] || _fail "README sh block $n does not parse: $(cat err)"
        found=$((found + 1)) n=$((n + 1))
    done
    [ "$found" -ge 4 ] || _fail "only $found sh blocks in README's Nix section"
    # the gates named in the issue, with the flags the commands take
    readme_block sh 1 >gate.sh
    assert_contains gate.sh 'm3age check --host m3-aether && nixos-rebuild switch --flake .#m3-aether --target-host m3-aether'
    grep -h 'm3age' "$SRCDIR/README.md" >all
    assert_contains all 'm3age git-setup'
    assert_contains all 'audit --json'
}

run_tests
