/* p256.h: the NIST P-256 operations of HPKE's DHKEM(P-256) and MLKEM768-P256, over
 * OpenSSL's constant-time P-256 (EC_POINT_mul). Points are SEC 1 uncompressed (65 bytes)
 * unless said otherwise; scalars are 32 bytes big-endian, secret. */
#ifndef M3_LIBAGE_P256_H
#define M3_LIBAGE_P256_H

#include "libage/error.h"

#define AGE_P256_POINT_SIZE 65
#define AGE_P256_COMPRESSED_SIZE 33
#define AGE_P256_SCALAR_SIZE 32

/* age_p256_scalar_ok: 1 when 0 < sk < n (the group order), else 0; in constant time. */
int age_p256_scalar_ok(const unsigned char sk[AGE_P256_SCALAR_SIZE]);

/* age_p256_public: sk * G into pub. M3_EINVAL for a scalar that is not in [1, n). */
int age_p256_public(unsigned char pub[AGE_P256_POINT_SIZE],
                    const unsigned char sk[AGE_P256_SCALAR_SIZE]);

/* age_p256_dh: the x-coordinate of sk * peer into x (secret). M3_EINVAL when peer is not an
 * uncompressed point on the curve, or sk is not in [1, n). */
int age_p256_dh(unsigned char x[32], const unsigned char sk[AGE_P256_SCALAR_SIZE],
                const unsigned char peer[AGE_P256_POINT_SIZE]);

/* age_p256_decompress: a compressed point (33 bytes) to its uncompressed form. M3_EINVAL
 * when it is not a point on the curve. */
int age_p256_decompress(unsigned char out[AGE_P256_POINT_SIZE],
                        const unsigned char in[AGE_P256_COMPRESSED_SIZE]);

#endif
