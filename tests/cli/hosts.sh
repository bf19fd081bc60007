#!/bin/bash
# m3age hosts: host keys from hosts/, --from DIR and known_hosts against the registry, and
# the bad inputs that must leave secrets.nix untouched. (The live sshd tests are in
# hosts_sshd.sh.)
. "$(dirname "$0")/../lib.sh"

# repo: a copy of the demo repository in ./repo, HOME in ./home; cd into the repo.
repo() {
    cp -r "$SRCDIR/examples/nixos-config" repo
    mkdir -p home/.ssh
    export HOME=$PWD/home
    cd repo
    cp secrets.nix ../secrets.nix.orig
}
# newkey NAME: a fresh ed25519 key pair ../NAME and ../NAME.pub.
newkey() {
    ssh-keygen -q -t ed25519 -N '' -C "root@$1" -f "../$1"
}
fp() { ssh-keygen -lf "$1" | awk '{print $2}'; }
# nixeval: the registry as nix-instantiate sees it (the oracle for what an edit meant).
nixeval() {
    NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict \
        --json secrets.nix 2>/dev/null
}
need_nix() { command -v nix-instantiate >/dev/null || skip "nix-instantiate not installed"; }
untouched() { cmp -s secrets.nix ../secrets.nix.orig || _fail "secrets.nix changed: $(diff ../secrets.nix.orig secrets.nix)"; }
keyof() { awk '{print $1" "$2}' "$1"; }

test_list_demo_repo_all_agree() {
    repo
    run "$M3AGE" hosts
    assert_status 0
    assert_lines out 8
    for h in m3-ares m3-kratos m3-daedalus m3-atlas m3-helios m3-hermes m3-aether; do
        grep -qE "^$h +SHA256:[A-Za-z0-9+/]{43} +same +- +ok$" out || _fail "no ok row for $h: $(cat out)"
    done
    assert_not_contains out m3tam3re
}

test_list_fingerprints_are_ssh_keygen_ones() {
    repo
    run "$M3AGE" hosts m3-hermes m3-aether
    assert_status 0
    assert_contains out "$(fp hosts/m3-hermes/ssh_host_ed25519_key.pub)"
    assert_contains out "$(fp hosts/m3-aether/ssh_host_ed25519_key.pub)"
    assert_lines out 3
}

test_list_all_adds_user_keys_and_json() {
    repo
    run "$M3AGE" hosts --all --json
    assert_status 0 # a user key without a hosts/ file is not a disagreement
    assert_contains out '"host":"m3tam3re"'
    assert_contains out '"file":"missing"'
}

test_registry_in_a_subfolder_finds_hosts_at_the_root() {
    repo
    echo '{ outputs = _: { }; }' >flake.nix
    mv secrets.nix secrets/secrets.nix
    newkey m3-ares
    cd secrets
    run "$M3AGE" hosts
    assert_status 0
    assert_lines out 8
    cp ../../m3-ares.pub ../hosts/m3-ares/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-ares
    assert_status 0
    grep -qF "m3-ares = \"$(keyof ../../m3-ares.pub)\";" secrets.nix || _fail "not rewritten"
}

test_list_reports_a_rotated_key() {
    repo
    newkey m3-helios
    cp ../m3-helios.pub hosts/m3-helios/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts
    assert_status 1
    grep -qE '^m3-helios .* differs .*DISAGREE$' out || _fail "$(cat out)"
    assert_contains out "$(fp ../m3-helios.pub)"
    assert_contains err "hosts sync"
}

test_sync_rotated_key_rewrites_only_that_binding() {
    need_nix
    repo
    old=$(fp hosts/m3-atlas/ssh_host_ed25519_key.pub)
    newkey m3-atlas
    cp ../m3-atlas.pub hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync
    assert_status 0
    assert_contains out "m3-atlas: changed $old -> $(fp ../m3-atlas.pub)"
    assert_contains out "m3-ares: up to date"
    assert_contains out "updated secrets.nix (1 host key)"
    assert_contains err "HOST KEY CHANGED"
    assert_contains err "m3age rekey --host m3-atlas"
    # exactly one line changed, to the new key
    [ "$(diff ../secrets.nix.orig secrets.nix | grep -c '^>')" -eq 1 ] || _fail "$(diff ../secrets.nix.orig secrets.nix)"
    grep -qF "  m3-atlas = \"$(keyof ../m3-atlas.pub)\";" secrets.nix || _fail "binding not rewritten"
    # Nix agrees: the secrets for atlas now list the new key and not the old one
    nixeval >eval.json
    grep -qF "$(keyof ../m3-atlas.pub)" eval.json || _fail "nix does not see the new key"
    ! grep -qF "AAAAC3NzaC1lZDI1NTE5AAAAINLt68Pjj9t8kmmdyzCSYtQh4l4u6B8OwlGZXltqU2uz" eval.json ||
        _fail "old key still in the registry"
    assert_no_temp .
    # a second sync has nothing to do
    cp secrets.nix ../after
    run "$M3AGE" hosts sync m3-atlas
    assert_status 0
    assert_contains out "m3-atlas: up to date"
    assert_same_file secrets.nix ../after
}

test_sync_dry_run_writes_nothing() {
    repo
    newkey m3-kratos
    cp ../m3-kratos.pub hosts/m3-kratos/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync --dry-run
    assert_status 1
    assert_contains out "m3-kratos: would change"
    assert_contains out "would rekey secrets/wifi.age"
    assert_contains out "would rekey secrets/m3tam3re-password.age"
    untouched
}

test_sync_from_dir() {
    repo
    mkdir ../keys
    newkey m3-hermes
    cp ../m3-hermes.pub ../keys/m3-hermes.pub
    cp hosts/m3-aether/ssh_host_ed25519_key.pub ../keys/m3-aether.pub
    run "$M3AGE" hosts sync m3-hermes m3-aether --from ../keys
    assert_status 0
    assert_contains out "m3-hermes: changed"
    assert_contains out "m3-aether: up to date"
    grep -qF "m3-hermes = \"$(keyof ../m3-hermes.pub)\";" secrets.nix || _fail "not rewritten"
}

test_sync_from_known_hosts_hashed_and_port() {
    repo
    newkey m3-atlas
    newkey m3-helios
    # one hashed entry on port 22, one plain entry with a port through ~/.ssh/config
    printf 'm3-atlas %s\n' "$(keyof ../m3-atlas.pub)" >../kh
    printf '# other hosts\n@cert-authority * %s\nm3-hermes,10.0.0.3 %s\n' \
        "$(keyof ../m3-helios.pub)" "$(keyof hosts/m3-hermes/ssh_host_ed25519_key.pub)" >>../kh
    ssh-keygen -q -H -f ../kh >/dev/null 2>&1
    grep -q '^|1|' ../kh || _fail "ssh-keygen -H did not hash"
    printf '[10.1.2.3]:2222 %s\n' "$(keyof ../m3-helios.pub)" >>../kh
    cp ../kh "$HOME/.ssh/known_hosts"
    printf 'Host m3-helios\n  HostName 10.1.2.3\n  Port 2222\n' >"$HOME/.ssh/config"
    run "$M3AGE" hosts sync --known-hosts m3-atlas m3-helios m3-hermes
    assert_status 0
    assert_contains out "m3-atlas: changed"
    assert_contains out "$(fp ../m3-atlas.pub) ($HOME/.ssh/known_hosts)"
    assert_contains out "m3-helios: changed"
    assert_contains out "m3-hermes: up to date"
    grep -qF "m3-atlas = \"$(keyof ../m3-atlas.pub)\";" secrets.nix || _fail "atlas not rewritten"
    grep -qF "m3-helios = \"$(keyof ../m3-helios.pub)\";" secrets.nix || _fail "helios not rewritten"
    # the listing compares the registry with known_hosts too
    run "$M3AGE" hosts m3-atlas m3-ares
    grep -qE '^m3-atlas .* differs +same +DISAGREE$' out || _fail "$(cat out)"
    grep -qE '^m3-ares .* same +- +ok$' out || _fail "$(cat out)"
}

test_known_hosts_revoked_key_is_not_used() {
    repo
    newkey m3-atlas
    printf 'm3-atlas %s\n@revoked * %s\n' "$(keyof ../m3-atlas.pub)" "$(keyof ../m3-atlas.pub)" \
        >"$HOME/.ssh/known_hosts"
    run "$M3AGE" hosts sync --known-hosts m3-atlas
    assert_status 2
    assert_one_error_line "no ssh-ed25519 or ssh-rsa key for 'm3-atlas'"
    untouched
}

test_add_host_into_lists_then_rm() {
    need_nix
    repo
    newkey m3-zeus
    run "$M3AGE" hosts add m3-zeus ../m3-zeus.pub --to servers
    assert_status 0
    assert_contains out "m3-zeus: added $(fp ../m3-zeus.pub) (ssh-ed25519, from ../m3-zeus.pub)"
    assert_contains out "m3-zeus: joined list 'servers'"
    assert_contains out "m3-zeus: is now a recipient of 1 secret"
    grep -qF "  m3-zeus = \"$(keyof ../m3-zeus.pub)\";" secrets.nix || _fail "no binding"
    grep -qF "servers = [ m3-atlas m3-helios m3-hermes m3-aether m3-zeus ];" secrets.nix || _fail "$(cat secrets.nix)"
    nixeval >eval.json
    [ "$(grep -o "$(keyof ../m3-zeus.pub | cut -d' ' -f2)" eval.json | wc -l)" -eq 1 ] ||
        _fail "m3-zeus should read exactly m3tam3re-password.age: $(cat eval.json)"
    run "$M3AGE" hosts rm m3-zeus --no-rekey
    assert_status 0
    assert_contains out "m3-zeus: removed ssh-ed25519 key $(fp ../m3-zeus.pub) (tag "
    assert_contains out ") from secrets.nix (1 secret)"
    assert_contains err "git history stay readable"
    untouched
}

test_add_rekey_then_rm_rekeys_and_locks_the_host_out() {
    command -v age >/dev/null || skip "age not installed"
    repo
    chmod 600 demo-keys/*
    newkey m3-zeus
    "$M3AGE" decrypt -i demo-keys/m3tam3re-age.txt secrets/m3tam3re-password.age >../plain
    ! age -d -i ../m3-zeus secrets/m3tam3re-password.age >/dev/null 2>&1 || _fail "zeus reads it already"
    run "$M3AGE" hosts add m3-zeus ../m3-zeus.pub --to servers --rekey -i demo-keys/m3tam3re-age.txt
    assert_status 0
    assert_contains out "rekeyed secrets/m3tam3re-password.age"
    assert_contains out "1 rekeyed, 0 already up to date, 0 failed"
    age -d -i ../m3-zeus secrets/m3tam3re-password.age | cmp -s - ../plain || _fail "zeus cannot read its secret"
    cp secrets/wifi.age ../wifi.before
    run "$M3AGE" hosts rm m3-zeus -i demo-keys/m3tam3re-age.txt
    assert_status 0
    assert_contains out "rekeyed secrets/m3tam3re-password.age"
    assert_contains err "git history stay readable"
    ! age -d -i ../m3-zeus secrets/m3tam3re-password.age >/dev/null 2>&1 || _fail "zeus still reads it"
    "$M3AGE" decrypt -i demo-keys/m3tam3re-age.txt secrets/m3tam3re-password.age | cmp -s - ../plain ||
        _fail "plaintext changed"
    assert_same_file secrets/wifi.age ../wifi.before
    untouched
}

test_sync_rekey_without_identity_keeps_the_secrets() {
    repo
    newkey m3-atlas
    cp ../m3-atlas.pub hosts/m3-atlas/ssh_host_ed25519_key.pub
    cp secrets/restic-atlas.age ../restic.before
    run "$M3AGE" hosts sync m3-atlas --rekey
    assert_status 2
    assert_contains err "no identity"
    # All or nothing: the identity is checked before the registry is written.
    untouched
    assert_same_file secrets/restic-atlas.age ../restic.before
}

test_add_key_on_the_command_line() {
    repo
    newkey m3-eos
    run "$M3AGE" hosts add m3-eos "$(cat ../m3-eos.pub)" --dry-run --to workstations
    assert_status 1
    assert_contains out "m3-eos: would add"
    assert_contains out "would join list 'workstations'"
    untouched
    run "$M3AGE" hosts add m3-eos "$(cat ../m3-eos.pub)"
    assert_status 0
    grep -qF "m3-eos = \"$(keyof ../m3-eos.pub)\";" secrets.nix || _fail "no binding"
}

test_add_existing_host_with_other_key_refused() {
    repo
    newkey m3-ares
    run "$M3AGE" hosts add m3-ares ../m3-ares.pub
    assert_status 2
    assert_contains err "m3-ares is already in the registry"
    assert_contains err "m3age hosts sync m3-ares"
    untouched
}

test_add_to_unknown_list_refused() {
    repo
    newkey m3-zeus
    run "$M3AGE" hosts add m3-zeus ../m3-zeus.pub --to nosuchlist
    assert_status 2
    assert_contains err "no list 'nosuchlist'"
    untouched
}

test_bad_malformed_pub() {
    repo
    printf 'ssh-ed25519 AAAAnot*base64 root@m3-atlas\n' >hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-atlas
    assert_status 2
    assert_one_error_line "hosts/m3-atlas/ssh_host_ed25519_key.pub:1: SSH public key has invalid base64"
    untouched
    printf 'hello\n' >hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-atlas
    assert_status 2
    assert_contains err "not an SSH public key"
    untouched
    run "$M3AGE" hosts
    grep -qE '^m3-atlas .* bad .*DISAGREE$' out || _fail "$(cat out)"
}

test_bad_unsupported_key_type() {
    repo
    ssh-keygen -q -t ecdsa -N '' -f ../ec
    cp ../ec.pub hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-atlas
    assert_status 2
    assert_one_error_line "ecdsa-sha2-nistp256"
    untouched
}

test_bad_two_keys_in_a_pub_file() {
    repo
    cat hosts/m3-atlas/ssh_host_ed25519_key.pub hosts/m3-ares/ssh_host_ed25519_key.pub \
        >hosts/m3-atlas/ssh_host_ed25519_key.pub.2
    mv hosts/m3-atlas/ssh_host_ed25519_key.pub.2 hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-atlas
    assert_status 2
    assert_one_error_line "more than one key"
    untouched
}

test_bad_host_not_in_registry() {
    repo
    mkdir hosts/m3-zeus
    newkey m3-zeus
    cp ../m3-zeus.pub hosts/m3-zeus/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-zeus
    assert_status 2
    assert_contains err "m3-zeus: not in the registry"
    assert_contains err "m3age hosts add m3-zeus"
    untouched
    # syncing all hosts: the others are checked, the missing one is a finding (exit 1)
    run "$M3AGE" hosts sync
    assert_status 1
    assert_contains out "m3-ares: up to date"
    untouched
    run "$M3AGE" hosts
    assert_status 1
    grep -qE '^m3-zeus +- +present .*not in registry$' out || _fail "$(cat out)"
}

test_bad_computed_binding_is_read_only() {
    repo
    sed -i 's|^  m3-atlas = "ssh-ed25519 \(.*\)";|  m3-atlas = "ssh-ed25519 " + "\1";|' secrets.nix
    grep -q 'm3-atlas = "ssh-ed25519 " + ' secrets.nix || _fail "fixture not made"
    cp secrets.nix ../secrets.nix.orig
    run "$M3AGE" hosts m3-atlas
    assert_status 0 # it evaluates to the same key
    newkey m3-atlas
    cp ../m3-atlas.pub hosts/m3-atlas/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync m3-atlas
    assert_status 2
    assert_contains err "m3age: error: "
    assert_contains err "read-only"
    untouched
    assert_no_temp .
}

test_bad_imported_binding_is_read_only() {
    repo
    mkdir keys
    grep -E '^  m3-helios = ' secrets.nix | sed -E 's/^  m3-helios = (.*);$/\1/' >keys/helios.nix
    sed -i 's|^  m3-helios = .*|  m3-helios = import ./keys/helios.nix;|' secrets.nix
    cp secrets.nix ../secrets.nix.orig
    cp keys/helios.nix ../helios.orig
    run "$M3AGE" hosts m3-helios
    assert_status 0
    newkey m3-helios
    cp ../m3-helios.pub hosts/m3-helios/ssh_host_ed25519_key.pub
    run "$M3AGE" hosts sync
    assert_status 2
    assert_contains err "read-only"
    assert_contains out "m3-ares: up to date"
    untouched
    assert_same_file keys/helios.nix ../helios.orig
}

test_bad_unreachable_closed_port() {
    repo
    printf 'Host m3-atlas\n  HostName 127.0.0.1\n  Port 1\n' >"$HOME/.ssh/config"
    run "$M3AGE" hosts sync m3-atlas --scan --timeout 2
    assert_status 2
    assert_contains err "m3age: error: m3-atlas (127.0.0.1 port 1): cannot read the host key"
    assert_contains err "hint:"
    untouched
}

test_bad_silent_server_times_out() {
    command -v perl >/dev/null || skip "perl not installed"
    repo
    # a port that accepts connections and never says a word: the scan gives up after 1 s
    perl -MIO::Socket::INET -e '$s = IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => 0, Listen => 5) or die; open(P, ">", "../port") or die;
        print P $s->sockport, "\n"; close P; sleep 30' &
    SILENT_PID=$!
    trap 'kill $SILENT_PID 2>/dev/null || true' EXIT
    for _ in $(seq 1 100); do [ -s ../port ] && break; sleep 0.05; done
    printf 'Host m3-hermes\n  HostName 127.0.0.1\n  Port %s\n' "$(cat ../port)" >"$HOME/.ssh/config"
    run timeout 20 "$M3AGE" hosts sync m3-hermes --scan --timeout 1
    kill "$SILENT_PID" 2>/dev/null || true
    wait "$SILENT_PID" 2>/dev/null || true
    assert_status 2
    assert_contains err "m3age: error: m3-hermes (127.0.0.1 port $(cat ../port)): cannot read the host key: Timeout"
    untouched
}

test_bad_unreachable_unroutable_address_times_out() {
    repo
    # 192.0.2.0/24 is TEST-NET-1: never routed; the connect fails or times out after 1 s.
    printf 'Host m3-aether\n  HostName 192.0.2.1\n' >"$HOME/.ssh/config"
    run timeout 20 "$M3AGE" hosts sync m3-aether --scan --timeout 1
    assert_status 2
    assert_contains err "m3age: error: m3-aether (192.0.2.1 port 22): cannot read the host key"
    untouched
}

test_usage_errors() {
    repo
    run "$M3AGE" hosts sync --scan --from /tmp
    assert_status 2
    assert_contains err "choose one source"
    run "$M3AGE" hosts sync --timeout 0 --scan
    assert_status 2
    run "$M3AGE" hosts sync --rekey --rekey
    assert_status 2
    assert_contains err "given twice"
    run "$M3AGE" hosts --help
    assert_status 0
    assert_contains out "Usage: m3age hosts"
    run "$M3AGE" hosts add
    assert_status 2
    untouched
}

run_tests
