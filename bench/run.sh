#!/bin/bash
# bench/run.sh: run every benchmark script bench/bench_*.sh (make bench).
# Each prints its own figures and the ratios against the peer it measures in the same run.
# BENCH_ONLY=regex limits which scripts run; BENCH_QUICK=1 shrinks the inputs.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
export BUILD
rc=0
# Wall-clock figures on a machine others use are noise. As root, the benchmarks run at a
# real-time priority (chrt -f 10: they and every command they time, m3age and its peers
# alike, run before ordinary processes; the kernel still keeps 5% of each second for the
# rest). BENCH_RT=0 runs them at normal priority.
prio=()
if [ "${BENCH_RT:-1}" = 1 ] && chrt -f 10 true 2>/dev/null; then
    prio=(chrt -f 10)
    echo "bench: real-time priority (chrt -f 10) for steady wall-clock figures; BENCH_RT=0 turns it off"
fi
for b in "$here"/bench_*.sh; do
    [ -f "$b" ] || continue
    n=$(basename "$b" .sh)
    [ -n "${BENCH_ONLY:-}" ] && ! echo "$n" | grep -qE "$BENCH_ONLY" && continue
    echo "=== $n"
    "${prio[@]}" bash "$b" || { echo "$n: FAILED"; rc=1; }
    echo
done
exit $rc
