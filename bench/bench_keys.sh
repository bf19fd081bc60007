#!/bin/bash
# bench_keys.sh: the cost of SSH keys (issue 3 targets).
#  1. Opening a 1 KiB file with an ssh-ed25519 identity vs an X25519 one, whole commands
#     (m3age decrypt; Go age in the same run for reference). Target: ratio <= 1.2x.
#  2. Loading an unencrypted OpenSSH key in-process (bench/keys_load). Target: <= 100 us.
# Figures in-process are given as wall-clock and CPU time; on a shared machine the CPU time
# is the better estimate of the unloaded cost.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
M3AGE="$BUILD/m3age"
LOAD="$BUILD/bench/keys_load"
runs=40
iter=2000
[ -n "${BENCH_QUICK:-}" ] && runs=10 iter=300

for t in hyperfine ssh-keygen age age-keygen; do
    command -v $t >/dev/null || { echo "bench_keys: $t not installed, skipped"; exit 0; }
done
[ -x "$LOAD" ] && [ -x "$M3AGE" ] || { echo "bench_keys: build first (make bench)"; exit 1; }

dir=$(mktemp -d "${TMPDIR:-/tmp}/m3bench.XXXXXX")
trap 'rm -rf "$dir"' EXIT
cd "$dir" || exit 1
ssh-keygen -q -t ed25519 -N '' -f ed25519
ssh-keygen -q -t rsa -b 3072 -N '' -f rsa3072
age-keygen -o x.key 2>/dev/null
head -c 1024 /dev/urandom >plain
age -R ed25519.pub -o ed.age plain
age -r "$(age-keygen -y x.key)" -o x.age plain

mean_ms() { # mean_ms CSV INDEX: hyperfine's mean for the INDEXth command, in ms
    awk -F, -v row="$(($2 + 2))" 'NR == row { printf "%.4f", $2 * 1000 }' "$1"
}

hyperfine -N --style none --runs "$runs" --warmup 5 --export-csv open.csv \
    "$M3AGE decrypt -i x.key -o /dev/null x.age" \
    "$M3AGE decrypt -i ed25519 -o /dev/null ed.age" \
    "age -d -i x.key -o /dev/null x.age" \
    "age -d -i ed25519 -o /dev/null ed.age" >/dev/null 2>&1 || {
    echo "bench_keys: hyperfine failed"
    exit 1
}
mx=$(mean_ms open.csv 0) me=$(mean_ms open.csv 1) gx=$(mean_ms open.csv 2) ge=$(mean_ms open.csv 3)
awk -v mx="$mx" -v me="$me" -v gx="$gx" -v ge="$ge" 'BEGIN {
    printf "open 1 KiB, m3age: X25519 %.2f ms, ssh-ed25519 %.2f ms, ratio %.2fx (target <= 1.2x)\n", mx, me, me / mx
    printf "open 1 KiB, Go age: X25519 %.2f ms, ssh-ed25519 %.2f ms, ratio %.2fx; m3age ssh-ed25519 vs Go age %.2fx faster\n", gx, ge, ge / gx, ge / me
}'

read -r wx cx < <("$LOAD" unwrap x.age x.key "$iter")
read -r we ce < <("$LOAD" unwrap ed.age ed25519 "$iter")
awk -v wx="$wx" -v cx="$cx" -v we="$we" -v ce="$ce" 'BEGIN {
    printf "decrypt 1 KiB in-process (after key load): X25519 %.1f us (cpu %.1f), ssh-ed25519 %.1f us (cpu %.1f), cpu ratio %.2fx\n", wx, cx, we, ce, ce / cx
}'

read -r wl cl < <("$LOAD" load ed25519 "$iter")
read -r wr cr < <("$LOAD" load rsa3072 "$((iter / 10))")
read -r wa ca < <("$LOAD" load x.key "$iter")
awk -v wl="$wl" -v cl="$cl" -v wr="$wr" -v cr="$cr" -v wa="$wa" -v ca="$ca" 'BEGIN {
    printf "load OpenSSH ed25519 key: %.1f us (cpu %.1f us) (target <= 100 us)%s\n", wl, cl, (cl <= 100 ? "" : "  ABOVE TARGET")
    printf "load OpenSSH rsa3072 key: %.1f us (cpu %.1f us); age key file: %.1f us (cpu %.1f us)\n", wr, cr, wa, ca
}'
