/* x25519_base.c: X25519 of the base point (a public key from its scalar) through Ed25519's
 * fixed-base tables.
 *
 * libsodium's crypto_scalarmult_base runs the whole Montgomery ladder from u = 9 (on x86-64
 * its AVX ladder): as dear as a multiplication of any point. Its Ed25519 fixed-base
 * multiplication uses precomputed multiples of the base point: with the map below, about half.
 * The Ed25519 base point is the image of u = 9 under the birational map u = (1 + y) / (1 - y)
 * (RFC 7748, section 4.1), and both functions clamp the scalar the same way, so the map
 * applied to [k]B gives X25519(k, 9) exactly. The scalar is secret and handled by libsodium's
 * constant-time code; the map only touches the result, which is the public key, so the field
 * arithmetic below need not be constant-time.
 * Written here because no library here offers the map alone: libsodium's ref10 X25519 does
 * exactly this internally, but on x86-64 its AVX implementation is chosen and the ref10 one is
 * not reachable; crypto_sign_ed25519_pk_to_curve25519 maps a point too, but first checks that
 * it is in the prime-order subgroup, a multiplication by the group order that costs more than
 * the ladder saved (with it, 53.7 us against the ladder's 35.1 us on the Xeon this was measured
 * on; the tables alone take 14.8 us); OpenSSL's BIGNUM would load libcrypto into every rekey.
 * It is checked against crypto_scalarmult_base on random and edge scalars
 * (tests/unit/test_age_x25519.c). */
#include "libage/internal.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

/* GF(2^255 - 19) in five 51-bit limbs; every limb below 2^52 between operations. */
__extension__ typedef unsigned __int128 fe_wide;
typedef uint64_t fe[5];

#define FE_MASK ((UINT64_C(1) << 51) - 1)

static uint64_t
load64(const unsigned char *b)
{
    uint64_t v = 0;

    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

static void
store64(unsigned char *b, uint64_t v)
{
    for (int i = 0; i < 8; i++, v >>= 8)
        b[i] = (unsigned char)v;
}

/* fe_frombytes: the low 255 bits of s (bit 255, the sign of x in an Ed25519 point, is
 * dropped). */
static void
fe_frombytes(fe h, const unsigned char s[32])
{
    h[0] = load64(s) & FE_MASK;
    h[1] = (load64(s + 6) >> 3) & FE_MASK;
    h[2] = (load64(s + 12) >> 6) & FE_MASK;
    h[3] = (load64(s + 19) >> 1) & FE_MASK;
    h[4] = (load64(s + 24) >> 12) & FE_MASK;
}

/* fe_carry: h from the five wide limb sums of a product, the carries propagated (the one out
 * of the top limb folded back in times 19, since 2^255 = 19 modulo 2^255 - 19). */
static void
fe_carry(fe h, fe_wide t0, fe_wide t1, fe_wide t2, fe_wide t3, fe_wide t4)
{
    uint64_t c;

    t1 += (uint64_t)(t0 >> 51);
    t2 += (uint64_t)(t1 >> 51);
    t3 += (uint64_t)(t2 >> 51);
    t4 += (uint64_t)(t3 >> 51);
    c = (uint64_t)(t4 >> 51);
    h[0] = ((uint64_t)t0 & FE_MASK) + 19 * c;
    h[1] = ((uint64_t)t1 & FE_MASK) + (h[0] >> 51);
    h[0] &= FE_MASK;
    h[2] = (uint64_t)t2 & FE_MASK;
    h[3] = (uint64_t)t3 & FE_MASK;
    h[4] = (uint64_t)t4 & FE_MASK;
}

static void
fe_mul(fe h, const fe f, const fe g)
{
    uint64_t g1 = 19 * g[1], g2 = 19 * g[2], g3 = 19 * g[3], g4 = 19 * g[4];
    fe_wide t0, t1, t2, t3, t4;

    t0 = (fe_wide)f[0] * g[0] + (fe_wide)f[1] * g4 + (fe_wide)f[2] * g3 + (fe_wide)f[3] * g2 +
         (fe_wide)f[4] * g1;
    t1 = (fe_wide)f[0] * g[1] + (fe_wide)f[1] * g[0] + (fe_wide)f[2] * g4 + (fe_wide)f[3] * g3 +
         (fe_wide)f[4] * g2;
    t2 = (fe_wide)f[0] * g[2] + (fe_wide)f[1] * g[1] + (fe_wide)f[2] * g[0] + (fe_wide)f[3] * g4 +
         (fe_wide)f[4] * g3;
    t3 = (fe_wide)f[0] * g[3] + (fe_wide)f[1] * g[2] + (fe_wide)f[2] * g[1] + (fe_wide)f[3] * g[0] +
         (fe_wide)f[4] * g4;
    t4 = (fe_wide)f[0] * g[4] + (fe_wide)f[1] * g[3] + (fe_wide)f[2] * g[2] + (fe_wide)f[3] * g[1] +
         (fe_wide)f[4] * g[0];
    fe_carry(h, t0, t1, t2, t3, t4);
}

/* fe_sq: fe_mul(h, f, f) with the symmetric products computed once. */
static void
fe_sq(fe h, const fe f)
{
    uint64_t d0 = 2 * f[0], d1 = 2 * f[1], f3_19 = 19 * f[3], f4_19 = 19 * f[4];
    fe_wide t0, t1, t2, t3, t4;

    t0 = (fe_wide)f[0] * f[0] + (fe_wide)d1 * f4_19 + (fe_wide)(2 * f[2]) * f3_19;
    t1 = (fe_wide)d0 * f[1] + (fe_wide)(2 * f[2]) * f4_19 + (fe_wide)f[3] * f3_19;
    t2 = (fe_wide)d0 * f[2] + (fe_wide)f[1] * f[1] + (fe_wide)(2 * f[3]) * f4_19;
    t3 = (fe_wide)d0 * f[3] + (fe_wide)d1 * f[2] + (fe_wide)f[4] * f4_19;
    t4 = (fe_wide)d0 * f[4] + (fe_wide)d1 * f[3] + (fe_wide)f[2] * f[2];
    fe_carry(h, t0, t1, t2, t3, t4);
}

static void
fe_sqn(fe h, const fe f, int n)
{
    fe_sq(h, f);
    while (--n > 0)
        fe_sq(h, h);
}

/* fe_invert: z^(p - 2), by the usual chain of 254 squarings and 11 multiplications. */
static void
fe_invert(fe out, const fe z)
{
    fe z2, z9, z11, a, b, c;

    fe_sq(z2, z);
    fe_sqn(a, z2, 2);
    fe_mul(z9, a, z);
    fe_mul(z11, z9, z2);
    fe_sq(a, z11);
    fe_mul(a, a, z9); /* z^(2^5 - 1) */
    fe_sqn(b, a, 5);
    fe_mul(a, b, a); /* 2^10 - 1 */
    fe_sqn(b, a, 10);
    fe_mul(b, b, a); /* 2^20 - 1 */
    fe_sqn(c, b, 20);
    fe_mul(c, c, b); /* 2^40 - 1 */
    fe_sqn(c, c, 10);
    fe_mul(b, c, a); /* 2^50 - 1 */
    fe_sqn(c, b, 50);
    fe_mul(c, c, b); /* 2^100 - 1 */
    fe_sqn(a, c, 100);
    fe_mul(a, a, c); /* 2^200 - 1 */
    fe_sqn(a, a, 50);
    fe_mul(a, a, b); /* 2^250 - 1 */
    fe_sqn(a, a, 5);
    fe_mul(out, a, z11); /* 2^255 - 21 = p - 2 */
}

/* fe_tobytes: the canonical encoding (the value reduced below p). */
static void
fe_tobytes(unsigned char s[32], const fe f)
{
    uint64_t h[5], q;

    memcpy(h, f, sizeof(h));
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 4; i++) {
            h[i + 1] += h[i] >> 51;
            h[i] &= FE_MASK;
        }
        h[0] += 19 * (h[4] >> 51);
        h[4] &= FE_MASK;
    }
    /* now h < 2^255 + 19: subtract p once if h >= p */
    q = (h[0] + 19) >> 51;
    for (int i = 1; i < 5; i++)
        q = (h[i] + q) >> 51;
    h[0] += 19 * q;
    for (int i = 0; i < 4; i++) {
        h[i + 1] += h[i] >> 51;
        h[i] &= FE_MASK;
    }
    h[4] &= FE_MASK;
    store64(s, h[0] | h[1] << 51);
    store64(s + 8, h[1] >> 13 | h[2] << 38);
    store64(s + 16, h[2] >> 26 | h[3] << 25);
    store64(s + 24, h[3] >> 39 | h[4] << 12);
}

void
age_x25519_base(unsigned char out[32], const unsigned char scalar[32])
{
    /* 2p + 1, limb by limb: 1 - y without going below zero */
    static const fe two_p_plus_1 = {0xfffffffffffdb, 0xffffffffffffe, 0xffffffffffffe,
                                    0xffffffffffffe, 0xffffffffffffe};
    unsigned char ed[32];
    fe y, num, den;

    /* It fails only for a result at the identity, which a clamped scalar cannot give (it is
     * a multiple of 8 below the group order times 8): the ladder then answers anyway. */
    if (crypto_scalarmult_ed25519_base(ed, scalar) != 0) {
        crypto_scalarmult_base(out, scalar);
        return;
    }
    fe_frombytes(y, ed);
    memcpy(num, y, sizeof(num));
    num[0] += 1;
    for (int i = 0; i < 5; i++)
        den[i] = two_p_plus_1[i] - y[i];
    fe_invert(den, den);
    fe_mul(num, num, den);
    fe_tobytes(out, num);
}
