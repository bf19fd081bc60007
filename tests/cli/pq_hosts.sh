#!/bin/bash
# A post-quantum fleet: `m3age hosts sync --pq` collects each host's post-quantum recipient
# (hosts/<host>/host-pq.pub, --from DIR, or --scan: read over ssh from a real sshd), binds it
# to HOST-pq beside the SSH key, moves the host's secrets to it and, with --rekey, re-encrypts
# them; `m3age hosts` shows which hosts have one; audit sees the host's secrets through it.
. "$(dirname "$0")/../lib.sh"

. "$(dirname "$0")/sshd.inc"

# setup: the demo repository in ./repo with its user moved to a post-quantum key (u.txt), so
# that hosts can go post-quantum without mixing. Leaves the working directory in repo/.
setup() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    chmod 600 repo/demo-keys/*
    cd repo
    "$M3AGE_FIXTURE" keygen --pq -o u.txt 2>/dev/null || _fail "keygen failed"
    "$M3AGE_FIXTURE" registry set-key m3tam3re-pq "$("$M3AGE_FIXTURE" keygen -y u.txt)" >/dev/null ||
        _fail "set-key failed"
    sed -i 's/^  users = \[ m3tam3re m3tam3re-age \];/  users = [ m3tam3re-pq ];/' secrets.nix
    grep -q '^  users = \[ m3tam3re-pq \];' secrets.nix || _fail "users not replaced"
}

# host_pq HOST: what the NixOS module does on the host: a post-quantum identity in
# id-HOST.txt, its recipient on stdout.
host_pq() {
    "$M3AGE_FIXTURE" keygen --pq -o "../id-$1.txt" 2>/dev/null && "$M3AGE_FIXTURE" keygen -y "../id-$1.txt"
}

test_sync_pq_from_hosts_folder_moves_and_rekeys_the_hosts_secrets() {
    setup
    local h
    host_pq m3-ares >hosts/m3-ares/host-pq.pub
    run "$M3AGE" hosts sync --pq m3-ares --dry-run
    assert_status 1
    assert_contains out "m3-ares: would bind m3-ares-pq = age1pq1"
    # one host alone: its secrets are shared with classical hosts, so a rekey is refused
    # (naming them) and the files stay as they were
    cp secrets/wifi.age wifi.before
    run "$M3AGE" hosts sync --pq m3-ares --rekey -i demo-keys/m3tam3re-age.txt -i u.txt
    assert_status 2
    assert_contains err "secrets/wifi.age: refusing to write: post-quantum recipients cannot be mixed with classical ones, which would make the file not post-quantum; classical: m3-kratos, m3-daedalus"
    assert_same_file secrets/wifi.age wifi.before
    grep -q "^  m3-ares-pq = \"$(cat hosts/m3-ares/host-pq.pub)\";" secrets.nix || _fail "no binding"
    grep -q '^  workstations = \[ m3-ares-pq m3-kratos m3-daedalus \];' secrets.nix ||
        _fail "workstations: $(grep workstations secrets.nix)"
    grep -q '^  m3-ares = "ssh-ed25519 ' secrets.nix || _fail "the SSH key binding is gone"
    # the whole fleet: every secret moves and is re-encrypted
    for h in m3-kratos m3-daedalus m3-atlas m3-helios m3-hermes m3-aether; do
        host_pq $h >hosts/$h/host-pq.pub
    done
    run "$M3AGE" hosts sync --pq --rekey -i demo-keys/m3tam3re-age.txt -i u.txt
    assert_status 0
    assert_contains out "m3-ares: post-quantum, up to date"
    assert_contains out "m3-aether: bound m3-aether-pq = age1pq1"
    # a host alone in its '++ [ HOST ]' keeps the list, renamed (rm-key drops such a list)
    grep -q '^  "secrets/restic-atlas.age".publicKeys = users ++ \[ m3-atlas-pq \];' secrets.nix ||
        _fail "restic-atlas: $(grep restic-atlas secrets.nix)"
    # each host opens its secrets with its post-quantum identity
    run "$M3AGE" decrypt -i ../id-m3-ares.txt secrets/wifi.age
    assert_status 0
    run "$M3AGE" decrypt -i ../id-m3-aether.txt secrets/wireguard-aether.age
    assert_status 0
    run "$M3AGE" hosts
    assert_contains out "post-quantum identity: m3-ares-pq"
    assert_contains out "post-quantum identities: 7 of 7 hosts"
    run "$M3AGE" hosts --json
    grep -o '{"host":"m3-ares"[^}]*}' out | grep -q '"post_quantum":"yes"' || _fail "json: $(cat out)"
    # audit: the hosts' secrets are encrypted to their post-quantum keys
    run "$M3AGE" audit --require-pq
    assert_status 0
    assert_not_contains out "M3A009"
    assert_contains out "post-quantum protected: 6 of 6 secrets"
    # a host removed takes its post-quantum identity along: it reads nothing any more
    run "$M3AGE" hosts rm m3-aether -i u.txt
    assert_status 0
    assert_contains out "(2 secrets)"
    ! grep -q 'm3-aether' secrets.nix || _fail "m3-aether still in the registry: $(grep m3-aether secrets.nix)"
    run "$M3AGE" decrypt -i ../id-m3-aether.txt secrets/wireguard-aether.age
    assert_status 1
    run "$M3AGE" decrypt -i ../id-m3-aether.txt secrets/m3tam3re-password.age
    assert_status 1
}

test_sync_pq_from_a_folder_and_errors_named() {
    setup
    mkdir ../collected
    host_pq m3-atlas >../collected/m3-atlas-pq.pub
    run "$M3AGE" hosts sync --pq m3-atlas --from ../collected
    assert_status 0
    assert_contains out "m3-atlas: bound m3-atlas-pq"
    grep -q '^  servers = \[ m3-atlas-pq m3-helios m3-hermes m3-aether \];' secrets.nix ||
        _fail "servers: $(grep servers secrets.nix)"
    assert_contains err "run 'm3age rekey --host m3-atlas'"
    # the hint works: the host's two secrets are found through m3-atlas-pq; the one it
    # shares with classical hosts is refused, so (all or nothing) neither is written
    cp secrets/restic-atlas.age restic.before
    run "$M3AGE" rekey --host m3-atlas -i demo-keys/m3tam3re-age.txt -i u.txt
    assert_status 1
    assert_contains out "0 rekeyed, 0 already up to date, 1 failed, 1 not written"
    assert_contains err "secrets/m3tam3re-password.age: refusing to write: post-quantum recipients cannot be mixed"
    assert_same_file secrets/restic-atlas.age restic.before
    # a host with nothing to collect, and a file that is not a post-quantum recipient
    cp secrets.nix before.nix
    run "$M3AGE" hosts sync --pq m3-helios --from ../collected
    assert_status 2
    assert_contains err "m3age: error: ../collected/m3-helios-pq.pub"
    cat hosts/m3-helios/ssh_host_ed25519_key.pub >../collected/m3-helios-pq.pub
    run "$M3AGE" hosts sync --pq m3-helios --from ../collected
    assert_status 2
    assert_one_error_line "m3-helios-pq.pub: not an age1pq1 post-quantum recipient"
    assert_same_file secrets.nix before.nix
    run "$M3AGE" hosts sync --pq --known-hosts
    assert_status 2
    assert_contains err "m3age: error: --pq belongs to 'hosts sync', with hosts/, --from or --scan"
}

test_sync_pq_scan_reads_the_recipient_over_ssh() {
    need_sshd
    command -v ssh >/dev/null || skip "ssh not installed"
    setup
    local r
    SSHD_PID=
    trap stop_sshd EXIT
    PORT=$(free_port)
    mkdir -p ../sshd ../home/.ssh
    r=$(host_pq m3-hermes)
    printf '%s\n' "$r" >../sshd/host-pq.pub
    ssh-keygen -q -t ed25519 -N '' -f ../sshd/hostkey
    ssh-keygen -q -t ed25519 -N '' -f ../home/.ssh/id_ed25519
    cp ../home/.ssh/id_ed25519.pub ../sshd/authorized_keys
    # the operator's ssh logs in with its key; the host serves its recipient file
    start_sshd "$PWD/../sshd" "$PWD/../sshd/hostkey"
    sed -i -e 's/^PubkeyAuthentication no$/PubkeyAuthentication yes/' \
        -e "s|^AuthorizedKeysFile none\$|AuthorizedKeysFile $PWD/../sshd/authorized_keys|" ../sshd/config
    echo "ForceCommand cat $PWD/../sshd/host-pq.pub" >>../sshd/config
    stop_sshd
    "$SSHD" -D -e -f "$PWD/../sshd/config" -p "$PORT" 2>>../sshd/log &
    SSHD_PID=$!
    for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done
    export HOME=$PWD/../home
    printf 'Host m3-hermes\n    HostName 127.0.0.1\n    Port %s\n    User %s\n    IdentityFile %s\n    StrictHostKeyChecking accept-new\n    UserKnownHostsFile %s\n' \
        "$PORT" "$(id -un)" "$HOME/.ssh/id_ed25519" "$HOME/.ssh/known_hosts" >"$HOME/.ssh/config"
    run "$M3AGE" hosts sync --pq m3-hermes --scan
    assert_status 0
    assert_contains out "m3-hermes: bound m3-hermes-pq = ${r:0:16}"
    assert_contains out "(ssh m3-hermes cat /var/lib/m3age/host-pq.pub)"
    grep -q "^  m3-hermes-pq = \"$r\";" secrets.nix || _fail "no binding"
    # an unreachable host: one error naming it, nothing written
    stop_sshd
    cp secrets.nix before.nix
    run "$M3AGE" hosts sync --pq m3-hermes --scan --timeout 2
    assert_status 2
    assert_contains err "m3age: error: m3-hermes: cannot read /var/lib/m3age/host-pq.pub over ssh"
    assert_same_file secrets.nix before.nix
}

run_tests
