/* sha3.h: SHA3-256, SHA3-512, SHAKE128 and SHAKE256 (FIPS 202) over OpenSSL's libcrypto,
 * for ML-KEM (libage/mlkem.c) and the hybrid KEMs of HPKE (libage/hpke.c).
 *
 * Each call hashes the concatenation of its input parts in one go: OpenSSL 3.0 has no
 * incremental squeeze (EVP_DigestSqueeze came in 3.3), so an XOF's whole output is asked for
 * at once. The hash state is wiped by OpenSSL when freed; the caller owns in and out. */
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
 * M3_EUNSUPPORTED (libcrypto cannot be opened, or lacks the algorithm) / M3_ENOMEM. */
int age_sha3(enum age_sha3_alg alg, const struct age_bytes *in, size_t n, unsigned char *out,
             size_t out_len);

#endif
