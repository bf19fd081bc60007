/* p256.c: P-256 for HPKE (see p256.h). */
#include "libage/p256.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/obj_mac.h>
#include <string.h>

#include "libage/cryptolib.h"

/* the order n of the P-256 group, big-endian */
static const unsigned char p256_order[32] = {
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};

int
age_p256_scalar_ok(const unsigned char sk[AGE_P256_SCALAR_SIZE])
{
    /* sk < n: the borrow out of n - 1 - sk, byte by byte from the end; sk != 0: OR. */
    unsigned borrow = 0, nonzero = 0;

    for (int i = 31; i >= 0; i--) {
        unsigned d = (unsigned)p256_order[i] - (i == 31) - sk[i] - borrow;
        borrow = (d >> 8) & 1;
        nonzero |= sk[i];
    }
    return (int)((borrow ^ 1) & ((nonzero + 0xffu) >> 8));
}

/* mul: out = sk * (peer, or G when peer is NULL), serialised uncompressed. */
static int
mul(unsigned char out[65], const unsigned char *sk, const unsigned char *peer, size_t peer_len)
{
    EC_GROUP *g = NULL;
    EC_POINT *p = NULL, *r = NULL;
    BN_CTX *bctx = NULL;
    BIGNUM *k = NULL;
    int rc;

    if ((rc = m3_crypto_load(NULL)) != 0)
        return rc;
    if (!age_p256_scalar_ok(sk))
        return M3_EINVAL;
    rc = M3_ENOMEM;
    if ((g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) == NULL ||
        (bctx = BN_CTX_secure_new()) == NULL || (r = EC_POINT_new(g)) == NULL ||
        (k = BN_secure_new()) == NULL || BN_bin2bn(sk, 32, k) == NULL)
        goto out;
    if (peer != NULL) {
        if ((p = EC_POINT_new(g)) == NULL)
            goto out;
        /* oct2point checks that the point is on the curve; the point at infinity does not
         * decode from 65 or 33 bytes */
        if (!EC_POINT_oct2point(g, p, peer, peer_len, bctx)) {
            rc = M3_EINVAL;
            goto out;
        }
    }
    if (!EC_POINT_mul(g, r, peer == NULL ? k : NULL, p, peer == NULL ? NULL : k, bctx))
        goto out;
    if (EC_POINT_is_at_infinity(g, r) ||
        EC_POINT_point2oct(g, r, POINT_CONVERSION_UNCOMPRESSED, out, 65, bctx) != 65) {
        rc = M3_EINVAL;
        goto out;
    }
    rc = 0;
out:
    EC_POINT_clear_free(r);
    EC_POINT_clear_free(p);
    BN_clear_free(k);
    BN_CTX_free(bctx);
    EC_GROUP_free(g);
    return rc;
}

int
age_p256_public(unsigned char pub[AGE_P256_POINT_SIZE],
                const unsigned char sk[AGE_P256_SCALAR_SIZE])
{
    return mul(pub, sk, NULL, 0);
}

int
age_p256_dh(unsigned char x[32], const unsigned char sk[AGE_P256_SCALAR_SIZE],
            const unsigned char peer[AGE_P256_POINT_SIZE])
{
    unsigned char pt[65];
    int rc;

    if (peer[0] != 0x04)
        return M3_EINVAL; /* uncompressed only, as HPKE's DeserializePublicKey */
    if ((rc = mul(pt, sk, peer, 65)) == 0)
        memcpy(x, pt + 1, 32);
    OPENSSL_cleanse(pt, sizeof(pt));
    return rc;
}

int
age_p256_decompress(unsigned char out[AGE_P256_POINT_SIZE],
                    const unsigned char in[AGE_P256_COMPRESSED_SIZE])
{
    static const unsigned char one[32] = {[31] = 1};

    if (in[0] != 0x02 && in[0] != 0x03)
        return M3_EINVAL;
    return mul(out, one, in, 33); /* 1 * P: decoded, checked and serialised by OpenSSL */
}
