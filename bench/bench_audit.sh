#!/bin/bash
# bench_audit.sh: m3age audit of 1,000 secrets x 10 recipients (7 hosts with ssh-ed25519
# keys, 2 users with ssh-ed25519 keys, 1 with an X25519 key) used by 7 hosts' modules:
# headers only with no identity (target <= 100 ms), and every MAC and payload verified with
# an identity (target <= 1 s). The repository is generated with m3age itself.
# BENCH_QUICK=1: 100 secrets.
set -eu
: "${BUILD:=$(cd "$(dirname "$0")/.." && pwd)/build}"
M3AGE="$BUILD/m3age"
N=1000
[ "${BENCH_QUICK:-0}" = 1 ] && N=100
RUNS=${BENCH_RUNS:-7}
dir=$(mktemp -d "${TMPDIR:-/tmp}/m3bench-audit.XXXXXX")
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT
cd "$dir"

hosts="m3-ares m3-kratos m3-daedalus m3-atlas m3-helios m3-hermes m3-aether"
mkdir -p keys secrets
for k in $hosts m3tam3re alice; do
    ssh-keygen -q -t ed25519 -N '' -C "$k" -f "keys/$k" </dev/null >/dev/null
done
"$M3AGE" keygen -o keys/bob.txt 2>/dev/null
"$M3AGE" keygen -y keys/bob.txt >keys/bob.pub
: >keys/all
{
    echo "let"
    for k in $hosts m3tam3re alice; do
        echo "  $k = \"$(cut -d' ' -f1,2 "keys/$k.pub")\";"
        cut -d' ' -f1,2 "keys/$k.pub" >>keys/all
    done
    echo "  bob = \"$(cat keys/bob.pub)\";"
    cat keys/bob.pub >>keys/all
    echo "  everyone = [ $hosts m3tam3re alice bob ];"
    echo "in"
    echo "{"
    for i in $(seq -f '%04g' 1 "$N"); do echo "  \"secrets/s$i.age\".publicKeys = everyone;"; done
    echo "}"
} >secrets.nix
h=0
for host in $hosts; do
    mkdir -p "hosts/$host"
    {
        echo "{ ... }:"
        echo "{"
        echo "  networking.hostName = \"$host\";"
        echo "  age.secrets = {"
        for i in $(seq -f '%04g' 1 "$N"); do
            [ $((10#$i % 7)) -eq $h ] && echo "    s$i.file = ../../secrets/s$i.age;"
        done
        echo "  };"
        echo "}"
    } >"hosts/$host/default.nix"
    h=$((h + 1))
done
start=$(date +%s%N)
if [ -x "$BUILD/bench/audit_gen" ]; then
    "$BUILD/bench/audit_gen" keys/all "$N" secrets # libage in one process
    how="libage (build/bench/audit_gen)"
else
    seq -f '%04g' 1 "$N" | xargs -P 2 -I{} sh -c \
        'head -c 150 /dev/urandom | "$0" encrypt -R keys/all -o secrets/s{}.age' "$M3AGE"
    how="m3age encrypt"
fi
gen_ms=$((($(date +%s%N) - start) / 1000000))
echo "generated $N secrets x 10 recipients over 7 hosts with $how in $gen_ms ms"

# run_stats CMD...: median wall and median CPU (user + sys) time in microseconds of RUNS
# runs; the machine may be shared, so CPU time is shown beside wall time.
run_stats() {
    local w=() c=() t TIMEFORMAT='%R %U %S'
    for _ in $(seq "$RUNS"); do
        t=$({ time "$@" >/dev/null 2>&1; } 2>&1 | tail -1)
        w+=($(awk -v a="$t" 'BEGIN { split(a, f, " "); printf "%d", f[1] * 1e6 }'))
        c+=($(awk -v a="$t" 'BEGIN { split(a, f, " "); printf "%d", (f[2] + f[3]) * 1e6 }'))
    done
    echo "$(printf '%s\n' "${w[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")" \
        "$(printf '%s\n' "${c[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")"
}
fmt() { awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'; }
verdict() { [ "$1" -le "$2" ] && echo "ok" || echo "MISSED"; }
report() { # report LABEL TARGET_US WALL CPU
    echo "$1 $(fmt "$3") wall, $(fmt "$4") cpu (median of $RUNS)" \
        "(target <= $(fmt "$2"): wall $(verdict "$3" "$2"), cpu $(verdict "$4" "$2"))"
}

"$M3AGE" audit >out.txt || { tail -5 out.txt; exit 1; }
tail -1 out.txt
"$M3AGE" audit -i keys/m3tam3re >out.txt || { tail -5 out.txt; exit 1; }
grep -q "^0 errors, 0 warnings, 0 notes ($N secrets, 7 hosts)" out.txt ||
    { echo "bench_audit: the audit with an identity found something"; tail -3 out.txt; exit 1; }
read -r w0 c0 <<<"$(run_stats "$M3AGE" audit)"
read -r w1 c1 <<<"$(run_stats "$M3AGE" audit -i keys/m3tam3re)"
read -r wb cb <<<"$(run_stats "$M3AGE" version)"
report "audit of $N secrets x 10 recipients over 7 hosts, no identity:  " 100000 "$w0" "$c0"
report "audit of $N secrets x 10 recipients over 7 hosts, with identity:" 1000000 "$w1" "$c1"
echo "process start alone (m3age version): $(fmt "$wb") wall, $(fmt "$cb") cpu (included above)"
read -r l1 _ </proc/loadavg
echo "load average: $l1 on $(nproc) cores; the files are read on $(nproc) threads"
if awk -v l="$l1" -v c="$(nproc)" 'BEGIN { exit !(l > c / 2) }'; then
    echo "note: the machine is loaded: other work inflates the wall figures; the cpu ones are" \
        "the reliable ones"
fi
