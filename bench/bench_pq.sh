#!/bin/bash
# bench_pq.sh: post-quantum against X25519 in the same run (issue 22 point 5), as CPU time
# (user + sys, rusage of the whole command, build/bench/cputime's median):
#   - `m3age decrypt` of a 1 KiB file for a mlkem768x25519 identity against an X25519 one
#     (target: at most 1.3 times);
#   - `m3age rekey --force` of 500 secrets of 200 bytes, each to 8 recipients, all age1pq1
#     against all age1 (target: at most 2 times).
# BENCH_QUICK=1: 100 secrets and fewer runs.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
M3AGE=$BUILD/m3age
CPUTIME=$BUILD/bench/cputime
N=500 RUNS=200 RKRUNS=3
[ "${BENCH_QUICK:-0}" = 1 ] && N=100 RUNS=50 RKRUNS=1
[ -x "$CPUTIME" ] || { echo "bench_pq: build first (make bench)"; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/m3bench-pq.XXXXXX")
trap '[ -n "${BENCH_KEEP:-}" ] || rm -rf "$work"' EXIT
cd "$work"
unset RULES

# median MS: the first figure cputime prints
median() { "$CPUTIME" "$@" | awk '{print $1}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

"$M3AGE" keygen -o x.txt 2>/dev/null
"$M3AGE" keygen --pq -o pq.txt 2>/dev/null
head -c 1024 /dev/urandom >1k
"$M3AGE" encrypt -r "$("$M3AGE" keygen -y x.txt)" -o x.age 1k
"$M3AGE" encrypt -r "$("$M3AGE" keygen -y pq.txt)" -o pq.age 1k
dx=$(median "$RUNS" "$M3AGE" decrypt -i x.txt -o /dev/null x.age)
dp=$(median "$RUNS" "$M3AGE" decrypt -i pq.txt -o /dev/null pq.age)
printf 'decrypt 1 KiB, whole command (CPU, median of %d): X25519 %s ms, mlkem768x25519 %s ms: %sx (target <= 1.3x)\n' \
    "$RUNS" "$dx" "$dp" "$(ratio "$dp" "$dx")"

# repo KIND: a registry of N entries for the user key and 7 other keys of KIND, in KIND/
repo() {
    local kind=$1 flag= i
    [ "$kind" = pq ] && flag=--pq
    mkdir -p "$kind" && cd "$kind"
    cp "../$kind.txt" user.txt
    {
        echo "let"
        echo "  user = \"$("$M3AGE" keygen -y user.txt)\";"
        for i in 1 2 3 4 5 6 7; do
            "$M3AGE" keygen $flag -o "k$i.txt" 2>/dev/null
            echo "  k$i = \"$("$M3AGE" keygen -y "k$i.txt")\";"
        done
        echo "  all = [ user k1 k2 k3 k4 k5 k6 k7 ];"
        echo "in"
        echo "{"
        for i in $(seq 1 "$N"); do echo "  \"s$i.age\".publicKeys = all;"; done
        echo "}"
    } >secrets.nix
    head -c 200 /dev/urandom >plain
    for i in $(seq 1 "$N"); do "$M3AGE" encrypt -r "$("$M3AGE" keygen -y user.txt)" -o "s$i.age" plain; done
    "$M3AGE" rekey -i user.txt >/dev/null
    cd ..
}
repo x
repo pq
rx=$(cd x && median "$RKRUNS" "$M3AGE" rekey --force -i user.txt)
rp=$(cd pq && median "$RKRUNS" "$M3AGE" rekey --force -i user.txt)
printf 'rekey --force of %d secrets to 8 recipients (CPU, median of %d): X25519 %s ms, mlkem768x25519 %s ms: %sx (target <= 2x)\n' \
    "$N" "$RKRUNS" "$rx" "$rp" "$(ratio "$rp" "$rx")"
