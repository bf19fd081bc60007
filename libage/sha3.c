/* sha3.c: SHA3-256, SHA3-512, SHAKE128 and SHAKE256 (FIPS 202) with a Keccak of our own
 * (see sha3.h for why not libcrypto's). */
#include "libage/sha3.h"

#include <sodium.h>
#include <stdint.h>
#include <string.h>

static const uint64_t round_constants[24] = {
    0x0000000000000001u, 0x0000000000008082u, 0x800000000000808au, 0x8000000080008000u,
    0x000000000000808bu, 0x0000000080000001u, 0x8000000080008081u, 0x8000000000008009u,
    0x000000000000008au, 0x0000000000000088u, 0x0000000080008009u, 0x000000008000000au,
    0x000000008000808bu, 0x800000000000008bu, 0x8000000000008089u, 0x8000000000008003u,
    0x8000000000008002u, 0x8000000000000080u, 0x000000000000800au, 0x800000008000000au,
    0x8000000080008081u, 0x8000000000008080u, 0x0000000080000001u, 0x8000000080008008u,
};

/* rho and pi walk the 24 lanes other than (0, 0) in one cycle, starting at lane (1, 0): pi
 * moves lane x + 5y to y + 5(2x + 3y mod 5), which receives it rotated by rho's offset */
static const unsigned char pi_lanes[24] = {
    10, 7, 11, 17, 18, 3, 5, 16, 8, 21, 24, 4, 15, 23, 19, 13, 12, 2, 20, 14, 22, 9, 6, 1,
};
static const unsigned char rho_offsets[24] = {
    1, 3, 6, 10, 15, 21, 28, 36, 45, 55, 2, 14, 27, 41, 56, 8, 25, 43, 62, 18, 39, 61, 20, 44,
};

static inline uint64_t
rol(uint64_t v, unsigned n)
{
    return (v << n) | (v >> ((64 - n) & 63));
}

/* keccak_f1600: the permutation, lanes indexed x + 5y, its steps unrolled (the indices are
 * constants, which also makes it constant time whatever the state: ML-KEM hashes secrets
 * with it). */
static void
keccak_f1600(uint64_t a[25])
{
    uint64_t c0, c1, c2, c3, c4, d, t, u;

    for (unsigned r = 0; r < 24; r++) {
        /* theta */
        c0 = a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20];
        c1 = a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21];
        c2 = a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22];
        c3 = a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23];
        c4 = a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24];
#define THETA(x, prev, next)                                                                       \
    d = (prev) ^ rol((next), 1);                                                                   \
    a[x] ^= d;                                                                                     \
    a[x + 5] ^= d;                                                                                 \
    a[x + 10] ^= d;                                                                                \
    a[x + 15] ^= d;                                                                                \
    a[x + 20] ^= d
        THETA(0, c4, c1);
        THETA(1, c0, c2);
        THETA(2, c1, c3);
        THETA(3, c2, c4);
        THETA(4, c3, c0);
#undef THETA
        /* rho and pi */
        t = a[1];
        for (unsigned i = 0; i < 24; i++) {
            u = a[pi_lanes[i]];
            a[pi_lanes[i]] = rol(t, rho_offsets[i]);
            t = u;
        }
        /* chi, row by row */
        for (unsigned y = 0; y < 25; y += 5) {
            c0 = a[y];
            c1 = a[y + 1];
            c2 = a[y + 2];
            c3 = a[y + 3];
            c4 = a[y + 4];
            a[y] = c0 ^ (~c1 & c2);
            a[y + 1] = c1 ^ (~c2 & c3);
            a[y + 2] = c2 ^ (~c3 & c4);
            a[y + 3] = c3 ^ (~c4 & c0);
            a[y + 4] = c4 ^ (~c0 & c1);
        }
        /* iota */
        a[0] ^= round_constants[r];
    }
}

static void
xor_bytes(uint64_t a[25], size_t off, const unsigned char *in, size_t len)
{
    for (size_t i = 0; i < len; i++)
        a[(off + i) / 8] ^= (uint64_t)in[i] << (8 * ((off + i) % 8));
}

int
age_sha3(enum age_sha3_alg alg, const struct age_bytes *in, size_t n, unsigned char *out,
         size_t out_len)
{
    static const size_t rates[] = {136, 72, 168, 136};
    uint64_t a[25] = {0};
    size_t rate, pos = 0;
    unsigned char pad;

    if ((unsigned)alg > AGE_SHAKE256)
        return M3_EINVAL;
    if ((alg == AGE_SHA3_256 && out_len != 32) || (alg == AGE_SHA3_512 && out_len != 64))
        return M3_EINVAL;
    rate = rates[alg];
    /* absorb */
    for (size_t i = 0; i < n; i++) {
        const unsigned char *p = in[i].p;
        size_t len = in[i].len;
        while (len > 0) {
            size_t take = rate - pos < len ? rate - pos : len;
            xor_bytes(a, pos, p, take);
            pos += take;
            p += take;
            len -= take;
            if (pos == rate) {
                keccak_f1600(a);
                pos = 0;
            }
        }
    }
    /* pad10*1 after the domain bits: 01 for SHA-3, 1111 for SHAKE (FIPS 202, B.2) */
    pad = alg >= AGE_SHAKE128 ? 0x1f : 0x06;
    xor_bytes(a, pos, &pad, 1);
    pad = 0x80;
    xor_bytes(a, rate - 1, &pad, 1);
    keccak_f1600(a);
    /* squeeze */
    for (size_t done = 0; done < out_len;) {
        size_t take = out_len - done < rate ? out_len - done : rate;
        for (size_t i = 0; i < take; i++)
            out[done + i] = (unsigned char)(a[i / 8] >> (8 * (i % 8)));
        done += take;
        if (done < out_len)
            keccak_f1600(a);
    }
    sodium_memzero(a, sizeof(a));
    return 0;
}
