#!/bin/bash
# bench/bench_age.sh: m3age's age implementation against Go age and raw OpenSSL, in one run
# (issue 2, point 6). On a tmpfs (/dev/shm) file of 1 GiB (BENCH_QUICK=1: 128 MiB):
#   - encrypt and decrypt to /dev/null, m3age on one thread and on every core
#     (M3AGE_THREADS), against Go age, and against OpenSSL's raw ChaCha20-Poly1305 rate over
#     64 KiB chunks (build/bench/aead_raw, same run)
#   - armored encryption against Go age's
#   - peak RSS of m3age and Go age (GNU time)
#   - reading a 20-stanza header (build/bench/age_header)
# Each line gives the figures, the ratio and the issue's target, then "ok" or "MISSED".
# Times are the best of several runs. BENCH_TMP overrides the folder (default /dev/shm).
set -u
here=$(cd "$(dirname "$0")" && pwd)
: "${BUILD:=$here/../build}"
M3AGE="$BUILD/m3age"
if [ "${BENCH_QUICK:-0}" = 1 ]; then MIB=128 RUNS=3; else MIB=1024 RUNS=3; fi
CORES=$(nproc)
met=0 total=0 failed=0

for t in "$M3AGE" "$BUILD/bench/aead_raw" "$BUILD/bench/age_header"; do
    [ -x "$t" ] || { echo "bench_age: $t is not built" >&2; exit 1; }
done
command -v age >/dev/null || { echo "bench_age: Go age is not installed" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_age: /usr/bin/time (GNU time) is not installed" >&2; exit 1; }

dir=$(mktemp -d "${BENCH_TMP:-/dev/shm}/m3age-bench.XXXXXX") || exit 1
trap 'rm -rf "$dir"' EXIT INT TERM

# best RUNS CMD...: "WALL CPU": the shortest wall time and the shortest CPU time (user + sys,
# every thread) in seconds over RUNS runs, stdout to /dev/null; "fail" when the command fails.
# On a busy machine the CPU figure shows what the wall figure loses to other processes.
best() {
    local runs=$1 bw="" bc="" i t
    shift
    for ((i = 0; i < runs; i++)); do
        TIMEFORMAT='%3R %3U %3S'
        if ! { time "$@" >/dev/null 2>"$dir/err"; } 2>"$dir/time"; then
            printf '  %s: %s\n' "${*##*/}" "$(head -1 "$dir/err")" >>"$dir/failures"
            echo fail
            return
        fi
        t=$(tail -1 "$dir/time")
        read -r bw bc < <(awk -v t="$t" -v bw="$bw" -v bc="$bc" 'BEGIN {
            split(t, f, " "); w = f[1]; c = f[2] + f[3]
            if (bw == "" || w < bw) bw = w
            if (bc == "" || c < bc) bc = c
            print bw, bc }')
    done
    echo "$bw $bc"
}
rate() { # rate "WALL CPU": MiB/s for the file size by wall time
    [ "$1" = fail ] && { echo fail; return; }
    awk -v s="${1%% *}" -v m="$MIB" 'BEGIN { printf "%.0f", m / s }'
}
cpurate() { # cpurate "WALL CPU": MiB/s per CPU-second
    [ "$1" = fail ] && { echo fail; return; }
    awk -v s="${1##* }" -v m="$MIB" 'BEGIN { printf "%.0f", m / s }'
}
# verdict LABEL A_DESC A B_DESC B TARGET_RATIO: "LABEL: A_DESC A MiB/s, B_DESC B MiB/s,
# ratio A/B (target >= T)"
verdict() {
    local label=$1 an=$2 a=$3 bn=$4 b=$5 target=$6 r ok
    total=$((total + 1))
    if [ "$a" = fail ] || [ "$b" = fail ]; then
        failed=$((failed + 1))
        printf '%s: %s %s, %s %s: FAILED\n' "$label" "$an" "$a" "$bn" "$b"
        return
    fi
    r=$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.2f", a / b }')
    ok=$(awk -v r="$r" -v t="$target" 'BEGIN { print (r >= t) ? "ok" : "MISSED" }')
    [ "$ok" = ok ] && met=$((met + 1))
    printf '%s: %s %s MiB/s, %s %s MiB/s, ratio %sx (target >= %sx) %s\n' \
        "$label" "$an" "$a" "$bn" "$b" "$r" "$target" "$ok"
}
limit() { # limit LABEL VALUE UNIT MAX: VALUE <= MAX
    local ok
    total=$((total + 1))
    if [ -z "$2" ] || [ "$2" = fail ]; then
        failed=$((failed + 1))
        printf '%s: FAILED\n' "$1"
        return
    fi
    ok=$(awk -v v="$2" -v m="$4" 'BEGIN { print (v <= m) ? "ok" : "MISSED" }')
    [ "$ok" = ok ] && met=$((met + 1))
    printf '%s: %s %s (target <= %s %s) %s\n' "$1" "$2" "$3" "$4" "$3" "$ok"
}
rss() { # rss CMD...: peak resident set size in KiB
    if ! /usr/bin/time -f '%M' -o "$dir/rss" "$@" >/dev/null 2>"$dir/err"; then
        printf '  %s: %s\n' "${*##*/}" "$(head -1 "$dir/err")" >>"$dir/failures"
        echo fail
        return
    fi
    tail -1 "$dir/rss"
}

echo "file: $MIB MiB on $(df --output=fstype "$dir" | tail -1) ($dir), $CORES cores, best of $RUNS runs"
echo "m3age $("$M3AGE" --version 2>/dev/null | head -1), Go age $(age --version)"

"$M3AGE" keygen -o "$dir/key" 2>/dev/null || { echo "bench_age: m3age keygen failed" >&2; exit 1; }
R=$("$M3AGE" keygen -y "$dir/key")
head -c $((MIB * 1048576)) /dev/zero >"$dir/plain"
age -r "$R" -o "$dir/enc.age" "$dir/plain" || { echo "bench_age: age could not encrypt" >&2; exit 1; }

# raw AEAD ceiling, same run
raw=$("$BUILD/bench/aead_raw" "$MIB")
ossl_seal=$(echo "$raw" | awk '$1 == "openssl_seal" { print $2 }')
ossl_open=$(echo "$raw" | awk '$1 == "openssl_open" { print $2 }')
sod_seal=$(echo "$raw" | awk '$1 == "sodium_seal" { print $2 }')
rawc=$("$BUILD/bench/aead_raw" -c "$MIB")
ossl_seal_c=$(echo "$rawc" | awk '$1 == "openssl_seal" { print $2 }')
ossl_open_c=$(echo "$rawc" | awk '$1 == "openssl_open" { print $2 }')
echo "raw ChaCha20-Poly1305 over 64 KiB chunks, one thread: OpenSSL seal $ossl_seal MiB/s, open $ossl_open MiB/s; libsodium seal $sod_seal MiB/s"
# What reading the input costs: a single thread that read()s its input and then seals it
# cannot beat 1 / (1/read + 1/seal), whatever it does.
t_read=$(best $RUNS dd if="$dir/plain" of=/dev/null bs=64K)
rd_rate=$(rate "$t_read")
echo "read() of the file alone in 64 KiB blocks (dd): $rd_rate MiB/s; so one thread that reads and seals tops out at" \
    "$(awk -v r="$rd_rate" -v a="$ossl_seal" 'BEGIN { c = 1 / (1 / r + 1 / a); printf "%.0f MiB/s, %.0f%% of the raw seal rate", c, 100 * c / a }')"
echo "  per CPU-second: OpenSSL seal $ossl_seal_c MiB/s, open $ossl_open_c MiB/s"

t_enc1=$(M3AGE_THREADS=1 best $RUNS "$M3AGE" encrypt -r "$R" "$dir/plain")
t_encn=$(M3AGE_THREADS=$CORES best $RUNS "$M3AGE" encrypt -r "$R" "$dir/plain")
t_genc=$(best $RUNS age -r "$R" "$dir/plain")
t_dec1=$(M3AGE_THREADS=1 best $RUNS "$M3AGE" decrypt -i "$dir/key" "$dir/enc.age")
t_decn=$(M3AGE_THREADS=$CORES best $RUNS "$M3AGE" decrypt -i "$dir/key" "$dir/enc.age")
t_gdec=$(best $RUNS age -d -i "$dir/key" "$dir/enc.age")
t_aenc=$(best 2 "$M3AGE" encrypt -a -r "$R" "$dir/plain")
t_gaenc=$(best 2 age -a -r "$R" "$dir/plain")
enc1=$(rate "$t_enc1") encn=$(rate "$t_encn") genc=$(rate "$t_genc")
dec1=$(rate "$t_dec1") decn=$(rate "$t_decn") gdec=$(rate "$t_gdec")
aenc=$(rate "$t_aenc") gaenc=$(rate "$t_gaenc")
echo "per CPU-second (MiB/s, all threads' CPU time): m3age encrypt $(cpurate "$t_enc1") (1 thread)" \
    "$(cpurate "$t_encn") ($CORES), decrypt $(cpurate "$t_dec1") (1) $(cpurate "$t_decn") ($CORES)," \
    "armored $(cpurate "$t_aenc"); Go age encrypt $(cpurate "$t_genc"), decrypt $(cpurate "$t_gdec")," \
    "armored $(cpurate "$t_gaenc")"

verdict "encrypt, 1 thread" m3age "$enc1" "Go age" "$genc" 1.5
verdict "encrypt, $CORES threads" m3age "$encn" "Go age" "$genc" 2.5
verdict "decrypt, 1 thread" m3age "$dec1" "Go age" "$gdec" 1.5
verdict "decrypt, $CORES threads" m3age "$decn" "Go age" "$gdec" 2.5
verdict "encrypt, 1 thread vs raw AEAD" m3age "$enc1" "OpenSSL seal" "$ossl_seal" 0.85
verdict "decrypt, 1 thread vs raw AEAD" m3age "$dec1" "OpenSSL open" "$ossl_open" 0.85
verdict "armored encrypt" m3age "$aenc" "Go age" "$gaenc" 4
# on a busy machine wall time is shared with other processes; CPU time is not
echo "  (per CPU-second: m3age 1 thread / OpenSSL: encrypt" \
    "$(awk -v a="$(cpurate "$t_enc1")" -v b="$ossl_seal_c" 'BEGIN { printf "%.2f", a / b }')x," \
    "decrypt $(awk -v a="$(cpurate "$t_dec1")" -v b="$ossl_open_c" 'BEGIN { printf "%.2f", a / b }')x;" \
    "m3age 1 thread / Go age: encrypt" \
    "$(awk -v a="$(cpurate "$t_enc1")" -v b="$(cpurate "$t_genc")" 'BEGIN { printf "%.2f", a / b }')x," \
    "decrypt $(awk -v a="$(cpurate "$t_dec1")" -v b="$(cpurate "$t_gdec")" 'BEGIN { printf "%.2f", a / b }')x)"

r_enc=$(rss "$M3AGE" encrypt -r "$R" "$dir/plain")
r_dec=$(rss "$M3AGE" decrypt -i "$dir/key" "$dir/enc.age")
r_aenc=$(rss "$M3AGE" encrypt -a -r "$R" "$dir/plain")
r_enc1=$(M3AGE_THREADS=1 rss "$M3AGE" encrypt -r "$R" "$dir/plain")
g_enc=$(rss age -r "$R" "$dir/plain")
g_dec=$(rss age -d -i "$dir/key" "$dir/enc.age")
echo "peak RSS (KiB): m3age encrypt $r_enc (1 thread $r_enc1), decrypt $r_dec, armored $r_aenc; Go age encrypt $g_enc, decrypt $g_dec"
peak=$(printf '%s\n' "$r_enc" "$r_dec" "$r_aenc" "$r_enc1" | awk '$1 == "fail" { f = 1 } $1 > m { m = $1 } END { if (f) print "fail"; else printf "%.1f", m / 1024 }')
limit "m3age peak RSS" "$peak" MiB 8

hdr=$("$BUILD/bench/age_header")
hp=$(echo "$hdr" | awk '$1 == "header_parse_us" { print $2 }')
hr=$(echo "$hdr" | awk '$1 == "header_read_us" { print $2 }')
hb=$(echo "$hdr" | awk '$1 == "header_bytes" { print $2 }')
hc=$(echo "$hdr" | awk '$1 == "header_parse_cpu_us" { print $2 }')
limit "header read, 20 stanzas ($hb bytes), age_header_parse" "$hp" us 20
echo "  (CPU time per parse: $hc us; age_header_read through a read callback: $hr us)"

[ -s "$dir/failures" ] && { echo "commands that failed:"; sort -u "$dir/failures"; }
echo "bench_age: $met of $total targets met, $failed failed to run"
[ "$failed" -eq 0 ]
