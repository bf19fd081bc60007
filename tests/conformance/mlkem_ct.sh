#!/bin/bash
# tests/conformance/mlkem_ct.sh: ML-KEM-768 KeyGen, Encaps, Decaps (a valid and an invalid
# ciphertext), X25519, and the MLKEM768-X25519 KEM of age's post-quantum recipients (seed
# expansion, Encap, Decap) run with their secret inputs marked undefined for valgrind
# (tests/tools/mlkem_ct.c): memcheck must report no conditional jump or memory index that
# depends on a secret. Skipped when valgrind is not installed, and for sanitizer builds
# (make asan), which valgrind cannot run. The program runs without its debug information
# (objcopy --strip-debug): valgrind 3.19 cannot read the DWARF 5 that clang 14 writes, and
# memcheck's reports still name the functions.
. "$(dirname "$0")/../lib.sh"

test_mlkem_x25519_constant_time() {
    command -v valgrind >/dev/null 2>&1 || skip "valgrind is not installed"
    [ -x "$TOOLS/mlkem_ct" ] || skip "no $TOOLS/mlkem_ct"
    run "$TOOLS/mlkem_ct"
    [ "$status" -ne 77 ] || skip "mlkem_ct was built without valgrind/memcheck.h"
    ! grep -qa AddressSanitizer "$TOOLS/mlkem_ct" || skip "a sanitizer build: valgrind cannot run it"
    command -v objcopy >/dev/null || skip "objcopy (binutils) is not installed"
    objcopy --strip-debug "$TOOLS/mlkem_ct" ct
    run valgrind --tool=memcheck --error-exitcode=3 --track-origins=yes -q ./ct
    assert_status 0
    assert_eq "$(cat out)" ok
    assert_not_contains err "depends on uninitialised"
    assert_not_contains err "uninitialised value"
}

run_tests
