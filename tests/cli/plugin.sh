#!/bin/bash
# Plugins in a repository: rekey, edit, check, agenix -i and git's textconv through the test
# plugin tests/plugin/age-plugin-m3test; each plugin started once per run, not per file;
# a registry whose plugin is missing stops before any file is touched.
. "$(dirname "$0")/../lib.sh"

PLUGDIR=$SRCDIR/tests/plugin
export PATH="$PLUGDIR:$PATH"

# prepo N: ./secrets.nix with a plugin key (pk, ./pk.id) and an age key (agekey, ./age.key),
# N secrets secrets/sI.age (I = 1..N) for both, encrypted by Go age (the reference client).
prepo() {
    command -v age >/dev/null || skip "Go age is not installed"
    command -v python3 >/dev/null || skip "python3 is not installed"
    age-plugin-m3test --generate ok >pk.id
    PK=$(sed -n 's/^# recipient: //p' pk.id)
    "$M3AGE_FIXTURE" keygen -o age.key 2>/dev/null
    AGEPUB=$("$M3AGE_FIXTURE" keygen -y age.key)
    "$M3AGE_FIXTURE" keygen -o extra.key 2>/dev/null
    EXTRA=$("$M3AGE_FIXTURE" keygen -y extra.key)
    mkdir -p secrets
    {
        printf 'let\n  pk = "%s";\n  agekey = "%s";\n  extra = "%s";\n  all = [ pk agekey ];\nin\n{\n' \
            "$PK" "$AGEPUB" "$EXTRA"
        for i in $(seq 1 "$1"); do
            printf '  "secrets/s%d.age".publicKeys = all;\n' "$i"
            printf 'secret %d\n' "$i" | age -r "$PK" -r "$AGEPUB" -o "secrets/s$i.age"
        done
        printf '}\n'
    } >secrets.nix
    export M3TEST_LOG=$PWD/starts.log
    : >"$M3TEST_LOG"
}
starts() { grep -c "^$1\$" "$M3TEST_LOG" || true; }

test_rekey_to_and_from_a_plugin_starts_it_once() {
    prepo 6
    sed -i 's/all = \[ pk agekey \];/all = [ pk agekey extra ];/' secrets.nix
    run "$M3AGE" rekey --force -i pk.id
    assert_status 0
    assert_contains out "6 rekeyed"
    # One identity-v1 session for all six files, one recipient-v1 session for all six keys.
    assert_eq "$(starts identity-v1)" 1 "identity-v1 starts"
    assert_eq "$(starts recipient-v1)" 1 "recipient-v1 starts"
    for i in 1 6; do
        run age -d -i pk.id "secrets/s$i.age"
        assert_eq "$(cat out)" "secret $i"
        run age -d -i extra.key "secrets/s$i.age"
        assert_eq "$(cat out)" "secret $i"
    done
    assert_no_temp secrets
}

test_rekey_with_a_pin_asks_once() {
    prepo 4
    age-plugin-m3test --generate pin >pin.id
    PIN_R=$(sed -n 's/^# plain-recipient: //p' pin.id)
    for i in 1 2 3 4; do printf 'pinned %d\n' "$i" | age -r "$PIN_R" -o "secrets/s$i.age"; done
    command -v script >/dev/null || skip "script(1) is not installed"
    set +e
    (sleep 1; printf '1234\n') | timeout 60 script -qec "$M3AGE rekey --force -i pin.id" /dev/null >tty 2>&1
    status=$?
    set -e
    assert_status 0
    [ "$(grep -c 'Enter the PIN' tty)" -eq 1 ] || _fail "PIN asked $(grep -c 'Enter the PIN' tty) times: $(cat tty)"
    assert_eq "$(starts identity-v1)" 1 "identity-v1 starts"
    run age -d -i age.key secrets/s3.age
    assert_eq "$(cat out)" "pinned 3"
}

test_missing_plugin_stops_rekey_before_any_write() {
    prepo 3
    sed -i 's/all = \[ pk agekey \];/all = [ pk agekey extra ];/' secrets.nix
    mkdir snap && cp -p secrets/*.age snap/
    PATH=/usr/bin:/bin run "$M3AGE" rekey --force -i age.key
    assert_status 1
    assert_contains err "pk: age-plugin-m3test not found in PATH"
    for f in s1 s2 s3; do assert_same_file "snap/$f.age" "secrets/$f.age"; done
    assert_no_temp secrets
}

test_failing_plugin_stops_rekey_before_any_write() {
    prepo 3
    age-plugin-m3test --generate crash >crash.id
    CR=$(sed -n 's/^# recipient: //p' crash.id)
    sed -i "s|pk = \"[^\"]*\";|pk = \"$CR\";|" secrets.nix
    mkdir snap && cp -p secrets/*.age snap/
    run "$M3AGE" rekey --force -i age.key
    assert_status 2
    assert_contains err "m3age: error: age-plugin-m3test: the plugin exited in the middle of the protocol"
    assert_contains err "m3test: simulated crash"
    for f in s1 s2 s3; do assert_same_file "snap/$f.age" "secrets/$f.age"; done
    assert_no_temp secrets
}

test_edit_through_the_plugin() {
    prepo 1
    cat >ed.sh <<'SH'
#!/bin/sh
printf 'edited\n' >"$1"
SH
    chmod +x ed.sh
    run "$M3AGE" edit --editor "$PWD/ed.sh" -i pk.id secrets/s1.age
    assert_status 0
    run age -d -i pk.id secrets/s1.age
    assert_eq "$(cat out)" "edited"
    run age -d -i age.key secrets/s1.age
    assert_eq "$(cat out)" "edited"
}

test_agenix_mode_decrypts_with_a_plugin_identity() {
    prepo 1
    ln -s "$M3AGE" agenix
    run ./agenix -d secrets/s1.age -i pk.id
    assert_status 0
    assert_eq "$(cat out)" "secret 1"
}

test_audit_names_a_registry_key_whose_plugin_is_missing() {
    prepo 2
    run "$M3AGE" audit
    assert_not_contains out "M3A030"
    PATH=/usr/bin:/bin run "$M3AGE" audit
    assert_contains out "M3A030  key pk needs age-plugin-m3test, which is not in PATH: edit and rekey of its files stop before writing"
    assert_eq "$(grep -c M3A030 out)" 1 "one finding per key"
}

test_audit_verifies_through_a_plugin_started_once() {
    prepo 4
    run "$M3AGE" audit -i pk.id
    assert_status 0
    assert_not_contains out "M3A018"
    assert_eq "$(starts identity-v1)" 1 "identity-v1 starts"
}

test_textconv_decrypts_with_a_plugin_identity() {
    prepo 1
    run "$M3AGE" diff --textconv -i pk.id secrets/s1.age
    assert_status 0
    assert_eq "$(cat out)" "secret 1"
}

run_tests
