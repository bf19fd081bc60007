#!/bin/bash
# bench/run.sh: run every benchmark script bench/bench_*.sh (make bench).
# Each prints its own figures and the ratios against the peer it measures in the same run.
# BENCH_ONLY=regex limits which scripts run; BENCH_QUICK=1 shrinks the inputs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
export BUILD
rc=0
for b in "$here"/bench_*.sh; do
    [ -f "$b" ] || continue
    n=$(basename "$b" .sh)
    [ -n "${BENCH_ONLY:-}" ] && ! echo "$n" | grep -qE "$BENCH_ONLY" && continue
    echo "=== $n"
    bash "$b" || { echo "$n: FAILED"; rc=1; }
    echo
done
exit $rc
