#!/bin/bash
# m3age audit: each finding raised in a temp repository, and gone once fixed.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "audit: skipped (no ssh-keygen)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"

test_clean_repository_has_no_findings() {
    make_repo
    run "$M3AGE" audit
    assert_status 0
    assert_contains out "0 errors, 0 warnings, 0 notes (2 secrets, 2 hosts)"
}

test_M3A001_entry_without_file() {
    make_repo
    rm secrets/b.age
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A001"
    assert_contains out "secrets/b.age"
    enc secrets/b.age alice h2
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A001
}

test_M3A002_age_file_without_entry() {
    make_repo
    enc secrets/old.age alice
    run "$M3AGE" audit
    assert_status 0 # a warning
    audit_has "M3A002"
    assert_contains out "secrets/old.age"
    rm secrets/old.age
    run "$M3AGE" audit
    audit_lacks M3A002
}

test_M3A003_damaged_header() {
    make_repo
    printf 'age-encryption.org/v1\n-> X25519 !!!\n--- zz\n' >secrets/a.age
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A003"
    enc secrets/a.age alice h1
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A003
}

test_M3A004_header_mac_mismatch_with_identity() {
    make_repo
    enc other.age alice h1
    # a.age's stanzas with other.age's MAC line
    perl -0777 -e 'open A, "<", $ARGV[0]; $a = <A>; open B, "<", $ARGV[1]; $b = <B>;
        $a =~ /\n--- [^\n]*\n/; $ha = $-[0]; $pa = substr($a, $+[0]);
        $b =~ /\n--- [^\n]*\n/; $mb = substr($b, $-[0], $+[0] - $-[0]);
        print substr($a, 0, $ha) . $mb . $pa' secrets/a.age other.age >t && mv t secrets/a.age
    run "$M3AGE" audit
    assert_status 0 # a header cannot be judged without a key
    run "$M3AGE" audit -i "$AK/alice"
    assert_status 1
    audit_has "M3A004"
    enc secrets/a.age alice h1
    run "$M3AGE" audit -i "$AK/alice"
    assert_status 0
    audit_lacks M3A004
}

test_M3A005_payload_tampered_with_identity() {
    make_repo
    perl -0777 -pi -e 'substr($_, -1, 1) = chr(ord(substr($_, -1, 1)) ^ 1)' secrets/b.age
    run "$M3AGE" audit -i "$AK/alice"
    assert_status 1
    audit_has "M3A005"
    enc secrets/b.age alice h2
    run "$M3AGE" audit -i "$AK/alice"
    assert_status 0
    audit_lacks M3A005
}

test_M3A006_registry_key_missing_from_file() {
    make_repo
    enc secrets/a.age alice
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A006"
    assert_contains out "not encrypted to h1"
    enc secrets/a.age alice h1
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A006
}

test_M3A007_stale_recipient_named() {
    make_repo
    enc secrets/a.age alice h1 h2
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A007"
    assert_contains out "still encrypted to h2"
    enc secrets/a.age alice h1
    run "$M3AGE" audit
    audit_lacks M3A007
}

test_M3A007_unknown_key_by_tag() {
    make_repo
    enc secrets/a.age alice h1 h3
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "unknown ssh-ed25519 key with tag "
    enc secrets/a.age alice h1
    run "$M3AGE" audit
    assert_status 0
    audit_lacks "unknown ssh-ed25519 key"
}

test_M3A008_x25519_count() {
    make_repo
    write_registry "" '  "secrets/a.age".publicKeys = users ++ [ h1 bob ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A008"
    assert_contains out "0 X25519 recipients in the file, 1 age1 key in its registry entry"
    enc secrets/a.age alice h1 bob
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A008
}

test_M3A009_host_uses_secret_not_for_it() {
    make_repo
    cat >hosts/h2/extra.nix <<'NIX'
{ age.secrets.a.file = ../../secrets/a.age; }
NIX
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A009"
    assert_contains out "host h2 uses it"
    write_registry "" '  "secrets/a.age".publicKeys = users ++ [ h1 h2 ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
    run "$M3AGE" audit
    assert_status 1 # listed now, but the file is still not encrypted to h2
    audit_has "M3A009"
    assert_contains out "not encrypted to its key"
    enc secrets/a.age alice h1 h2
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A009
}

test_M3A010_host_without_key() {
    make_repo
    mkdir -p hosts/h3
    echo '{ config.age.secrets.a.file = ../../secrets/a.age; }' >hosts/h3/default.nix
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A010"
    assert_contains out "hosts/h3"
    write_registry "  h3 = \"$(pub h3)\";" '  "secrets/a.age".publicKeys = users ++ [ h1 h3 ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
    enc secrets/a.age alice h1 h3
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A010
}

test_M3A011_secret_no_host_uses() {
    make_repo
    write_registry "" '  "secrets/a.age".publicKeys = users ++ [ h1 ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];
  "secrets/c.age".publicKeys = users ++ [ h1 ];'
    enc secrets/c.age alice h1
    run "$M3AGE" audit
    assert_status 0 # a warning
    audit_has "M3A011"
    assert_contains out "secrets/c.age"
    echo '{ lib, ... }: { age.secrets = lib.mkIf true { c.file = ../../secrets/c.age; }; }' >hosts/h1/c.nix
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A011
}

test_M3A012_key_bound_twice() {
    make_repo
    write_registry "  server = \"$(pub h1)\";"
    run "$M3AGE" audit
    assert_status 0
    audit_has "M3A012"
    assert_contains out "h1, server"
    write_registry
    run "$M3AGE" audit
    audit_lacks M3A012
}

test_M3A013_short_rsa_key() {
    make_repo
    ssh-keygen -q -t rsa -b 2048 -N '' -f rsa2048 </dev/null >/dev/null
    write_registry "  old = \"$(cut -d' ' -f1,2 rsa2048.pub)\";" '  "secrets/a.age".publicKeys = users ++ [ h1 old ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
    printf 'x\n' | "$M3AGE" encrypt -r "$(pub alice)" -r "$(pub h1)" -R rsa2048.pub -o secrets/a.age
    run "$M3AGE" audit
    assert_status 0
    audit_has "M3A013"
    assert_contains out "2048 bits"
    ssh-keygen -q -t rsa -b 3072 -N '' -f rsa3072 </dev/null >/dev/null
    write_registry "  old = \"$(cut -d' ' -f1,2 rsa3072.pub)\";" '  "secrets/a.age".publicKeys = users ++ [ h1 old ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
    printf 'x\n' | "$M3AGE" encrypt -r "$(pub alice)" -r "$(pub h1)" -R rsa3072.pub -o secrets/a.age
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A013
    audit_lacks M3A006
}

test_M3A014_plaintext_in_secrets_folder() {
    make_repo
    echo 'hunter2' >secrets/wifi-password.txt
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A014"
    assert_contains out "secrets/wifi-password.txt"
    rm secrets/wifi-password.txt
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A014
}

test_M3A014_registry_file_that_is_plaintext() {
    make_repo
    echo 'hunter2' >secrets/a.age
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A014"
    enc secrets/a.age alice h1
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A014
}

test_M3A015_identity_file_readable_by_others() {
    make_repo
    cp "$AK/alice" id && chmod 644 id
    run "$M3AGE" audit -i id
    assert_status 0
    audit_has "M3A015"
    cp "$AK/bob.txt" bob.txt && chmod 640 bob.txt
    run "$M3AGE" audit -i bob.txt
    audit_has "M3A015"
    chmod 600 id bob.txt
    run "$M3AGE" audit -i id -i bob.txt
    assert_status 0
    audit_lacks M3A015
}

test_M3A016_host_uses_file_without_entry() {
    make_repo
    echo '{ age.secrets.z.file = ../../secrets/z.age; }' >hosts/h1/z.nix
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A016"
    assert_contains out "hosts/h1/z.nix"
    rm hosts/h1/z.nix
    run "$M3AGE" audit
    audit_lacks M3A016
}

test_M3A017_unresolvable_host_file() {
    make_repo
    echo '{ config, ... }: { age.secrets.z.file = config.somewhere; }' >hosts/h1/z.nix
    run "$M3AGE" audit
    assert_status 0
    audit_has "M3A017"
    assert_contains out "config.somewhere"
    echo '{ self, ... }: { age.secrets.z.file = "${self}/secrets/a.age"; }' >hosts/h1/z.nix
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A017
}

test_M3A018_not_verified_note() {
    make_repo
    run "$M3AGE" audit -i "$AK/h1"
    assert_status 0
    audit_has "M3A018"
    assert_contains out "secrets/b.age"
    run "$M3AGE" audit -i "$AK/h1" -i "$AK/h2"
    audit_lacks M3A018
}

test_M3A019_invalid_registry_key() {
    make_repo
    write_registry '  junk = "ssh-ed25519 AAAAnotakey";' '  "secrets/a.age".publicKeys = users ++ [ h1 junk ];
  "secrets/b.age".publicKeys = users ++ [ h2 ];'
    run "$M3AGE" audit
    assert_status 1
    audit_has "M3A019"
    write_registry
    run "$M3AGE" audit
    assert_status 0
    audit_lacks M3A019
}

test_host_filter_limits_to_its_secrets() {
    make_repo
    enc secrets/b.age alice
    run "$M3AGE" audit --host h1
    assert_status 0
    assert_contains out "(1 secret, 1 host)"
    run "$M3AGE" audit --host h2
    assert_status 1
    audit_has M3A006
    run "$M3AGE" audit --host nosuch
    assert_status 2
    assert_one_error_line "no host 'nosuch'"
}

test_json_output_is_valid_and_complete() {
    make_repo
    enc secrets/a.age alice
    echo 'pl"ain' >secrets/x.txt
    run "$M3AGE" audit --json
    assert_status 1
    cp out audit.json
    assert_contains out '"code": "M3A006", "severity": "error", "file": "secrets/a.age", "line": null, "host": null'
    command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"
    run env NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict --json \
        -E "let a = builtins.fromJSON (builtins.readFile $PWD/audit.json); in [ a.version a.errors (builtins.length a.findings) (builtins.head a.findings).code ]"
    assert_status 0
    assert_eq "$(cat out)" '[2,3,3,"M3A006"]' # M3A006 + M3A009 on a.age, M3A014
}

test_many_files_same_report_on_one_or_more_threads() {
    # 80 entries: enough for the files to be read on several threads
    local entries="" i
    for i in $(seq -w 1 80); do entries+="  \"secrets/s$i.age\".publicKeys = users ++ [ h1 ];
"; done
    write_registry "" "$entries"
    enc secrets/s01.age alice h1
    for i in $(seq -w 2 80); do cp secrets/s01.age "secrets/s$i.age"; done
    rm secrets/s05.age
    echo 'not encrypted' >secrets/s40.age
    enc secrets/s70.age alice
    # flip one bit near the end (writing a fixed byte leaves the file intact
    # whenever that byte was already there: 1 run in 256)
    local pos=$(($(stat -c %s secrets/s75.age) - 2)) byte
    byte=$(od -An -tu1 -j "$pos" -N1 secrets/s75.age)
    printf "\\$(printf '%03o' $((byte ^ 1)))" |
        dd of=secrets/s75.age bs=1 seek="$pos" conv=notrunc status=none
    M3AGE_THREADS=1 run "$M3AGE" audit -i "$AK/alice"
    assert_status 1
    cp out one.out
    for f in s05 s40 s70 s75; do assert_contains out "secrets/$f.age"; done
    assert_contains out "(80 secrets, 0 hosts)"
    M3AGE_THREADS=3 run "$M3AGE" audit -i "$AK/alice"
    assert_status 1
    assert_same_file one.out out
    M3AGE_THREADS=1 run "$M3AGE" audit --json
    cp out one.json
    M3AGE_THREADS=2 run "$M3AGE" audit --json
    assert_same_file one.json out
}

test_no_registry_is_exit_2() {
    run "$M3AGE" audit
    assert_status 2
    assert_contains err "m3age: error:"
    assert_empty out
}

test_unparsable_registry_or_module_is_exit_2() {
    make_repo
    cp secrets.nix good.nix
    echo '{ broken' >secrets.nix
    run "$M3AGE" audit
    assert_status 2
    assert_one_error_line "secrets.nix"
    run "$M3AGE" audit --json
    assert_status 2
    assert_empty out
    cp good.nix secrets.nix
    echo '{ age.secrets.a.file = ' >hosts/h1/default.nix
    run "$M3AGE" audit
    assert_status 2
    assert_contains err "hosts/h1/default.nix"
}

test_exit_statuses_0_1_2_with_json() {
    make_repo
    run "$M3AGE" audit --json
    assert_status 0
    assert_contains out '"errors": 0'
    assert_contains out '"findings": []'
    enc secrets/old.age alice # a warning only
    run "$M3AGE" audit --json
    assert_status 0
    assert_contains out '"warnings": 1'
    rm secrets/b.age
    run "$M3AGE" audit --json
    assert_status 1
    assert_contains out '"code": "M3A001", "severity": "error", "file": "secrets/b.age"'
    run "$M3AGE" audit --json --host nosuch
    assert_status 2
}

test_json_has_every_documented_field() {
    make_repo
    enc secrets/a.age alice
    run "$M3AGE" audit --json
    for f in version registry secrets hosts errors warnings notes findings; do
        assert_contains out "\"$f\": "
        grep -q "^\.It Li $f\|Li $f ,\|, Li $f" "$SRCDIR/man/m3age-audit.1" || _fail "$f not documented in m3age-audit(1)"
    done
    for f in code severity file line host message; do
        assert_contains out "\"$f\": "
        grep -q "^\.Li $f\$" "$SRCDIR/man/m3age-audit.1" || _fail "finding field $f not documented"
    done
}

test_registry_in_subfolder_and_RULES() {
    make_repo
    mkdir sub && mv secrets.nix hosts secrets sub/
    run "$M3AGE" audit --rules sub/secrets.nix
    assert_status 0
    assert_contains out "(2 secrets, 2 hosts)"
    RULES=sub/secrets.nix run "$M3AGE" audit
    assert_status 0
}

test_color_only_on_terminal() {
    make_repo
    enc secrets/a.age alice
    run "$M3AGE" audit
    assert_not_contains out $'\033['
    command -v script >/dev/null || skip "script(1) not installed"
    # (TERM=dumb, as where the caller has none, means no color: a terminal that can show it)
    env -u NO_COLOR TERM=xterm script -qec "$M3AGE audit" /dev/null >tty.out </dev/null || true
    grep -q $'\033\[1;31m' tty.out || _fail "no color on a terminal: $(head -c 300 tty.out)"
    NO_COLOR=1 TERM=xterm script -qec "$M3AGE audit" /dev/null >tty2.out </dev/null || true
    ! grep -q $'\033\[1;31m' tty2.out || _fail "color despite NO_COLOR"
}

run_tests
