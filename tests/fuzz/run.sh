#!/bin/bash
# tests/fuzz/run.sh: build the seed corpora and run every libFuzzer harness in
# $BUILD/fuzzers for FUZZ_SECONDS seconds each, FUZZ_JOBS at a time. Prints one line per
# harness (seconds, executions, corpus size) and fails when a harness finds a crash, a leak
# or a timeout (the reproducer is kept in $BUILD/fuzz-crashes/). FUZZ_ONLY=REGEX limits the
# run to the harnesses whose path matches. The corpus grown by earlier
# runs is kept in $BUILD/fuzz-corpus/ and reused.
set -u
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
: "${BUILD:?BUILD must name the fuzz build folder}" "${FUZZ_SECONDS:=10}" "${FUZZ_JOBS:=2}"
M3AGE="$BUILD/m3age"
testkit="${M3AGE_TESTKIT:-$src/tests/testkit}"
seeds="$BUILD/fuzz-seeds"
mkdir -p "$BUILD/fuzz-corpus" "$BUILD/fuzz-crashes" "$BUILD/fuzz-logs"
rm -rf "$seeds"
mkdir -p "$seeds"/{age,armor,decrypt,header,bech32,base64,recipients,identities,openssh,nix,hosts,paths}

# ---- seeds -------------------------------------------------------------------------------
export M3AGE_PASSPHRASE=fuzz M3AGE_SCRYPT_WORK_FACTOR=2
key="$here/identity.txt"
rcpt=$(sed -n 's/^# public key: //p' "$key")
other=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '' >"$work/p0"
printf 'x' >"$work/p1"
printf 'the fuzzers start from here\n' >"$work/p2"
head -c 65546 /dev/zero | tr '\0' 'a' >"$work/p3"
n=0
for p in p0 p1 p2 p3; do
    for a in "" -a; do
        n=$((n + 1))
        "$M3AGE" encrypt $a -r "$rcpt" -o "$seeds/age/x$n.age" "$work/$p"
        # Multi-chunk inputs slow every execution down: one recipient only for those.
        [ "$p" = p3 ] && continue
        "$M3AGE" encrypt $a -r "$other" -r "$rcpt" -o "$seeds/age/xx$n.age" "$work/$p"
        "$M3AGE" encrypt $a -p -o "$seeds/age/s$n.age" "$work/$p" 2>/dev/null
    done
done
if [ -d "$testkit/age" ]; then
    for f in "$testkit"/age/*; do
        [ "$(basename "$f")" = README.md ] && continue
        grep -q '^compressed:' "$f" && continue
        sed '1,/^$/d' "$f" >"$seeds/age/cctv-$(basename "$f")"
    done
fi
for f in "$src"/tests/bad/age/*.age; do
    [ -f "$f" ] && cp "$f" "$seeds/age/bad-$(basename "$f")"
done
for f in "$seeds"/age/*; do
    b=$(basename "$f")
    { printf '\0'; cat "$f"; } >"$seeds/decrypt/$b"
    if head -c 64 "$f" | grep -q -- '-----BEGIN'; then
        { printf '\0'; cat "$f"; } >"$seeds/armor/$b"
    else
        head -c 4096 "$f" >"$seeds/header/$b"
    fi
done
i=0
for s in "$rcpt" "$other" "$(echo "$rcpt" | tr a-z A-Z)" "$(grep '^AGE-' "$key")" \
    "$(grep '^AGE-' "$key" | tr A-Z a-z)" a12uel5l bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4; do
    i=$((i + 1))
    printf '%s' "$s" >"$seeds/bech32/b$i"
    printf '%s' "$s" >"$seeds/recipients/r$i"
    printf '%s\n' "$s" >"$seeds/identities/i$i"
done
printf '# hosts\n%s\n\n  %s  \n' "$rcpt" "$other" >"$seeds/recipients/file"
cp "$key" "$seeds/identities/file"
"$M3AGE" keygen -o "$seeds/identities/gen" 2>/dev/null
i=0
for s in YWdl YWdlLWVuY3J5cHRpb24 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    "$(sed -n '2s/^-> X25519 //p' "$seeds/age/x1.age")"; do
    i=$((i + 1))
    printf '%s' "$s" >"$seeds/base64/s$i"
done

# OpenSSH keys: unprotected ed25519, RSA (new format and PEM), ECDSA; a protected key (its
# KDF runs only when unlocked, which the harness never does); public key lines.
i=0
for t in ed25519 rsa ecdsa; do
    i=$((i + 1))
    bits=; [ $t = rsa ] && bits="-b 1024"
    ssh-keygen -q -t $t $bits -N '' -C fuzz -f "$work/k$i" </dev/null >/dev/null 2>&1 || continue
    cp "$work/k$i" "$seeds/openssh/k$i"
    cp "$work/k$i.pub" "$seeds/openssh/k$i.pub"
done
if ssh-keygen -q -t rsa -b 1024 -m PEM -N '' -f "$work/pem" </dev/null >/dev/null 2>&1; then
    cp "$work/pem" "$seeds/openssh/pem"
fi
if ssh-keygen -q -t ed25519 -N secret -a 1 -f "$work/prot" </dev/null >/dev/null 2>&1; then
    cp "$work/prot" "$seeds/openssh/prot"
fi
cp "$src"/tests/bad/keys/ssh_* "$seeds/openssh/" 2>/dev/null

# Nix: the registry tests, the bad registries, the example flake's files; one seed that
# imports (the text after the NUL byte is what the import reads).
for f in "$src"/tests/registry/*.nix "$src"/tests/bad/reg/*.nix \
    $(find "$src/examples" -name '*.nix' 2>/dev/null); do
    [ -f "$f" ] && cp "$f" "$seeds/nix/$(echo "${f#"$src"/}" | tr / _)"
done
printf 'let k = import ./keys.nix; in { "a.age".publicKeys = [ k.x ]; }\0{ x = "age1"; }' \
    >"$seeds/nix/import"
# Deep nesting: constructs just under REG_MAX_NEST (registry/syntax.h: every walk of the tree
# at its deepest, which under ASan shows whether the stack holds) and just past it (the
# error path), and a deep value built at run time; nix.dict holds the tokens that nest.
python3 - "$seeds/nix" <<'PY'
import os, sys
out = sys.argv[1]
forms = {
    "list": ("[", "", "]"), "set": ("{ a = ", "1", "; }"), "paren": ("(", "1", ")"),
    "interp": ('"${', '"x"', '}"'), "ind": ("''${", '"x"', "}''"), "let": ("let b = ", "1", "; in b"),
    "if": ("if true then ", "1", " else 0"), "lambda": ("x: ", "1", ""), "not": ("! ", "true", ""),
    "add": ("", "1", " + 1"), "app": ("(x: x) (", "1", ")"), "or": ("{ }.z or ", "1", ""),
}
for name, (o, m, c) in forms.items():
    for n in (480, 990, 1100):
        e = o * n + m + c * n
        open(os.path.join(out, "deep-%s-%d" % (name, n)), "w").write(
            '{ "secrets/a.age".publicKeys = [ "age1" ]; "secrets/a.age".armor = builtins.deepSeq (%s) false; }' % e)
open(os.path.join(out, "deep-attrpath"), "w").write("{ a" + ".a" * 998 + " = 1; }")
open(os.path.join(out, "deep-runtime"), "w").write(
    "let xs = builtins.genList (x: x) 5000; d = builtins.foldl' (v: x: [ v ]) [ ] xs; in d == d ++ [ ]")
PY
# Path names: what a hostile registry or host module may name (escapes from the repository,
# absolute paths, odd bytes), through the registry parser and the host scanner; fuzz_paths
# takes them bare (a byte choosing the root and the registry's folder, then the name).
i=0
for p in secrets/a.age ./secrets/a.age secrets/../../etc/shadow.age /etc/shadow.age \
    "secrets//a.age" "secrets/a b.age" "secrets/\\x.age" "secrets/\${x}.age" ../x.age \
    "secrets/$(printf 'a%.0s' $(seq 1 300)).age" "secrets/\t.age" "~/x.age" .age secrets/ \
    "secrets/ä.age" "secrets/.age" "secrets/a.age/"; do
    i=$((i + 1))
    printf '{ "%s".publicKeys = [ "%s" ]; }' "$p" "$rcpt" >"$seeds/nix/path$i"
    printf '1{ age.secrets.a.file = ../../%s; age.secrets.b.file = "${self}/%s"; }' "$p" "$p" \
        >"$seeds/hosts/path$i"
    printf '%s%s' "$((i % 8))" "$p" >"$seeds/paths/p$i"
done
i=0
for p in "" . .. ../.. / // "a/../../b" "secrets/../.." "./../secrets/x.age" "a/./b/../c.age" \
    "../nixos-config/secrets/x.age" "../../../../../../../../etc/passwd" "x.age/.." \
    "$(printf '../%.0s' $(seq 1 40))" "$(printf 'a/%.0s' $(seq 1 2000))x.age" "a\0../../x"; do
    for r in 0 2 3 4 5 6 7; do
        i=$((i + 1))
        printf "%s$p" "$r" >"$seeds/paths/q$i"
    done
done
# Host modules: the example hosts and the bad ones, behind a byte choosing the module path.
n=0
for f in $(find "$src/examples" "$src/tests/bad/hosts" -path '*hosts/*' -name '*.nix' \
    2>/dev/null); do
    n=$((n + 1))
    { printf '%s' "$((n % 4))"; cat "$f"; } >"$seeds/hosts/h$n"
done

# ---- runs --------------------------------------------------------------------------------
corpus_of() {
    case $1 in
    fuzz_header) echo header ;; fuzz_armor) echo armor ;; fuzz_decrypt) echo decrypt ;;
    fuzz_bech32) echo bech32 ;; fuzz_base64) echo base64 ;; fuzz_recipients) echo recipients ;;
    fuzz_identities) echo identities ;;
    *) echo "${1#fuzz_}" ;;
    esac
}

run_one() {
    local f=$1 name c log
    name=$(basename "$f")
    c=$(corpus_of "$name")
    mkdir -p "$BUILD/fuzz-corpus/$name" "$seeds/$c"
    log="$BUILD/fuzz-logs/$name.log"
    local dict=()
    [ -f "$here/$c.dict" ] && dict=(-dict="$here/$c.dict")
    "$f" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 -timeout=25 -rss_limit_mb=2048 \
        -max_len=70000 -artifact_prefix="$BUILD/fuzz-crashes/$name-" "${dict[@]}" \
        "$BUILD/fuzz-corpus/$name" "$seeds/$c" >"$log" 2>&1
    echo $? >"$log.rc"
}

fuzzers=$(ls "$BUILD"/fuzzers/fuzz_* 2>/dev/null | grep -v '\.d$' | grep -E -- "${FUZZ_ONLY:-.}")
[ -n "$fuzzers" ] || { echo "fuzz: no harness built in $BUILD/fuzzers" >&2; exit 2; }
start=$(date +%s)
running=0
for f in $fuzzers; do
    if [ "$running" -ge "$FUZZ_JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_one "$f" &
    running=$((running + 1))
done
wait

fail=0
for f in $fuzzers; do
    name=$(basename "$f")
    log="$BUILD/fuzz-logs/$name.log"
    rc=$(cat "$log.rc" 2>/dev/null || echo 1)
    execs=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+)/\1/p' "$log" | tail -1)
    secs=$(sed -nE 's/^Done [0-9]+ runs in ([0-9]+) second.*/\1/p' "$log" | tail -1)
    units=$(find "$BUILD/fuzz-corpus/$name" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        printf 'fuzz %-18s ok   %4ss %10s execs  %5s corpus files\n' "$name" "${secs:-?}" \
            "${execs:-?}" "$units"
    else
        fail=1
        printf 'fuzz %-18s FAIL (status %s)\n' "$name" "$rc"
        grep -E 'ERROR|SUMMARY|Test unit written|runtime error' "$log" | head -8 | sed 's/^/    /'
    fi
done
echo "fuzz: $(echo "$fuzzers" | wc -w) harnesses, ${FUZZ_SECONDS} s each, $(($(date +%s) - start)) s in all"
exit $fail
