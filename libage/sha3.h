/* sha3.h: SHA3-256, SHA3-512, SHAKE128 and SHAKE256 (FIPS 202), for ML-KEM (libage/mlkem.c)
 * and the hybrid KEMs of HPKE (libage/hpke.c).
 *
 * The Keccak is our own (sha3.c), not libcrypto's, although issue 22 asked for OpenSSL's:
 * measured here, opening libcrypto.so.3 (dlopen, relocations, page faults: 0.7 ms) and
 * initialising it for a first EVP_MD_fetch (provider and name map: about 1 ms) cost more than
 * all the rest of `m3age decrypt` of a small file (1.2 ms with an X25519 identity), so
 * decrypting for a post-quantum identity took 2.5 times as long, against the 1.3 times the
 * issue allows; ML-KEM's own hashing is some thirty Keccak calls, 0.05 ms. Without libcrypto
 * a post-quantum identity needs only libsodium, like X25519. The permutation is portable C
 * and constant time (no branch or index depends on the state); the ML-KEM known answers of
 * tests/unit (10,000 accumulated test cases among them) check it.
 *
 * Each call hashes the concatenation of its input parts in one go, an XOF's whole output at
 * once (mlkem.c's SampleNTT asks again for twice as many bytes in the rare case it needs
 * more: an XOF's shorter output is a prefix of the longer). The state is wiped before
 * returning; the caller owns in and out. */
#ifndef M3_LIBAGE_SHA3_H
#define M3_LIBAGE_SHA3_H

#include <stddef.h>

#include "libage/error.h"

enum age_sha3_alg {
    AGE_SHA3_256, /* out_len must be 32 */
    AGE_SHA3_512, /* out_len must be 64 */
    AGE_SHAKE128, /* any out_len */
    AGE_SHAKE256, /* any out_len */
};

/* One part of a hash input. */
struct age_bytes {
    const void *p;
    size_t len;
};

/* age_sha3: hashes the concatenation of in[0..n) into out (out_len bytes). Returns 0, or
 * M3_EINVAL (an unknown algorithm, or an out_len SHA3-256/512 does not give). */
int age_sha3(enum age_sha3_alg alg, const struct age_bytes *in, size_t n, unsigned char *out,
             size_t out_len);

#endif
