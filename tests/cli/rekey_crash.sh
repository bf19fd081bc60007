#!/bin/bash
# Crash safety: a rekey of 200 secrets killed with SIGKILL at 50 random moments. After each
# kill every file decrypts to its original plaintext; after a final rekey every file matches
# the registry and no temporary file is left.
. "$(dirname "$0")/../lib.sh"

# Under make valgrind (M3AGE_WRAPPER) every process is ~30x slower: fewer files and kills
# still interrupt rekeys at random moments, with memcheck watching.
if [ -n "${M3AGE_WRAPPER:-}" ]; then
    N=${REKEY_CRASH_FILES:-30}
    KILLS=${REKEY_CRASH_KILLS:-10}
else
    N=${REKEY_CRASH_FILES:-200}
    KILLS=${REKEY_CRASH_KILLS:-50}
fi

test_rekey_killed_at_random_moments() {
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    [ -x "$TOOLS/decrypt_all" ] || skip "decrypt_all not built"
    # On tmpfs: the test is about rename atomicity and leftovers, and fsync on a shared disk
    # would make 50 runs slow. (bench/bench_rekey.sh measures the fsync cost.)
    if [ -d /dev/shm ]; then
        SHM=$(mktemp -d /dev/shm/m3t.XXXXXX)
        trap 'rm -rf "$SHM"' EXIT
        cd "$SHM"
    fi
    mkdir -p home/.ssh secrets
    export HOME=$PWD/home
    ssh-keygen -q -t ed25519 -N '' -C user -f home/.ssh/id_ed25519
    ssh-keygen -q -t ed25519 -N '' -C h1 -f h1
    ssh-keygen -q -t ed25519 -N '' -C h2 -f h2
    local user h1 h2 i
    user=$(cut -d' ' -f1,2 home/.ssh/id_ed25519.pub)
    h1=$(cut -d' ' -f1,2 h1.pub)
    h2=$(cut -d' ' -f1,2 h2.pub)
    {
        printf 'let\n  user = "%s";\n  h1 = "%s";\n  h2 = "%s";\n  hosts = [ h1 ];\nin\n{\n' "$user" "$h1" "$h2"
        for i in $(seq -w 1 "$N"); do printf '  "secrets/s%s.age".publicKeys = [ user ] ++ hosts;\n' "$i"; done
        printf '}\n'
    } >secrets.nix
    : >expected
    # The first file through $M3AGE (under make valgrind, memcheck watches it), the others
    # through m3age itself: the same command again would only cost memcheck's start-up.
    local m3=$M3AGE
    for i in $(seq -w 1 "$N"); do
        printf 'secret number %s\n' "$i" | "$m3" encrypt -r "$user" -o "secrets/s$i.age"
        m3=$BUILD/m3age
        printf 'secrets/s%s.age\tsecret number %s\n' "$i" "$i" >>expected
    done
    local files k t pid changed
    files=$(ls secrets/*.age)
    # shellcheck disable=SC2086
    "$TOOLS/decrypt_all" home/.ssh/id_ed25519 $files >got && cmp -s got expected || _fail "setup"
    # One uninterrupted run gives the span the kills are spread over.
    local t0 dur
    sed -i 's/hosts = \[ h1 \]/hosts = [ h2 ]/' secrets.nix
    t0=$(date +%s%N)
    "$M3AGE" rekey -j 2 >/dev/null
    dur=$((($(date +%s%N) - t0) / 1000000 + 1))
    sha256sum $files >prev.sum
    for k in $(seq 1 "$KILLS"); do
        # Alternate the host so that every run has every file to rewrite.
        if [ $((k % 2)) -eq 0 ]; then sed -i 's/hosts = \[ h1 \]/hosts = [ h2 ]/' secrets.nix
        else sed -i 's/hosts = \[ h2 \]/hosts = [ h1 ]/' secrets.nix; fi
        t=$((RANDOM % dur))
        "$M3AGE" rekey -j 2 >/dev/null 2>&1 &
        pid=$!
        sleep "$(printf '%d.%03d' $((t / 1000)) $((t % 1000)))"
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        # A file byte-identical to its verified previous state is its old version; every
        # other file must decrypt to its original plaintext (it is a complete new version).
        # shellcheck disable=SC2086
        sha256sum $files >now.sum
        changed=$(diff prev.sum now.sum | sed -n 's/^> [0-9a-f]*  //p')
        if [ -n "$changed" ]; then
            # shellcheck disable=SC2086
            "$TOOLS/decrypt_all" home/.ssh/id_ed25519 $changed >got || _fail "kill $k at ${t} ms: $(grep ERROR got | head -3)"
            grep -F -f got expected | cmp -s - got || _fail "kill $k at ${t} ms: plaintexts differ: $(grep -vF -f expected got | head -3)"
        fi
        mv now.sum prev.sum
        [ -z "$(ls -A secrets | grep -v '\.age$' | grep -v '^\..*\.m3tmp\.')" ] || _fail "unexpected files in secrets/"
    done
    # shellcheck disable=SC2086
    "$TOOLS/decrypt_all" home/.ssh/id_ed25519 $files >got || _fail "after the kills: $(grep ERROR got | head -3)"
    cmp -s got expected || _fail "after the kills: plaintexts differ"
    run "$M3AGE" rekey
    assert_status 0
    assert_contains out "0 failed"
    assert_no_temp secrets
    [ -z "$(ls -A secrets | grep -v '\.age$')" ] || _fail "left in secrets/: $(ls -A secrets | grep -v '\.age$' | head -3)"
    run "$M3AGE" rekey --dry-run
    [ "$(grep -c ': up to date$' out)" -eq "$N" ] || _fail "not all up to date after the final rekey: $(grep -v 'up to date' out | head -3)"
    local host=h2
    grep -q 'hosts = \[ h1 \]' secrets.nix && host=h1
    # shellcheck disable=SC2086
    "$TOOLS/decrypt_all" "$host" $files >got || _fail "the registry's host cannot open: $(grep ERROR got | head -3)"
    cmp -s got expected || _fail "plaintexts differ for $host"
}

run_tests
