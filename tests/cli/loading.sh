#!/bin/bash
# Libraries loaded on demand: libcrypto (OpenSSL) and libssh are not linked into m3age but
# opened when a command first needs them (libage/cryptolib.c, keys/sshlib.c), so that the
# common commands do not pay for binding them at start-up. What the dynamic loader reports
# (LD_DEBUG=files) shows which libraries a run opened; the binary itself is run here, not a
# wrapper, since this is about its loading.
. "$(dirname "$0")/../lib.sh"

BIN="$BUILD/m3age"
KEY="$SRCDIR/tests/bad/keys/good.txt"
RCPT=$(sed -n 's/^# public key: //p' "$KEY")

# loaded LIB CMD...: runs CMD with the loader's file report on stderr (kept in ./err); true
# when the run opened a library whose name starts with LIB.
loaded() {
    local lib=$1
    shift
    set +e
    LD_DEBUG=files "$@" >out 2>err </dev/null
    status=$?
    set -e
    grep -qE "file=([^ ]*/)?$lib" err
}

test_libcrypto_and_libssh_are_not_linked() {
    command -v readelf >/dev/null || skip "readelf not installed"
    readelf -d "$BIN" >dyn
    # a dynamic executable (dlopen needs one), with libsodium and libbsd linked in or named
    assert_contains dyn 'libc.so'
    assert_not_contains dyn 'libcrypto'
    assert_not_contains dyn 'libssh'
}

# The C library is found through m3age's run path, without /etc/ld.so.cache: mapping the
# cache and unmapping it again cost every process 0.3 ms on the machines measured.
test_libc_is_found_without_the_loader_cache() {
    command -v readelf >/dev/null || skip "readelf not installed"
    readelf -d "$BIN" >dyn
    assert_contains dyn 'RUNPATH'
    # every folder of it absolute and holding libc (never the build's current folder)
    local dir
    for dir in $(sed -n 's/.*Library runpath: \[\(.*\)\]/\1/p' dyn | tr ':' ' '); do
        case $dir in /*) ;; *) _fail "run path '$dir' is not absolute" ;; esac
        [ "$dir" != "$SRCDIR" ] || _fail "the source folder is a run path"
        [ -e "$dir/libc.so.6" ] || _fail "run path '$dir' holds no libc.so.6"
    done
    set +e
    LD_DEBUG=libs "$BIN" --version >out 2>err </dev/null
    status=$?
    set -e
    assert_status 0
    assert_contains out 'm3age '
    grep -q 'find library=libc.so.6' err || _fail "no loader report: $(head -c 300 err)"
    # where it looked for libc (libraries that others need, as the sanitizers' runtimes do,
    # are found by those libraries' own search)
    awk '/find library=libc\.so\.6/ { getline; print }' err >how
    assert_not_contains how 'search cache='
    assert_contains how 'search path='
}

test_small_x25519_file_never_opens_libcrypto() {
    head -c 1000 /dev/urandom >plain
    if loaded libcrypto "$BIN" encrypt -r "$RCPT" -o small.age plain; then
        _fail "encrypting 1000 bytes opened libcrypto"
    fi
    assert_status 0
    if loaded libcrypto "$BIN" decrypt -i "$KEY" -o back small.age; then
        _fail "decrypting 1000 bytes opened libcrypto"
    fi
    assert_status 0
    cmp -s plain back || _fail "round trip changed the data"
    loaded libssh "$BIN" --version && _fail "--version opened libssh"
    loaded libcrypto "$BIN" --version && _fail "--version opened libcrypto"
    assert_status 0
}

test_large_file_opens_libcrypto_and_round_trips_with_go_age() {
    command -v age >/dev/null || skip "age not installed"
    # 17 chunks: the 17th is the first that OpenSSL seals and opens
    head -c $((16 * 65536 + 100)) /dev/urandom >plain
    loaded libcrypto "$BIN" encrypt -r "$RCPT" -o big.age plain ||
        _fail "encrypting 17 chunks did not open libcrypto; status $status: $(grep -v 'file=' err | head -3)"
    assert_status 0
    age -d -i "$KEY" big.age >back || _fail "age cannot decrypt m3age's 17-chunk file"
    cmp -s plain back || _fail "age decrypted something else"
    age -r "$RCPT" -o go.age plain
    loaded libcrypto "$BIN" decrypt -i "$KEY" -o back2 go.age ||
        _fail "decrypting 17 chunks did not open libcrypto"
    assert_status 0
    cmp -s plain back2 || _fail "m3age decrypted something else"
}

test_ssh_rsa_recipient_opens_libcrypto() {
    command -v ssh-keygen >/dev/null || skip "ssh-keygen not installed"
    ssh-keygen -q -t rsa -b 2048 -N '' -C m3tam3re@m3-ares -f id_rsa
    echo "wifi password" >plain
    loaded libcrypto "$BIN" encrypt -R id_rsa.pub -o rsa.age plain ||
        _fail "an ssh-rsa recipient did not open libcrypto"
    assert_status 0
    loaded libcrypto "$BIN" decrypt -i id_rsa -o back rsa.age || _fail "ssh-rsa decrypt did not open libcrypto"
    assert_status 0
    cmp -s plain back || _fail "ssh-rsa round trip changed the data"
}

run_tests
