#!/bin/bash
# A YubiKey user's repository (age-plugin-yubikey): age1yubikey1 keys are valid registry
# keys, piv-p256 stanzas are matched to them by tag, and a stanza no key can be told from is
# never planned as a removal (audit warns, rekey keeps it unless --force).
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "yubikey_repo: skipped (no ssh-keygen)"; exit 0; }
command -v openssl >/dev/null || { echo "yubikey_repo: skipped (no openssl)"; exit 0; }
command -v python3 >/dev/null || { echo "yubikey_repo: skipped (no python3)"; exit 0; }
. "$(dirname "$0")/yubikey_lib.inc"

test_registry_eval_accepts_plugin_recipients() {
    yk_repo
    run "$M3AGE" registry eval
    assert_status 0
    assert_contains out "$YK_PRIMARY"
    assert_contains out "$YK_BACKUP"
    assert_empty err
}

test_audit_matches_piv_stanzas_to_their_keys() {
    yk_repo
    run "$M3AGE" audit
    assert_status 0
    # M3A030: age-plugin-yubikey is not installed here (one finding per key).
    assert_eq "$(grep -c 'M3A' out)" 3 "findings"
    assert_eq "$(grep -c "M3A030  key .* needs age-plugin-yubikey, which is not in PATH" out)" 2 "M3A030"
    assert_contains out "secrets/tailscale.age"
    assert_contains out "warning M3A011"
    assert_not_contains out "M3A019"
    assert_not_contains out "M3A007"
    assert_not_contains out "M3A006"
    run "$M3AGE" audit --json
    assert_status 0
    assert_not_contains out "M3A007"
    assert_not_contains out "M3A019"
    assert_contains out '"code": "M3A011"'
}

test_diff_and_rekey_plan_nothing() {
    yk_repo
    run "$M3AGE" diff
    assert_status 0
    assert_eq "$(cat out)" "secrets/restic.age: up to date
secrets/tailscale.age: up to date
secrets/wifi.age: up to date
0 of 3 secrets would change on rekey" "diff"
    run "$M3AGE" rekey --dry-run
    assert_status 0
    assert_eq "$(cat out)" "secrets/restic.age: up to date
secrets/tailscale.age: up to date
secrets/wifi.age: up to date" "rekey --dry-run"
}

test_keys_inspect_names_every_stanza_by_its_binding() {
    yk_repo
    run "$M3AGE" keys inspect --rules secrets.nix secrets/wifi.age
    assert_status 0
    t1=$(grep -ao -e '-> ssh-ed25519 [^ ]*' secrets/wifi.age | sed -n 1p | cut -d' ' -f3)
    t2=$(grep -ao -e '-> ssh-ed25519 [^ ]*' secrets/wifi.age | sed -n 2p | cut -d' ' -f3)
    assert_eq "$(sed 's/  */ /g' out)" "secrets/wifi.age: 5 stanzas
 piv-p256 $TAG_PRIMARY keys.yubikeys.primary
 piv-p256 $TAG_BACKUP backup-yubikey
 5]-grease - grease (for no key)
 ssh-ed25519 $t1 keys.users.m3tam3re
 ssh-ed25519 $t2 keys.systems.m3-atlas" "inspect"
    # the key given with -r names its stanza; the registry (found without --rules) the rest
    run "$M3AGE" keys inspect -r "$YK_BACKUP" secrets/restic.age
    assert_status 0
    assert_contains out "piv-p256     $TAG_BACKUP  $YK_BACKUP, backup-yubikey"
    assert_contains out "piv-p256     $TAG_PRIMARY  keys.yubikeys.primary"
}

test_lost_yubikey_is_a_removal_by_tag() {
    yk_repo
    yk_encrypt secrets/tailscale.age m3tam3re -- "$(piv yk-primary)" "$(piv yk-backup)" \
        "$(piv yk-lost)"
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "M3A007  still encrypted to unknown piv-p256 key with tag $TAG_LOST"
    assert_eq "$(grep -c 'M3A007' out)" 1 "M3A007 findings"
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "secrets/tailscale.age: -unknown piv-p256 key with tag $TAG_LOST"
    assert_contains out "secrets/wifi.age: up to date"
}

test_missing_yubikey_is_reported_and_never_encrypted_without_it() {
    yk_repo
    yk_encrypt secrets/tailscale.age m3tam3re -- "$(piv yk-primary)"
    cp secrets/tailscale.age before.age
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "M3A006  not encrypted to backup-yubikey"
    run "$M3AGE" rekey --dry-run secrets/tailscale.age
    assert_status 1
    assert_contains out "secrets/tailscale.age: cannot rekey: keys.nix:6:15: keys.yubikeys.primary: age-plugin-yubikey not found in PATH"
    run "$M3AGE" rekey -i "$YK/m3tam3re" secrets/tailscale.age
    assert_status 1
    assert_contains err "keys.yubikeys.primary: age-plugin-yubikey not found in PATH"
    assert_same_file secrets/tailscale.age before.age
}

test_unattributed_stanza_is_a_warning_and_kept() {
    yk_repo
    yk_encrypt secrets/tailscale.age m3tam3re -- "$(piv yk-primary)" "fido2-hmac AbCd" \
        "$(piv yk-backup)"
    cp secrets/tailscale.age before.age
    run "$M3AGE" audit
    assert_status 0
    assert_contains out "warning M3A021  1 fido2-hmac stanza not attributable to any key"
    assert_not_contains out "M3A007"
    run "$M3AGE" audit --json
    assert_contains out '"code": "M3A021"'
    run "$M3AGE" diff
    assert_status 0
    assert_contains out "secrets/tailscale.age: up to date, ?1 fido2-hmac stanza not attributable to any key (kept unless rekey --force)"
    run "$M3AGE" rekey --dry-run
    assert_status 0
    assert_contains out "secrets/tailscale.age: up to date: ?1 fido2-hmac stanza not attributable to any key (kept; --force drops it)"
    run "$M3AGE" rekey -i "$YK/m3tam3re"
    assert_status 0
    assert_contains out "0 rekeyed, 3 already up to date, 0 failed"
    assert_eq "$(cat err)" "m3age: warning: secrets/tailscale.age: 1 fido2-hmac stanza not attributable to any key, kept (--force drops it)" "stderr"
    assert_same_file secrets/tailscale.age before.age
}

test_rekey_refuses_to_drop_an_unattributed_stanza_unless_forced() {
    yk_repo
    cat >>secrets.nix.add <<NIX
  "secrets/ssh-only.age".publicKeys = [ keys.users.m3tam3re keys.systems.m3-atlas ];
NIX
    sed -i '/"secrets\/tailscale.age"/r secrets.nix.add' secrets.nix
    command -v age >/dev/null || skip "no age binary"
    fido_encrypt secrets/ssh-only.age m3tam3re >/dev/null
    cp secrets/ssh-only.age before.age
    run "$M3AGE" diff
    assert_status 1
    assert_contains out "secrets/ssh-only.age: +keys.systems.m3-atlas ?1 fido2-hmac stanza not attributable to any key (kept unless rekey --force)"
    run "$M3AGE" rekey -i "$YK/m3tam3re" secrets/ssh-only.age
    assert_status 1
    assert_contains err "m3age: error: secrets/ssh-only.age: it would drop 1 fido2-hmac stanza not attributable to any key, which may be for a key of its entry (use --force to drop it)"
    assert_same_file secrets/ssh-only.age before.age
    run "$M3AGE" rekey --dry-run --force -i "$YK/m3tam3re" secrets/ssh-only.age
    assert_status 1 # a plan with changes
    assert_contains out "secrets/ssh-only.age: rekey: +keys.systems.m3-atlas, -1 fido2-hmac stanza not attributable to any key"
    run "$M3AGE" rekey --force -i "$YK/m3tam3re" secrets/ssh-only.age
    assert_status 0
    assert_contains out "1 rekeyed"
    assert_not_contains secrets/ssh-only.age "fido2-hmac"
    run "$M3AGE" audit
    assert_not_contains out "M3A021"
    assert_not_contains out "M3A006"
    run "$M3AGE" decrypt -i "$YK/m3-atlas" secrets/ssh-only.age
    assert_status 0
    assert_eq "$(cat out)" "secret of secrets/ssh-only.age"
}

test_malformed_yubikey_keys_are_one_clear_line() {
    yk_repo
    cp secrets.nix good.nix
    bad=$(p256 notpoint age1yubikey)
    sed "s|$YK_BACKUP|$bad|" good.nix >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_eq "$(grep -c 'error:' err)" 1 "error lines"
    assert_contains err "'secrets/restic.age': publicKeys element 2 is not a recipient m3age can use: age1yubikey recipient is not a point of P-256"
    run "$M3AGE" audit
    assert_status 1
    assert_contains out "M3A019  key backup-yubikey is not a recipient: age1yubikey recipient is not a point of P-256"
    last=${YK_BACKUP: -1}
    [ "$last" = q ] && last=p || last=q
    sed "s|$YK_BACKUP|${YK_BACKUP%?}$last|" good.nix >secrets.nix
    run "$M3AGE" registry eval
    assert_status 2
    assert_eq "$(grep -c 'error:' err)" 1 "error lines"
    assert_contains err "malformed age1yubikey plugin recipient (bad bech32)"
}

test_p256tag_stanzas_are_matched_by_their_tag() {
    yk_repo
    tagkey=$(p256 recipient age1tag "$YK/yk-primary.der")
    sed -i "s|$YK_PRIMARY|$tagkey|" keys.nix
    yk_encrypt secrets/tailscale.age m3tam3re -- "$(p256 p256tag "$YK/yk-primary.der" "$YK/eph2.full.der")" \
        "$(piv yk-backup)"
    run "$M3AGE" keys inspect --rules secrets.nix secrets/tailscale.age
    assert_status 0
    assert_contains out "keys.yubikeys.primary"
    assert_not_contains out "unknown key"
    run "$M3AGE" audit
    assert_not_contains out "M3A006"
    assert_not_contains out "M3A007"
}

run_tests
