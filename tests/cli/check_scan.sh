#!/bin/bash
# m3age check --host H --scan against a real OpenSSH sshd on a loopback port: the key the
# host's sshd presents is compared with the registry key (match, mismatch with both
# fingerprints, unreachable). The address comes from ~/.ssh/config, as for m3age hosts --scan.
. "$(dirname "$0")/../lib.sh"
command -v ssh-keygen >/dev/null || { echo "check_scan: skipped (no ssh-keygen)"; exit 0; }
. "$(dirname "$0")/audit_lib.inc"

. "$(dirname "$0")/sshd.inc"

# start_key_sshd KEYFILE: the test sshd with that host key only (a private copy in ./sshd).
start_key_sshd() {
    mkdir -p sshd
    cp "$1" sshd/hostkey && chmod 600 sshd/hostkey
    start_sshd "$PWD/sshd" "$PWD/sshd/hostkey"
}

# setup HOSTKEY: the audit repository (h1 uses a.age), HOME with an ssh config that sends
# h1 to the test sshd, which runs with HOSTKEY.
setup() {
    need_sshd
    SSHD_PID=
    trap stop_sshd EXIT
    PORT=$(free_port)
    mkdir -p home/.ssh
    export HOME=$PWD/home
    printf 'Host h1\n    HostName 127.0.0.1\n    Port %s\n    User nobody\n' "$PORT" >home/.ssh/config
    make_repo
    start_key_sshd "$1"
}
fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }

test_scan_matching_key_is_ready() {
    setup "$AK/h1"
    run "$M3AGE" check --host h1 --scan
    assert_status 0
    assert_contains out "ok    key: the scan of h1 (127.0.0.1 port $PORT) is the registry's key for this host"
    assert_contains out "ok    secrets/a.age"
    assert_contains out "h1: ready (1 secret)"
    assert_empty err
    # nothing was run on the host and no authentication was tried
    ! grep -qiE 'accepted|session opened' sshd/log || _fail "sshd log: $(cat sshd/log)"
    # the gate as the README shows it
    "$M3AGE" check --host h1 --scan >/dev/null && echo deployed >log
    assert_eq "$(cat log)" deployed
}

test_scan_other_host_key_is_an_error_with_both_fingerprints() {
    setup "$AK/h2"
    run "$M3AGE" check --host h1 --scan
    assert_status 1
    assert_contains out "FAIL  key: the scan of h1 (127.0.0.1 port $PORT) is not the registry's key for this host"
    assert_contains out "the registry key 'h1' ($(fp "$AK/h1.pub")) is not the key in the scan of h1 (127.0.0.1 port $PORT) ($(fp "$AK/h2.pub")) (M3A020)"
    assert_contains out "h1: not ready: 1 error"
    run "$M3AGE" check --host h1 --scan --json
    assert_status 1
    assert_contains out '"code": "M3A020", "severity": "error"'
    assert_contains out "$(fp "$AK/h2.pub")"
    # fixed: the host got its registered key back
    stop_sshd
    start_key_sshd "$AK/h1"
    run "$M3AGE" check --host h1 --scan
    assert_status 0
    assert_not_contains out M3A020
}

test_scan_unreachable_host_is_exit_2_with_one_line() {
    setup "$AK/h1"
    stop_sshd
    run "$M3AGE" check --host h1 --scan --timeout 2
    assert_status 2
    assert_one_error_line "m3age: error: h1 (127.0.0.1 port $PORT): cannot read the host key"
    assert_empty out
    # a name that does not resolve
    run "$M3AGE" check --host h1 --scan --timeout 2 --rules secrets.nix
    assert_status 2
    printf 'Host h1\n    HostName no-such-host.invalid\n' >"$HOME/.ssh/config"
    run "$M3AGE" check --host h1 --scan --timeout 2
    assert_status 2
    assert_one_error_line "h1 (no-such-host.invalid port 22)"
}

test_scan_usage() {
    make_repo
    run "$M3AGE" check --host h1 --scan --key "$AK/h1.pub"
    assert_status 2
    assert_contains err "--key and --scan exclude each other"
    run "$M3AGE" check --host h1 --timeout 3
    assert_status 2
    assert_contains err "--timeout is for --scan"
    run "$M3AGE" check --host h1 --scan --timeout 0
    assert_status 2
    assert_contains err "--timeout takes seconds"
}

run_tests
