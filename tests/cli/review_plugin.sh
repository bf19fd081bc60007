#!/bin/bash
# tests/cli/review_plugin.sh: what an age plugin (another program, found in PATH) gets from
# m3age: never the passphrase of M3AGE_PASSPHRASE, in its environment or elsewhere. The
# plugin is the test plugin tests/plugin/age-plugin-m3test behind a wrapper that records
# what it was started with.
. "$(dirname "$0")/../lib.sh"

PLUGDIR=$SRCDIR/tests/plugin

# spy: ./spy/age-plugin-m3test records its environment in ./seen.PID and runs the test
# plugin; ./pk.id is a plugin identity and ./f.age a file for it (by Go age).
spy() {
    command -v age >/dev/null || skip "Go age is not installed"
    command -v python3 >/dev/null || skip "python3 is not installed"
    mkdir spy
    printf '#!/bin/sh\nenv >"%s/seen.$$"\nexec "%s/age-plugin-m3test" "$@"\n' "$PWD" "$PLUGDIR" \
        >spy/age-plugin-m3test
    chmod +x spy/age-plugin-m3test
    export PATH="$PWD/spy:$PATH"
    age-plugin-m3test --generate ok >pk.id
    PK=$(sed -n 's/^# recipient: //p' pk.id)
    echo 'the plaintext' | age -r "$PK" -o f.age
    rm -f seen.*
}

test_plugin_never_gets_the_passphrase_in_its_environment() {
    spy
    run env M3AGE_PASSPHRASE=hunter2-do-not-leak "$M3AGE" decrypt -i pk.id f.age
    assert_status 0
    assert_eq "$(cat out)" "the plaintext" "plaintext"
    assert_eq "$(ls seen.* | wc -l)" 1 "plugin starts"
    ! grep -q hunter2 seen.* || _fail "the plugin saw M3AGE_PASSPHRASE: $(grep hunter2 seen.*)"
    # the rest of the environment is the user's
    grep -q "^PATH=$PWD/spy:" seen.* || _fail "the plugin did not get PATH"
}

test_plugin_for_encryption_never_gets_the_passphrase() {
    spy
    echo 'more' >plain
    run env M3AGE_PASSPHRASE=hunter2-do-not-leak "$M3AGE" encrypt -r "$PK" -o g.age plain
    assert_status 0
    assert_eq "$(ls seen.* | wc -l)" 1 "plugin starts"
    ! grep -q hunter2 seen.* || _fail "the plugin saw M3AGE_PASSPHRASE"
    run age -d -i pk.id g.age
    assert_eq "$(cat out)" "more" "round trip"
}

run_tests
