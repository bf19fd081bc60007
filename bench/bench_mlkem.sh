#!/bin/bash
# bench_mlkem.sh: ML-KEM-768 KeyGen, Encaps and Decaps beside X25519 (issue 22 point 5:
# each at most 100 us on one core), then the 1,000,000-test accumulated known answer (a few
# minutes; skipped with BENCH_QUICK=1, or run alone with `make mlkem-million`).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
BIN="$BUILD/bench/mlkem"
[ -x "$BIN" ] || { echo "bench_mlkem: build first (make bench)"; exit 1; }
if [ -n "${BENCH_QUICK:-}" ]; then
    "$BIN" --quick
    exit $?
fi
"$BIN" || rc=1
"$BIN" --million || rc=1
exit "${rc:-0}"
