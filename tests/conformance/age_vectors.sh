#!/bin/bash
# tests/conformance/age_vectors.sh: the C2SP age test vectors ($TESTKIT/age, see its README)
# run through the command line, one test per vector and mode, judged from the outside:
#
#   success            exit 0 and the output's SHA-256 equals `payload`
#   payload failure    exit 1 and the output released so far hashes to `payload`
#   header/HMAC/no match   exit 1 and no output at all
#   armor failure      exit 1
#
# and, for every failure, the user-visible contract of issue 2 point 5: exactly one
# "m3age: error:" line on stderr naming the input (hint lines allowed), and with -o FILE no
# file left behind. The post-quantum vectors (hybrid_*, armor_hybrid) are judged the same way.
#
# Each vector (one test) runs twice: as `m3age decrypt -i ID -o OUT FILE` (native, -o) and as
# `m3age -d -i ID FILE > OUT` (age compatibility mode, stdout). Passphrases go through
# M3AGE_PASSPHRASE. CONFORMANCE_AGE_BIN=/usr/bin/age runs the age-mode half against another
# age implementation (through tests/tools/ptyrun for passphrases) to check this judge itself.
. "$(dirname "$0")/../lib.sh"

VECTORS="$TESTKIT/age"
AGE_BIN="${CONFORMANCE_AGE_BIN:-$M3AGE}"
# An identity that matches nothing in the vectors, for the cases that give none, so that the
# header is still read (a run with no identity at all may stop before reading the file).
UNRELATED_ID="AGE-SECRET-KEY-1XG2S67V5LLKWKWAA58DLQF7RY0R8ZZPEPVE2JYMA92S9S9RSWCGSK4SR3P"

# The vectors are read once, in this shell (each process costs milliseconds here, and there
# are more than a hundred vectors): the expectations by vector name, the age file (inflated)
# into $CACHE/NAME.age.
declare -A V_OK V_EXPECT V_PAYLOAD V_PASS V_IDS

# unpack NAME: reads the vector's header (up to the first empty line) and writes its body.
unpack() {
    local f="$VECTORS/$1" line n=0 comp= ids=
    V_PASS[$1]=
    while IFS= read -r line; do
        n=$((n + ${#line} + 1))
        [ -n "$line" ] || break
        case $line in
        'expect: '*) V_EXPECT[$1]=${line#expect: } ;;
        'payload: '*) V_PAYLOAD[$1]=${line#payload: } ;;
        'passphrase: '*) [ -n "${V_PASS[$1]}" ] || V_PASS[$1]=${line#passphrase: } ;;
        'compressed: '*) comp=${line#compressed: } ;;
        'identity: '*)
            ids+=${line#identity: }$'\n'
            ;;
        esac
    done <"$f"
    if [ "$comp" = zlib ]; then
        tail -c +$((n + 1)) "$f" | "$TOOLS/zinflate" >"$CACHE/$1.age" || return 1
    else
        tail -c +$((n + 1)) "$f" >"$CACHE/$1.age"
    fi
    V_IDS[$1]=$ids V_OK[$1]=1
}

# prepare NAME: ./NAME.age and ./id.txt in the test's folder; sets expect, payload, pass.
prepare() {
    [ -n "${V_OK[$1]:-}" ] || _fail "vector $1 could not be unpacked"
    expect=${V_EXPECT[$1]:-} payload=${V_PAYLOAD[$1]:-} pass=${V_PASS[$1]}
    ln -s "$CACHE/$1.age" "$1.age"
    printf '%s' "${V_IDS[$1]}" >id.txt
    if [ ! -s id.txt ] && [ -z "$pass" ]; then
        echo "$UNRELATED_ID" >id.txt
    fi
    return 0
}

# judge NAME OUTFILE: checks $status, OUTFILE (output; absent counts as empty) and ./err.
judge() {
    local name=$1 outf=$2 sum
    if [ -f "$outf" ]; then
        sum=$(sha256sum <"$outf")
        sum=${sum%% *}
    else
        sum=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 # SHA-256 of nothing
    fi
    case $expect in
    success)
        [ "$status" -eq 0 ] || _fail "expected success, exit status $status; stderr: $(head -c 400 err)"
        [ "$sum" = "$payload" ] || _fail "output sha256 $sum, expected $payload"
        return 0
        ;;
    "payload failure")
        [ "$sum" = "$payload" ] || _fail "released output sha256 $sum, expected $payload"
        ;;
    "header failure" | "HMAC failure" | "no match")
        [ ! -s "$outf" ] || _fail "$expect released $(wc -c <"$outf") bytes of output"
        ;;
    "armor failure") ;;
    *) _fail "unknown expectation '$expect'" ;;
    esac
    [ "$status" -eq 1 ] || _fail "$expect: exit status $status, expected 1; stderr: $(head -c 400 err)"
}

# errors_named NAME: one error line on stderr that names the input, nothing but hints besides.
errors_named() {
    local line e=0 named=0 stray=0 re_err='^[^:]*: error: ' re_msg='^[^:]*: (error|hint): '
    while IFS= read -r line || [ -n "$line" ]; do
        if [[ $line =~ $re_err ]]; then
            e=$((e + 1))
            [[ $line != *"$1.age"* ]] || named=1
        elif [ -n "$line" ] && ! [[ $line =~ $re_msg ]]; then
            stray=1
        fi
    done <err
    [ "$e" -eq 1 ] || _fail "expected exactly one error line on stderr, got $e: $(head -c 400 err)"
    [ "$named" = 1 ] || _fail "error does not name the input: $(head -3 err)"
    [ "$stray" = 0 ] || _fail "stray stderr lines: $(head -c 400 err)"
}

check_native() {
    local name=$1
    prepare "$name"
    local args=(-o out.bin)
    [ -s id.txt ] && args+=(-i id.txt)
    set +e
    if [ -n "$pass" ]; then
        M3AGE_PASSPHRASE="$pass" "$M3AGE" decrypt "${args[@]}" "$name.age" >stdout 2>err </dev/null
    else
        "$M3AGE" decrypt "${args[@]}" "$name.age" >stdout 2>err </dev/null
    fi
    status=$?
    set -e
    assert_empty stdout
    if [ "$status" -ne 0 ]; then
        # a failed run leaves no -o file (the released prefix of a payload failure included)
        assert_absent out.bin
        assert_no_temp .
        errors_named "$name"
    fi
    if [ "$expect" = "payload failure" ]; then
        # judged on the streamed prefix in age mode; here only the status and files count
        [ "$status" -eq 1 ] || _fail "payload failure: exit status $status, expected 1"
        return 0
    fi
    judge "$name" out.bin
}

check_agemode() {
    local name=$1
    [ -e "$name.age" ] || prepare "$name"
    local args=(-d)
    [ -s id.txt ] && args+=(-i id.txt)
    set +e
    if [ -n "$pass" ] && [ "$AGE_BIN" != "$M3AGE" ]; then
        # another age reads passphrases from the terminal only
        "$TOOLS/ptyrun" -q -o out.bin -e 'passphrase' -s "$pass" -- "$AGE_BIN" "${args[@]}" "$name.age" >err 2>&1
    elif [ -n "$pass" ]; then
        M3AGE_PASSPHRASE="$pass" "$AGE_BIN" "${args[@]}" "$name.age" >out.bin 2>err </dev/null
    else
        "$AGE_BIN" "${args[@]}" "$name.age" >out.bin 2>err </dev/null
    fi
    status=$?
    set -e
    judge "$name" out.bin
}

if [ -d "$VECTORS" ]; then
    CACHE=$(mktemp -d "${TMPDIR:-/tmp}/m3conf.XXXXXX")
    trap 'rm -rf "$CACHE"' EXIT
    for f in "$VECTORS"/*; do
        n=${f##*/}
        [ "$n" = README.md ] && continue
        case $n in *[!a-z0-9_]*) continue ;; esac
        unpack "$n" || echo "cannot unpack vector $n" >&2
        if [ "$AGE_BIN" != "$M3AGE" ]; then
            eval "test_$n() { check_agemode $n; }"
        else
            # both modes in one test (each test costs a folder and a subshell)
            # (check_agemode's redirections start out.bin and err anew)
            eval "test_$n() { check_native $n; check_agemode $n; }"
        fi
    done
else
    test_vectors_present() { skip "no conformance vectors in $VECTORS"; }
fi

run_tests
