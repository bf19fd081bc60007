#!/bin/bash
# m3age hosts --scan against a real OpenSSH sshd on a loopback port: scan, rotate the host
# key, restart, scan again; known_hosts trust on first use; the registry binding changes and
# the secrets the host reads are rekeyed. sshd is stopped on every exit path.
. "$(dirname "$0")/../lib.sh"

. "$(dirname "$0")/sshd.inc"

# setup: demo repository in ./repo, HOME with an ssh config mapping m3-atlas to the test
# sshd, sshd's first host key. Leaves the working directory in repo/.
setup() {
    need_sshd
    SSHD_PID=
    trap stop_sshd EXIT
    PORT=$(free_port)
    mkdir -p sshd home/.ssh
    export HOME=$PWD/home
    printf 'Host m3-atlas\n    HostName 127.0.0.1\n    Port %s\n    User nobody\n' "$PORT" \
        >home/.ssh/config
    ssh-keygen -q -t ed25519 -N '' -C root@m3-atlas -f sshd/key1
    ssh-keygen -q -t ed25519 -N '' -C root@m3-atlas -f sshd/key2
    cp -r "$SRCDIR/examples/nixos-config" repo
    chmod 600 repo/demo-keys/*
    SSHD_DIR=$PWD/sshd
    start_sshd "$SSHD_DIR" "$SSHD_DIR/key1"
    cd repo
}
fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }
keyof() { awk '{print $1" "$2}' "$1"; }
binding() { grep -E '^  m3-atlas = ' secrets.nix; }

# has_rekey: whether this build re-encrypts (m3age rekey exists).
has_rekey() { "$M3AGE" rekey --help >/dev/null 2>&1; }

test_scan_reads_the_host_key_through_ssh_config() {
    setup
    run "$M3AGE" hosts sync m3-atlas --scan --dry-run
    assert_status 1
    assert_contains out "m3-atlas: would change"
    assert_contains out "-> $(fp ../sshd/key1.pub) (scan of m3-atlas)"
    assert_contains err "not in known_hosts: trusting $(fp ../sshd/key1.pub) on first use"
    # nothing was run on the host and no authentication was tried
    ! grep -qiE 'accepted|session opened|authentication' ../sshd/log || _fail "sshd log: $(cat ../sshd/log)"
}

test_scan_rotate_restart_scan_again() {
    setup
    before=$(binding)
    # 1. first scan: trust on first use, binding now sshd's key1
    run "$M3AGE" hosts sync m3-atlas --scan
    assert_status 0
    assert_contains out "m3-atlas: changed"
    assert_contains out "$(fp ../sshd/key1.pub) (scan of m3-atlas)"
    assert_eq "$(binding)" "  m3-atlas = \"$(keyof ../sshd/key1.pub)\";" "binding after the first scan"
    [ "$(binding)" != "$before" ] || _fail "binding did not change"
    # ssh would now have the key in known_hosts (written as ssh writes it: [addr]:port, hashed)
    ssh-keyscan -p "$PORT" -t ed25519 127.0.0.1 2>/dev/null >"$HOME/.ssh/known_hosts"
    ssh-keygen -q -H -f "$HOME/.ssh/known_hosts" >/dev/null 2>&1
    grep -q '^|1|' "$HOME/.ssh/known_hosts" || _fail "known_hosts not hashed"
    run "$M3AGE" hosts sync m3-atlas --scan
    assert_status 0
    assert_contains out "m3-atlas: up to date ($(fp ../sshd/key1.pub))"
    run "$M3AGE" hosts m3-atlas
    grep -qE '^m3-atlas .* same +DISAGREE$|^m3-atlas .* differs +same +DISAGREE$' out || _fail "$(cat out)"

    # 2. the host is reinstalled: new host key, sshd restarted
    stop_sshd
    start_sshd "$SSHD_DIR" "$SSHD_DIR/key2"
    cp secrets.nix ../registry.key1
    run "$M3AGE" hosts sync m3-atlas --scan
    assert_status 1
    assert_contains err "differs from the one in $HOME/.ssh/known_hosts ($(fp ../sshd/key1.pub))"
    assert_contains err "m3age: error: m3-atlas: not written"
    assert_contains err "--accept-new"
    assert_same_file secrets.nix ../registry.key1

    # 3. the user checked the key: accept it, rekey what m3-atlas reads
    if has_rekey; then
        run "$M3AGE" hosts sync m3-atlas --scan --accept-new --rekey -i demo-keys/m3tam3re-age.txt
    else
        run "$M3AGE" hosts sync m3-atlas --scan --accept-new
    fi
    assert_status 0
    assert_contains out "m3-atlas: changed $(fp ../sshd/key1.pub) -> $(fp ../sshd/key2.pub)"
    assert_contains err "HOST KEY CHANGED"
    assert_eq "$(binding)" "  m3-atlas = \"$(keyof ../sshd/key2.pub)\";" "binding after the rotation"
    [ "$(diff ../registry.key1 secrets.nix | grep -c '^>')" -eq 1 ] || _fail "more than the binding changed"
    if has_rekey; then
        assert_contains out "rekeyed secrets/restic-atlas.age"
        assert_contains out "rekeyed secrets/m3tam3re-password.age"
        # the rotated host opens its secrets with its new private key (checked with Go age)
        if command -v age >/dev/null; then
            for s in restic-atlas m3tam3re-password; do
                age -d -i ../sshd/key2 "secrets/$s.age" >"../$s.txt" || _fail "key2 cannot open $s"
                "$M3AGE" decrypt -i demo-keys/m3tam3re-age.txt "secrets/$s.age" | cmp -s - "../$s.txt" ||
                    _fail "$s: different plaintext"
            done
        fi
    else
        assert_contains err "m3age rekey --host m3-atlas"
    fi
}

test_scan_prefers_ed25519_and_add_joins_a_list() {
    setup
    stop_sshd
    ssh-keygen -q -t rsa -b 2048 -N '' -f "$SSHD_DIR/rsa"
    # two host keys, RSA first: m3age asks for ssh-ed25519 first all the same
    start_sshd "$SSHD_DIR" "$SSHD_DIR/rsa" "$SSHD_DIR/key2"
    printf 'Host m3-new\n    HostName 127.0.0.1\n    Port %s\n' "$PORT" >>"$HOME/.ssh/config"
    run "$M3AGE" hosts add m3-new --scan --to servers
    assert_status 0
    assert_contains out "m3-new: added $(fp ../sshd/key2.pub) (ssh-ed25519, from scan of m3-new)"
    assert_contains out "m3-new: joined list 'servers'"
    grep -qF "m3-new = \"$(keyof ../sshd/key2.pub)\";" secrets.nix || _fail "$(cat secrets.nix)"
    grep -qF "servers = [ m3-atlas m3-helios m3-hermes m3-aether m3-new ];" secrets.nix || _fail "$(cat secrets.nix)"
    # an RSA-only sshd gives its RSA key (age encrypts to ssh-rsa too)
    stop_sshd
    start_sshd "$SSHD_DIR" "$SSHD_DIR/rsa"
    run "$M3AGE" hosts sync m3-new --scan --dry-run
    assert_status 1
    assert_contains out "-> $(fp ../sshd/rsa.pub) (scan of m3-new)"
}

test_scan_stopped_sshd_is_a_clear_error() {
    setup
    stop_sshd
    cp secrets.nix ../orig
    run "$M3AGE" hosts sync m3-atlas --scan --timeout 2
    assert_status 2
    assert_contains err "m3age: error: m3-atlas (127.0.0.1 port $PORT): cannot read the host key"
    assert_same_file secrets.nix ../orig
}

run_tests
