#!/bin/bash
# tests/interop/age_agenix.sh: the agenix NixOS module's call of its age binary, with m3age
# installed as `age` (a symlink, as age.ageBin would point to it):
#
#   (umask u=r,g=,o=; LANG=C age --decrypt -i ID1 -i ID2 ... -o PATH.tmp FILE.age)
#
# run as the module does. The output honours the umask (mode 0400), binary and armored input
# work, and with no identity, no matching identity or a damaged file the command exits 1
# and leaves no PATH.tmp (nor any temporary file) behind. Each case is compared with what the
# real Go age does on the same call.
. "$(dirname "$0")/../lib.sh"

setup() {
    command -v age >/dev/null && command -v age-keygen >/dev/null || skip "Go age is not installed"
    [ -x "$M3AGE" ] || _fail "$M3AGE not built"
    mkdir -p bin run/agenix store
    ln -s "$M3AGE" bin/age
    age-keygen -o host.key 2>/dev/null
    age-keygen -o other.key 2>/dev/null
    age-keygen -o user.key 2>/dev/null
    printf 'wifi-psk=hunter2\n' >plain
    head -c 100000 /dev/urandom >>plain
    age -r "$(age-keygen -y host.key)" -r "$(age-keygen -y user.key)" -o store/wifi.age plain
    age -a -r "$(age-keygen -y host.key)" -o store/wifi-armored.age plain
}

# activate AGE_BIN OUT FILE ID...: the module's call, under its umask, from a clean env
activate() {
    local bin=$1 out=$2 file=$3
    shift 3
    local ids=()
    for i in "$@"; do ids+=(-i "$i"); done
    set +e
    (umask 0277 && env -i PATH="$PWD/bin:/usr/bin:/bin" LANG=C "$bin" --decrypt "${ids[@]}" \
        -o "$out" "$file") >out 2>err </dev/null
    status=$?
    set -e
}

# only_files DIR NAME...: DIR holds exactly these names (no temporary file left behind)
only_files() {
    local dir=$1 got want
    shift
    got=$(ls -A "$dir" | sort | tr '\n' ' ')
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort | tr '\n' ' ')
    assert_eq "$got" "$want" "files in $dir"
}

test_decrypts_with_matching_identity_under_umask() {
    setup
    activate bin/age run/agenix/wifi.tmp store/wifi.age other.key host.key
    assert_status 0
    assert_empty out
    assert_same_file run/agenix/wifi.tmp plain
    assert_eq "$(stat -c %a run/agenix/wifi.tmp)" 400 "mode of the output under umask 0277"
    only_files run/agenix wifi.tmp
    # the real age makes the same file with the same mode
    activate /usr/bin/age run/agenix/go.tmp store/wifi.age other.key host.key
    assert_status 0
    assert_eq "$(stat -c %a run/agenix/go.tmp)" 400 "mode of Go age's output"
}

test_armored_input() {
    setup
    activate bin/age run/agenix/wifi.tmp store/wifi-armored.age host.key
    assert_status 0
    assert_same_file run/agenix/wifi.tmp plain
    assert_eq "$(stat -c %a run/agenix/wifi.tmp)" 400 "mode of the output"
}

test_called_as_m3age_with_age_flags() {
    setup
    # first argument an option: age's flags, whatever the program's name
    set +e
    (umask 0277 && "$M3AGE" --decrypt -i host.key -o run/agenix/wifi.tmp store/wifi.age) >out 2>err
    status=$?
    set -e
    assert_status 0
    assert_same_file run/agenix/wifi.tmp plain
    assert_eq "$(stat -c %a run/agenix/wifi.tmp)" 400 "mode of the output"
}

# failing calls: exit 1 (as Go age), one error line, no .tmp left, nothing on stdout
fails_cleanly() {
    assert_status 1
    assert_empty out
    [ -s err ] || _fail "no error message"
    only_files run/agenix
}

test_no_identity_fails_cleanly() {
    setup
    activate bin/age run/agenix/wifi.tmp store/wifi.age
    fails_cleanly
    activate /usr/bin/age run/agenix/wifi.tmp store/wifi.age
    fails_cleanly
}

test_no_matching_identity_fails_cleanly() {
    setup
    activate bin/age run/agenix/wifi.tmp store/wifi.age other.key
    fails_cleanly
    assert_contains err "store/wifi.age"
    activate /usr/bin/age run/agenix/wifi.tmp store/wifi.age other.key
    fails_cleanly
}

test_truncated_file_fails_cleanly() {
    setup
    head -c 70000 store/wifi.age >store/cut.age
    activate bin/age run/agenix/wifi.tmp store/cut.age host.key
    fails_cleanly
}

test_missing_identity_file_fails_cleanly() {
    setup
    activate bin/age run/agenix/wifi.tmp store/wifi.age /etc/ssh/no_such_host_key host.key
    fails_cleanly
}

test_existing_tmp_is_replaced() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (the module runs as root)"
    setup
    # a .tmp left by an interrupted activation (read-only, as the umask makes it)
    echo stale >run/agenix/wifi.tmp
    chmod 0400 run/agenix/wifi.tmp
    activate bin/age run/agenix/wifi.tmp store/wifi.age host.key
    assert_status 0
    assert_same_file run/agenix/wifi.tmp plain
    only_files run/agenix wifi.tmp
}

run_tests
