#!/bin/bash
# bench_rekey.sh: m3age rekey on 500 secrets of 200 bytes, each to 8 ssh-ed25519 recipients,
# against the agenix loop (two nix-instantiate calls, age -d, age -e, mv per file) and a
# plain `age -d | age -e && mv` loop, measured in the same run on the same files, and
# against the floor (X25519 operations + fsync of file and folder) computed here.
# BENCH_QUICK=1: 100 secrets. The peers run on a sample of files, extrapolated (said so).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
M3AGE=$BUILD/m3age
N=500
[ "${BENCH_QUICK:-0}" = 1 ] && N=100
SAMPLE_AGENIX=${SAMPLE_AGENIX:-20}
SAMPLE_AGE=${SAMPLE_AGE:-50}
RCPTS=8

for t in age ssh-keygen; do
    command -v $t >/dev/null || { echo "bench_rekey: $t not installed, skipped"; exit 0; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/m3bench.XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work"
mkdir -p home/.ssh secrets keys
export HOME=$work/home
unset RULES

ms() { echo $(($(date +%s%N) / 1000)); } # microseconds
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

ssh-keygen -q -t ed25519 -N '' -C user -f home/.ssh/id_ed25519
for i in $(seq 2 $RCPTS); do ssh-keygen -q -t ed25519 -N '' -C "host$i" -f "keys/host$i"; done
{
    echo "let"
    echo "  user = \"$(cut -d' ' -f1,2 home/.ssh/id_ed25519.pub)\";"
    for i in $(seq 2 $RCPTS); do echo "  host$i = \"$(cut -d' ' -f1,2 keys/host$i.pub)\";"; done
    printf '  all = [ user'
    for i in $(seq 2 $RCPTS); do printf ' host%s' "$i"; done
    printf ' ];\nin\n{\n'
    for i in $(seq 1 $N); do printf '  "secrets/s%04d.age".publicKeys = all;\n' "$i"; done
    echo "}"
} >secrets.nix
user=$(cat home/.ssh/id_ed25519.pub)
head -c 150 /dev/urandom | base64 -w0 | head -c 200 >plain200
for i in $(seq 1 $N); do "$M3AGE" encrypt -r "$user" -o "$(printf secrets/s%04d.age "$i")" plain200; done
"$M3AGE" rekey >/dev/null # now every file has its 8 recipients
cores=$(nproc)

# m3age rekey --force: best of 3.
best=0
for r in 1 2 3; do
    t0=$(ms)
    "$M3AGE" rekey --force >/dev/null
    t=$(($(ms) - t0))
    { [ "$best" -eq 0 ] || [ "$t" -lt "$best" ]; } && best=$t
done
m3_per=$(awk -v t="$best" -v n="$N" 'BEGIN { printf "%.3f", t / 1000 / n }')

# The agenix loop on a sample.
ids=""
rs=""
for k in home/.ssh/id_ed25519.pub keys/host*.pub; do rs="$rs -r '$(cut -d' ' -f1,2 "$k")'"; done
nixi() { NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict --json "$@"; }
agenix_per=""
if command -v nix-instantiate >/dev/null; then
    t0=$(ms)
    for i in $(seq 1 "$SAMPLE_AGENIX"); do
        f=$(printf secrets/s%04d.age "$i")
        keys=$(nixi -E "(let rules = import ./secrets.nix; in builtins.concatStringsSep \" \" (map (x: \"-r '\${x}'\") rules.\"$f\".publicKeys))" 2>/dev/null)
        armor=$(nixi -E "(let rules = import ./secrets.nix; in (builtins.hasAttr \"armor\" rules.\"$f\" && rules.\"$f\".armor))" 2>/dev/null)
        [ -n "$keys" ] && [ -n "$armor" ] || { echo "bench_rekey: nix-instantiate failed"; exit 1; }
        tmp=$(mktemp -d)
        age -d -i home/.ssh/id_ed25519 -o "$tmp/plain" "$f"
        eval "age $rs -o '$f.new' '$tmp/plain'"
        mv -f "$f.new" "$f"
        rm -rf "$tmp"
    done
    agenix_per=$(awk -v t="$(($(ms) - t0))" -v n="$SAMPLE_AGENIX" 'BEGIN { printf "%.3f", t / 1000 / n }')
fi

# A plain age loop on a sample.
t0=$(ms)
for i in $(seq 1 "$SAMPLE_AGE"); do
    f=$(printf secrets/s%04d.age "$i")
    eval "age -d -i home/.ssh/id_ed25519 '$f' | age $rs -o '$f.new' && mv '$f.new' '$f'"
done
age_per=$(awk -v t="$(($(ms) - t0))" -v n="$SAMPLE_AGE" 'BEGIN { printf "%.3f", t / 1000 / n }')

read -r floor1 xms fms < <("$BUILD/bench/rekey_floor" "$RCPTS" 200 "$work/secrets" 200)
floor_per=$(awk -v f="$floor1" -v c="$cores" 'BEGIN { printf "%.3f", f / c }')

# Lazy rekey of the up-to-date repository: best of 5.
"$M3AGE" rekey >/dev/null
lazy=0
for r in 1 2 3 4 5; do
    t0=$(ms)
    "$M3AGE" rekey >/dev/null
    t=$(($(ms) - t0))
    { [ "$lazy" -eq 0 ] || [ "$t" -lt "$lazy" ]; } && lazy=$t
done

echo "repository: $N secrets of 200 bytes, $RCPTS ssh-ed25519 recipients each; $cores cores"
echo "m3age rekey --force: $(awk -v t="$best" 'BEGIN { printf "%.0f", t / 1000 }') ms total, $m3_per ms per file (best of 3)"
if [ -n "$agenix_per" ]; then
    echo "agenix loop: $agenix_per ms per file (timed on $SAMPLE_AGENIX files, extrapolated: $(awk -v p="$agenix_per" -v n="$N" 'BEGIN { printf "%.1f", p * n / 1000 }') s for $N)"
    echo "  ratio $(ratio "$agenix_per" "$m3_per")x (target >= 60x)"
else
    echo "agenix loop: nix-instantiate not installed, not measured"
fi
echo "plain age loop: $age_per ms per file (timed on $SAMPLE_AGE files, extrapolated: $(awk -v p="$age_per" -v n="$N" 'BEGIN { printf "%.1f", p * n / 1000 }') s for $N)"
echo "  ratio $(ratio "$age_per" "$m3_per")x (target >= 8x)"
echo "floor: $floor1 ms per file on one core ($xms ms of X25519, $fms ms of fsync of file and folder), $floor_per ms per file on $cores cores"
echo "  m3age / floor: $(ratio "$m3_per" "$floor_per")x (target <= 1.5x)"
echo "lazy rekey of the up-to-date repository: $(awk -v t="$lazy" 'BEGIN { printf "%.1f", t / 1000 }') ms (best of 5; target <= 50 ms)"
