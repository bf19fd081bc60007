#!/bin/bash
# tests/run.sh: run every test (unit, conformance, cli, interop) and print one total.
# BUILD names the build folder. TEST_ONLY=PATTERN limits which test files run; TEST_JOBS=N
# runs N shell test files at a time.
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
export BUILD
pass=0 fail=0 skip=0 failed_files=""

tally() { # tally FILE LABEL: add the counts of a "N passed, N failed, N skipped" line
    local line p f s
    line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$1" | tail -1)
    if [ -z "$line" ]; then
        fail=$((fail + 1)); failed_files="$failed_files $2"; return
    fi
    p=$(echo "$line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+')
    s=$(echo "$line" | grep -oE '[0-9]+ skipped' | grep -oE '[0-9]+')
    pass=$((pass + p)); fail=$((fail + f)); skip=$((skip + ${s:-0}))
    [ "$f" -eq 0 ] || failed_files="$failed_files $2"
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

for src in "$here"/unit/test_*.c; do
    [ -f "$src" ] || continue
    n=$(basename "$src" .c)
    t="$BUILD/tests/$n"
    [ -n "${TEST_ONLY:-}" ] && ! echo "$n" | grep -qE "$TEST_ONLY" && continue
    "$t" --jobs 2 >"$log" 2>&1
    rc=$?
    syn=$(grep 'Synthesis' "$log" | tail -1)
    tested=$(echo "$syn" | sed -nE 's/.*Tested: ([0-9]+).*/\1/p')
    passing=$(echo "$syn" | sed -nE 's/.*Passing: ([0-9]+).*/\1/p')
    tested=${tested:-0} passing=${passing:-0}
    if [ "$rc" -ne 0 ] || [ -z "$syn" ]; then
        cat "$log"
        fail=$((fail + tested - passing)); [ "$tested" -eq "$passing" ] && fail=$((fail + 1))
        pass=$((pass + passing)); failed_files="$failed_files $n"
    else
        pass=$((pass + passing))
    fi
    printf 'unit %-32s %s\n' "$n" "$(echo "$syn" | sed 's/.*Synthesis: //')"
done

# run_file TEST LOG: run one shell test file, its output in LOG, and its wall time and the
# CPU time of everything it ran (user + system, in seconds) in LOG.time.
run_file() {
    local t0=$EPOCHREALTIME
    (
        bash "$1" >"$2" 2>&1
        local t1=$EPOCHREALTIME
        times >"$2.time" # (a pipe would run `times` in a child, which has no children)
        awk -v t0="$t0" -v t1="$t1" 'NR == 2 { split($1, u, "m"); split($2, s, "m")
            printf "%.0f s, %.0f s CPU\n", t1 - t0, u[1] * 60 + u[2] + s[1] * 60 + s[2] }' \
            "$2.time" >"$2.t" && mv "$2.t" "$2.time"
    )
}
# report LOG NAME: print what is not `ok`, the file's closing line with its times added.
report() {
    local tm
    tm=$(cat "$1.time" 2>/dev/null)
    grep -vE '^ok ' "$1" | sed -E "s/^([^ ]+: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped)\$/\1 (${tm:-? s})/"
    tally "$1" "$2"
}

# Shell test files, TEST_JOBS at a time (default 1). Each file works in its own temporary
# folders, so files can run side by side; results are reported in the files' order.
jobs=${TEST_JOBS:-1}
logs=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$logs"' EXIT
names=() paths=()
for t in "$here"/conformance/*.sh "$here"/cli/*.sh "$here"/interop/*.sh; do
    [ -f "$t" ] || continue
    n=$(basename "$(dirname "$t")")/$(basename "$t" .sh)
    [ -n "${TEST_ONLY:-}" ] && ! echo "$n" | grep -qE "$TEST_ONLY" && continue
    names+=("$n") paths+=("$t")
done
# Run side by side, the longest files start first, so that no long file is left running
# alone at the end. The longest, by wall time under make valgrind, make asan and make check
# (tests/run.sh prints each file's times); the others follow in the files' order.
first="cli/bad cli/rekey_crash cli/audit cli/registry_unsupported cli/gitsetup cli/edit_races
    conformance/age_vectors cli/registry_oracle interop/age_scrypt cli/hosts cli/rekey_user
    cli/edit cli/rekey interop/ssh_keys cli/completion interop/age_x25519 cli/age_errors"
order=()
if [ "$jobs" -gt 1 ]; then
    for f in $first; do
        for i in "${!names[@]}"; do [ "${names[$i]}" = "$f" ] && order+=("$i"); done
    done
fi
for i in "${!names[@]}"; do
    case " ${order[*]} " in *" $i "*) ;; *) order+=("$i") ;; esac
done
running=0
for i in "${order[@]}"; do
    if [ "$jobs" -le 1 ]; then
        run_file "${paths[$i]}" "$logs/$i"
        report "$logs/$i" "${names[$i]}"
        continue
    fi
    run_file "${paths[$i]}" "$logs/$i" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n
        running=$((running - 1))
    fi
done
if [ "$jobs" -gt 1 ]; then
    wait
    for i in "${!names[@]}"; do
        report "$logs/$i" "${names[$i]}"
    done
fi

echo
[ -n "$failed_files" ] && echo "failing:$failed_files"
echo "total: $pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ]
