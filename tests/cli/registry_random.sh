#!/bin/bash
# registry_random.sh: random expressions (tests/tools/nixgen.c, fixed seeds) evaluated by
# `m3age registry eval --json` and by the real nix-instantiate: the same JSON, or both
# failing. The corpus in tests/registry holds the cases that were found this way; this
# keeps looking, the same way on every run. Each test is one seed; a failure names the
# file, which `nixgen SEED COUNT DEPTH DIR` makes again.
. "$(dirname "$0")/../lib.sh"

COUNT=30 DEPTH=5
# Under make valgrind (M3AGE_WRAPPER) each m3age start costs ~0.3 s CPU: fewer cases.
[ -n "${M3AGE_WRAPPER:-}" ] && COUNT=12

nix_eval() {
    NIX_PATH= NIX_REMOTE= nix-instantiate --store dummy:// --readonly-mode --eval --strict \
        --json "$1"
}

compare_seed() {
    local seed=$1 f m n bad=0 same=0 both=0
    command -v nix-instantiate >/dev/null 2>&1 || skip "nix-instantiate not installed"
    mkdir cases
    "$TOOLS/nixgen" "$seed" "$COUNT" "$DEPTH" cases || _fail "nixgen failed"
    set +e # the commands' statuses are the data
    for f in cases/*.nix; do
        "$M3AGE" registry eval --json --rules "$f" >"$f.m3" 2>"$f.m3err"
        m=$?
        nix_eval "$f" >"$f.nix" 2>"$f.nixerr"
        n=$?
        if [ $m = 0 ] && [ $n = 0 ]; then
            if cmp -s "$f.m3" "$f.nix"; then
                same=$((same + 1))
            else
                printf '    %s: m3age %s, nix-instantiate %s\n' "$f" "$(head -c 200 "$f.m3")" \
                    "$(head -c 200 "$f.nix")" >&2
                bad=$((bad + 1))
            fi
        elif [ $m != 0 ] && [ $n != 0 ]; then
            # both fail: m3age with its one error line and status 2, nothing on stdout
            if [ $m != 2 ] || [ -s "$f.m3" ] || ! grep -q "^m3age: error: $f:" "$f.m3err"; then
                printf '    %s: m3age failed with status %s: %s\n' "$f" "$m" \
                    "$(head -c 300 "$f.m3err")" >&2
                bad=$((bad + 1))
            fi
            both=$((both + 1))
        elif [ $m != 0 ]; then
            grep -q "is not supported by m3age's evaluator" "$f.m3err" && continue
            printf '    %s: m3age failed (%s), nix-instantiate gave %s\n' "$f" \
                "$(head -c 300 "$f.m3err")" "$(head -c 200 "$f.nix")" >&2
            bad=$((bad + 1))
        else
            printf '    %s: m3age gave %s, nix-instantiate failed: %s\n' "$f" \
                "$(head -c 200 "$f.m3")" "$(grep -m1 error "$f.nixerr")" >&2
            bad=$((bad + 1))
        fi
    done
    set -e
    [ $bad = 0 ] || _fail "seed $seed: $bad of $COUNT expressions disagree with nix-instantiate"
    # A generator that made nothing but errors would compare nothing.
    [ $same -ge $((COUNT / 2)) ] || _fail "seed $seed: only $same of $COUNT evaluated ($both failed)"
}

for seed in ${SEEDS:-1 2 3 4}; do
    eval "test_random_seed_${seed}() { compare_seed $seed; }"
done

run_tests
