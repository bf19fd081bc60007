/* mlkem.c: ML-KEM-768 (FIPS 203), see mlkem.h.
 *
 * Coefficients are kept fully reduced in [0, q) as 16-bit integers. Products (< q^2) and
 * small sums of them are reduced with one 64-bit multiplication by a Barrett constant and
 * a masked subtraction: no division, no branch, no table lookup on a coefficient, so the
 * same code serves public and secret polynomials in constant time. */
#include "libage/mlkem.h"
#include "libage/mlkem_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "libage/sha3.h"

/* tests/tools/mlkem_ct.c builds this file with AGE_CT_CHECK and runs it under valgrind with
 * the secret inputs marked undefined: memcheck then reports every branch and memory index
 * that depends on them. Values that are public by design although computed from a secret
 * (rho, which goes into ek) are declared defined again where they are made. */
#ifdef AGE_CT_CHECK
#include <valgrind/memcheck.h>
#define declassify(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define declassify(p, n) ((void)(p), (void)(n))
#endif

#define Q AGE_MLKEM_Q
#define K AGE_MLKEM_K
#define N AGE_MLKEM_N
#define POLY_BYTES 384 /* ByteEncode_12 of one polynomial */
#define DU 10
#define DV 4
#define PKE_DK_SIZE (K * POLY_BYTES)
#define C1_SIZE (K * 32 * DU)

typedef struct age_mlkem_poly poly;

/* zeta^BitRev7(i) mod q, zeta = 17: the twiddle factors of NTT and NTT^-1. */
static const uint16_t zetas[128] = {
    1,    1729, 2580, 3289, 2642, 630,  1897, 848,  1062, 1919, 193,  797,  2786, 3260, 569,  1746,
    296,  2447, 1339, 1476, 3046, 56,   2240, 1333, 1426, 2094, 535,  2882, 2393, 2879, 1974, 821,
    289,  331,  3253, 1756, 1197, 2304, 2277, 2055, 650,  1977, 2513, 632,  2865, 33,   1320, 1915,
    2319, 1435, 807,  452,  1438, 2868, 1534, 2402, 2647, 2617, 1481, 648,  2474, 3110, 1227, 910,
    17,   2761, 583,  2649, 1637, 723,  2288, 1100, 1409, 2662, 3281, 233,  756,  2156, 3015, 3050,
    1703, 1651, 2789, 1789, 1847, 952,  1461, 2687, 939,  2308, 2437, 2388, 733,  2337, 268,  641,
    1584, 2298, 2037, 3220, 375,  2549, 2090, 1645, 1063, 319,  2773, 757,  2099, 561,  2466, 2594,
    2804, 1092, 403,  1026, 1143, 2150, 2775, 886,  1722, 1212, 1874, 1029, 2110, 2935, 885,  2154};

/* zeta^(2 BitRev7(i) + 1) mod q: the moduli X^2 - gamma of MultiplyNTTs. */
static const uint16_t gammas[128] = {
    17,   3312, 2761, 568,  583,  2746, 2649, 680,  1637, 1692, 723,  2606, 2288, 1041, 1100, 2229,
    1409, 1920, 2662, 667,  3281, 48,   233,  3096, 756,  2573, 2156, 1173, 3015, 314,  3050, 279,
    1703, 1626, 1651, 1678, 2789, 540,  1789, 1540, 1847, 1482, 952,  2377, 1461, 1868, 2687, 642,
    939,  2390, 2308, 1021, 2437, 892,  2388, 941,  733,  2596, 2337, 992,  268,  3061, 641,  2688,
    1584, 1745, 2298, 1031, 2037, 1292, 3220, 109,  375,  2954, 2549, 780,  2090, 1239, 1645, 1684,
    1063, 2266, 319,  3010, 2773, 556,  757,  2572, 2099, 1230, 561,  2768, 2466, 863,  2594, 735,
    2804, 525,  1092, 2237, 403,  2926, 1026, 2303, 1143, 2186, 2150, 1179, 2775, 554,  886,  2443,
    1722, 1607, 1212, 2117, 1874, 1455, 1029, 2300, 2110, 1219, 2935, 394,  885,  2444, 2154, 1175};

/* floor(x / q) for x < 81,614,296 (checked exhaustively beyond 2^26): 2^46 / q rounded up. */
static inline uint32_t
div_q(uint32_t x)
{
    return (uint32_t)(((uint64_t)x * UINT64_C(21138102787)) >> 46);
}

/* x mod q for x < 2^26 (products of two reduced coefficients and sums of up to six). */
static inline uint16_t
mod_q(uint32_t x)
{
    return (uint16_t)(x - div_q(x) * Q);
}

/* x mod q for x < 2q: subtract q, add it back under a mask made from the borrow. */
static inline uint16_t
csub_q(uint32_t x)
{
    uint32_t y = x - Q;

    y += Q & (0u - (y >> 31));
    return (uint16_t)y;
}

static inline uint16_t
add_q(uint16_t a, uint16_t b)
{
    return csub_q((uint32_t)a + b);
}

static inline uint16_t
sub_q(uint16_t a, uint16_t b)
{
    return csub_q((uint32_t)a + Q - b);
}

static inline uint16_t
mul_q(uint16_t a, uint16_t b)
{
    return mod_q((uint32_t)a * b);
}

/* ---- the polynomial ring and its NTT (FIPS 203 section 4.3) ----------------------------- */

void
age_mlkem_ntt(poly *a)
{
    unsigned i = 1;

    for (unsigned len = 128; len >= 2; len >>= 1)
        for (unsigned start = 0; start < N; start += 2 * len) {
            uint16_t zeta = zetas[i++];
            for (unsigned j = start; j < start + len; j++) {
                uint16_t t = mul_q(zeta, a->c[j + len]);
                a->c[j + len] = sub_q(a->c[j], t);
                a->c[j] = add_q(a->c[j], t);
            }
        }
}

void
age_mlkem_invntt(poly *a)
{
    unsigned i = 127;

    for (unsigned len = 2; len <= 128; len <<= 1)
        for (unsigned start = 0; start < N; start += 2 * len) {
            uint16_t zeta = zetas[i--];
            for (unsigned j = start; j < start + len; j++) {
                uint16_t t = a->c[j];
                a->c[j] = add_q(t, a->c[j + len]);
                a->c[j + len] = mul_q(zeta, sub_q(a->c[j + len], t));
            }
        }
    for (unsigned j = 0; j < N; j++)
        a->c[j] = mul_q(a->c[j], 3303); /* 128^-1 mod q */
}

void
age_mlkem_mul_acc(poly *r, const poly *a, const poly *b)
{
    for (unsigned i = 0; i < N / 2; i++) {
        uint32_t a0 = a->c[2 * i], a1 = a->c[2 * i + 1];
        uint32_t b0 = b->c[2 * i], b1 = b->c[2 * i + 1];
        uint32_t c0 = a0 * b0 + (uint32_t)mod_q(a1 * b1) * gammas[i] + r->c[2 * i];
        r->c[2 * i] = mod_q(c0);
        r->c[2 * i + 1] = mod_q(a0 * b1 + a1 * b0 + r->c[2 * i + 1]);
    }
}

static void
poly_add(poly *r, const poly *a)
{
    for (unsigned j = 0; j < N; j++)
        r->c[j] = add_q(r->c[j], a->c[j]);
}

/* ---- encodings (FIPS 203 section 4.2.1) ------------------------------------------------- */

void
age_mlkem_encode(unsigned char *out, const poly *a, unsigned d)
{
    uint32_t acc = 0;
    unsigned bits = 0;

    for (unsigned j = 0; j < N; j++) {
        acc |= (uint32_t)a->c[j] << bits;
        for (bits += d; bits >= 8; bits -= 8) {
            *out++ = (unsigned char)acc;
            acc >>= 8;
        }
    }
}

void
age_mlkem_decode(poly *a, const unsigned char *in, unsigned d)
{
    uint32_t acc = 0;
    unsigned bits = 0;

    for (unsigned j = 0; j < N; j++) {
        for (; bits < d; bits += 8)
            acc |= (uint32_t)*in++ << bits;
        a->c[j] = (uint16_t)(acc & ((1u << d) - 1));
        acc >>= d;
        bits -= d;
    }
}

void
age_mlkem_compress(poly *a, unsigned d)
{
    for (unsigned j = 0; j < N; j++)
        a->c[j] = (uint16_t)(div_q(((uint32_t)a->c[j] << d) + Q / 2) & ((1u << d) - 1));
}

void
age_mlkem_decompress(poly *a, unsigned d)
{
    for (unsigned j = 0; j < N; j++)
        a->c[j] = (uint16_t)(((uint32_t)a->c[j] * Q + (1u << (d - 1))) >> d);
}

/* ---- sampling (FIPS 203 section 4.2.2) -------------------------------------------------- */

/* SHAKE128's rate: the XOF produces output in blocks of this size. */
#define SHAKE128_RATE 168

int
age_mlkem_sample_ntt(poly *a, const unsigned char rho[32], unsigned j, unsigned i)
{
    /* SampleNTT reads three bytes at a time from SHAKE128 until 256 coefficients below q
     * are found: usually 2 to 3 blocks of output, with no fixed bound. OpenSSL 3.0 cannot
     * squeeze more output from a finished XOF (EVP_DigestSqueeze is 3.3), so a fixed 3
     * blocks are squeezed first (enough in about 99% of cases; A is public, so the varying
     * count is no leak) and, when they fall short, the XOF is run again for twice as many
     * bytes: an XOF's shorter output is a prefix of its longer one, so the bytes read are
     * exactly those of one long squeeze (the unluckysample vectors need that path). This
     * keeps the work per matrix entry at one SHAKE call almost always, where a Keccak of
     * our own would duplicate OpenSSL's assembly. */
    unsigned char in[34], stackbuf[3 * SHAKE128_RATE], *buf = stackbuf, *big = NULL;
    size_t len = sizeof(stackbuf);
    unsigned n = 0;
    int rc;

    memcpy(in, rho, 32);
    in[32] = (unsigned char)j;
    in[33] = (unsigned char)i;
    for (;;) {
        struct age_bytes part = {in, sizeof(in)};
        if ((rc = age_sha3(AGE_SHAKE128, &part, 1, buf, len)) != 0)
            goto out;
        n = 0;
        for (size_t pos = 0; pos + 3 <= len && n < N; pos += 3) {
            uint16_t d1 = (uint16_t)(buf[pos] | ((buf[pos + 1] & 0x0f) << 8));
            uint16_t d2 = (uint16_t)((buf[pos + 1] >> 4) | (buf[pos + 2] << 4));
            if (d1 < Q)
                a->c[n++] = d1;
            if (d2 < Q && n < N)
                a->c[n++] = d2;
        }
        if (n == N)
            break;
        len *= 2;
        free(big);
        if ((buf = big = malloc(len)) == NULL) {
            rc = M3_ENOMEM;
            goto out;
        }
    }
    rc = 0;
out:
    free(big);
    return rc;
}

int
age_mlkem_sample_cbd(poly *a, const unsigned char seed[32], unsigned n)
{
    /* SamplePolyCBD_2: each coefficient is (b0 + b1) - (b2 + b3) over four fresh bits of
     * PRF_2(seed, n) = SHAKE256(seed || n, 128). */
    unsigned char nb = (unsigned char)n, buf[64 * 2];
    struct age_bytes in[2] = {{seed, 32}, {&nb, 1}};
    int rc;

    if ((rc = age_sha3(AGE_SHAKE256, in, 2, buf, sizeof(buf))) != 0)
        goto out;
    for (unsigned j = 0; j < N; j++) {
        unsigned v = (buf[j / 2] >> (4 * (j & 1))) & 0x0f;
        uint32_t x = (v & 1) + ((v >> 1) & 1), y = ((v >> 2) & 1) + ((v >> 3) & 1);
        a->c[j] = csub_q(x + Q - y);
    }
out:
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

/* ---- K-PKE (FIPS 203 section 5) ------------------------------------------------------- */

/* The matrix A from rho; transposed when `t` (Encrypt uses A^T). */
static int
gen_matrix(poly a[K][K], const unsigned char rho[32], int t)
{
    int rc;

    for (unsigned i = 0; i < K; i++)
        for (unsigned j = 0; j < K; j++)
            if ((rc = age_mlkem_sample_ntt(t ? &a[j][i] : &a[i][j], rho, j, i)) != 0)
                return rc;
    return 0;
}

struct pke_keygen_ws {
    poly a[K][K], s[K], e[K], t[K];
};

int
age_mlkem_pke_keygen(unsigned char *ek, unsigned char *dk_pke, const unsigned char rho[32],
                     const unsigned char sigma[32])
{
    struct pke_keygen_ws ws = {0}, *w = &ws;
    int rc;

    if ((rc = gen_matrix(w->a, rho, 0)) != 0)
        goto out;
    for (unsigned i = 0; i < K; i++)
        if ((rc = age_mlkem_sample_cbd(&w->s[i], sigma, i)) != 0 ||
            (rc = age_mlkem_sample_cbd(&w->e[i], sigma, K + i)) != 0)
            goto out;
    for (unsigned i = 0; i < K; i++) {
        age_mlkem_ntt(&w->s[i]);
        age_mlkem_ntt(&w->e[i]);
    }
    for (unsigned i = 0; i < K; i++) {
        w->t[i] = w->e[i];
        for (unsigned j = 0; j < K; j++)
            age_mlkem_mul_acc(&w->t[i], &w->a[i][j], &w->s[j]);
        age_mlkem_encode(ek + i * POLY_BYTES, &w->t[i], 12);
        age_mlkem_encode(dk_pke + i * POLY_BYTES, &w->s[i], 12);
    }
    memcpy(ek + K * POLY_BYTES, rho, 32);
out:
    sodium_memzero(w, sizeof(*w)); /* s and e */
    return rc;
}

struct pke_encrypt_ws {
    poly a[K][K], t[K], y[K], e1[K], u[K], e2, v, mu;
};

/* K-PKE.Encrypt(ek, m, r) into c (1088 bytes). ek passed the modulus check. */
static int
pke_encrypt(unsigned char *c, const unsigned char *ek, const unsigned char m[32],
            const unsigned char r[32])
{
    struct pke_encrypt_ws ws = {0}, *w = &ws;
    int rc;

    if ((rc = gen_matrix(w->a, ek + K * POLY_BYTES, 1)) != 0)
        goto out;
    for (unsigned i = 0; i < K; i++) {
        age_mlkem_decode(&w->t[i], ek + i * POLY_BYTES, 12);
        if ((rc = age_mlkem_sample_cbd(&w->y[i], r, i)) != 0 ||
            (rc = age_mlkem_sample_cbd(&w->e1[i], r, K + i)) != 0)
            goto out;
    }
    if ((rc = age_mlkem_sample_cbd(&w->e2, r, 2 * K)) != 0)
        goto out;
    for (unsigned i = 0; i < K; i++)
        age_mlkem_ntt(&w->y[i]);
    for (unsigned i = 0; i < K; i++) {
        for (unsigned j = 0; j < K; j++)
            age_mlkem_mul_acc(&w->u[i], &w->a[i][j], &w->y[j]);
        age_mlkem_invntt(&w->u[i]);
        poly_add(&w->u[i], &w->e1[i]);
        age_mlkem_compress(&w->u[i], DU);
        age_mlkem_encode(c + i * 32 * DU, &w->u[i], DU);
    }
    for (unsigned j = 0; j < K; j++)
        age_mlkem_mul_acc(&w->v, &w->t[j], &w->y[j]);
    age_mlkem_invntt(&w->v);
    poly_add(&w->v, &w->e2);
    age_mlkem_decode(&w->mu, m, 1);
    age_mlkem_decompress(&w->mu, 1);
    poly_add(&w->v, &w->mu);
    age_mlkem_compress(&w->v, DV);
    age_mlkem_encode(c + C1_SIZE, &w->v, DV);
out:
    sodium_memzero(w, sizeof(*w));
    return rc;
}

struct pke_decrypt_ws {
    poly s, u, v, w;
};

/* K-PKE.Decrypt(dk_pke, c) into m (32 bytes, secret). */
static int
pke_decrypt(unsigned char m[32], const unsigned char *dk_pke, const unsigned char *c)
{
    struct pke_decrypt_ws ws = {0}, *w = &ws;

    for (unsigned i = 0; i < K; i++) {
        age_mlkem_decode(&w->u, c + i * 32 * DU, DU);
        age_mlkem_decompress(&w->u, DU);
        age_mlkem_ntt(&w->u);
        age_mlkem_decode(&w->s, dk_pke + i * POLY_BYTES, 12);
        age_mlkem_mul_acc(&w->w, &w->s, &w->u);
    }
    age_mlkem_invntt(&w->w);
    age_mlkem_decode(&w->v, c + C1_SIZE, DV);
    age_mlkem_decompress(&w->v, DV);
    for (unsigned j = 0; j < N; j++)
        w->w.c[j] = sub_q(w->v.c[j], w->w.c[j]);
    age_mlkem_compress(&w->w, 1);
    age_mlkem_encode(m, &w->w, 1);
    sodium_memzero(w, sizeof(*w));
    return 0;
}

/* ---- ML-KEM (FIPS 203 sections 6 and 7) ------------------------------------------------ */

/* keygen: ML-KEM.KeyGen_internal with (rho, sigma) = G(d || k) (FIPS 203), or G(d) for the
 * draft (ipd) that the CCTV vectors in tests/testkit/mlkem were made with. dk = dk_pke || ek
 * || H(ek) || z. */
static int
keygen(unsigned char *ek, unsigned char *dk, const unsigned char *seed, int draft)
{
    unsigned char kb = K, rs[64];
    struct age_bytes g[2] = {{seed, 32}, {&kb, 1}}, h = {ek, AGE_MLKEM768_EK_SIZE};
    int rc;

    if ((rc = age_sha3(AGE_SHA3_512, g, draft ? 1 : 2, rs, 64)) != 0)
        goto out;
    declassify(rs, 32); /* rho: public, part of ek */
    if ((rc = age_mlkem_pke_keygen(ek, dk, rs, rs + 32)) != 0)
        goto out;
    memcpy(dk + PKE_DK_SIZE, ek, AGE_MLKEM768_EK_SIZE);
    if ((rc = age_sha3(AGE_SHA3_256, &h, 1, dk + PKE_DK_SIZE + AGE_MLKEM768_EK_SIZE, 32)) != 0)
        goto out;
    memcpy(dk + PKE_DK_SIZE + AGE_MLKEM768_EK_SIZE + 32, seed + 32, 32);
out:
    sodium_memzero(rs, sizeof(rs));
    return rc;
}

int
age_mlkem768_keygen(unsigned char ek[AGE_MLKEM768_EK_SIZE], unsigned char dk[AGE_MLKEM768_DK_SIZE],
                    const unsigned char seed[AGE_MLKEM_SEED_SIZE])
{
    return keygen(ek, dk, seed, 0);
}

int
age_mlkem768_keygen_draft(unsigned char *ek, unsigned char *dk, const unsigned char *seed)
{
    return keygen(ek, dk, seed, 1);
}

int
age_mlkem768_check_ek(const unsigned char ek[AGE_MLKEM768_EK_SIZE])
{
    /* ByteEncode_12(ByteDecode_12(ek)) == ek exactly when every coefficient is below q. */
    for (unsigned i = 0; i < K * POLY_BYTES; i += 3) {
        unsigned d1 = ek[i] | ((ek[i + 1] & 0x0fu) << 8), d2 = (ek[i + 1] >> 4) | (ek[i + 2] << 4);
        if (d1 >= Q || d2 >= Q)
            return M3_EINVAL;
    }
    return 0;
}

/* encaps with h = H(ek) known: (K, r) = G(m || h), c = K-PKE.Encrypt(ek, m, r). */
static int
encaps_h(unsigned char *ct, unsigned char *ss, const unsigned char *ek, const unsigned char *h,
         const unsigned char *m)
{
    unsigned char kr[64];
    struct age_bytes g[2] = {{m, 32}, {h, 32}};
    int rc;

    if ((rc = age_sha3(AGE_SHA3_512, g, 2, kr, 64)) != 0 ||
        (rc = pke_encrypt(ct, ek, m, kr + 32)) != 0)
        goto out;
    memcpy(ss, kr, 32);
out:
    sodium_memzero(kr, sizeof(kr));
    return rc;
}

int
age_mlkem768_encaps(unsigned char ct[AGE_MLKEM768_CT_SIZE], unsigned char ss[AGE_MLKEM_SS_SIZE],
                    const unsigned char ek[AGE_MLKEM768_EK_SIZE], const unsigned char m[32])
{
    unsigned char h[32];
    struct age_bytes in = {ek, AGE_MLKEM768_EK_SIZE};
    int rc;

    if ((rc = age_mlkem768_check_ek(ek)) != 0)
        return rc;
    if ((rc = age_sha3(AGE_SHA3_256, &in, 1, h, sizeof(h))) != 0)
        return rc;
    return encaps_h(ct, ss, ek, h, m);
}

int
age_mlkem768_encaps_random(unsigned char ct[AGE_MLKEM768_CT_SIZE],
                           unsigned char ss[AGE_MLKEM_SS_SIZE],
                           const unsigned char ek[AGE_MLKEM768_EK_SIZE])
{
    unsigned char m[32];
    int rc;

    randombytes_buf(m, 32);
    rc = age_mlkem768_encaps(ct, ss, ek, m);
    sodium_memzero(m, sizeof(m));
    return rc;
}

struct decaps_ws {
    unsigned char m[32], kr[64], kbar[32], c2[AGE_MLKEM768_CT_SIZE];
};

int
age_mlkem768_decaps(unsigned char ss[AGE_MLKEM_SS_SIZE],
                    const unsigned char dk[AGE_MLKEM768_DK_SIZE],
                    const unsigned char ct[AGE_MLKEM768_CT_SIZE])
{
    const unsigned char *ek = dk + PKE_DK_SIZE, *h = ek + AGE_MLKEM768_EK_SIZE, *z = h + 32;
    struct decaps_ws ws = {0}, *w = &ws;
    struct age_bytes j[2] = {{z, 32}, {ct, AGE_MLKEM768_CT_SIZE}};
    unsigned diff = 0;
    unsigned char mask;
    int rc;

    if ((rc = pke_decrypt(w->m, dk, ct)) != 0 || (rc = encaps_h(w->c2, w->kr, ek, h, w->m)) != 0)
        goto out;
    /* K-bar = J(z || c), the implicit-rejection key. */
    if ((rc = age_sha3(AGE_SHAKE256, j, 2, w->kbar, 32)) != 0)
        goto out;
    /* Compare every byte (never stopping at a difference or a zero byte: the strcmp
     * vectors), then select with a mask derived arithmetically from the difference. */
    for (size_t i = 0; i < AGE_MLKEM768_CT_SIZE; i++)
        diff |= (unsigned)(ct[i] ^ w->c2[i]);
    mask = (unsigned char)(0u - ((diff + 0xffu) >> 8)); /* 0xff when they differ */
    for (size_t i = 0; i < 32; i++)
        ss[i] = (unsigned char)(w->kr[i] ^ (mask & (w->kr[i] ^ w->kbar[i])));
out:
    sodium_memzero(w, sizeof(*w));
    return rc;
}
