/* mlkem: ML-KEM-768 speed (issue 22 point 5) and its 1,000,000-test known answer.
 *
 * Usage: mlkem            KeyGen, Encaps and Decaps in microseconds per operation (CPU
 *                         time, best of five runs), beside X25519 scalar multiplication
 *                         measured in the same run; targets: each at most 100 us.
 *        mlkem --million  the accumulated hash of 1,000,000 pq-crystals tests (see
 *                         tests/testkit/mlkem/README.md); exits 1 when it differs.
 *
 * The million tests draw 1.2 GB from one SHAKE128 stream, which OpenSSL 3.0 can only give
 * in one squeeze (no EVP_DigestSqueeze before 3.3); this program squeezes it with its own
 * small Keccak (FIPS 202), a test-only helper: libage itself hashes through OpenSSL. */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "libage/age.h"
#include "libage/mlkem.h"
#include "libage/mlkem_internal.h"

static const uint64_t keccak_rc[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};
/* rotation offsets r[x + 5y] */
static const unsigned keccak_rot[25] = {0,  1,  62, 28, 27, 36, 44, 6,  55, 20, 3,  10, 43,
                                        25, 39, 41, 45, 15, 21, 8,  18, 2,  61, 56, 14};

static uint64_t
rol(uint64_t v, unsigned n)
{
    return n == 0 ? v : (v << n) | (v >> (64 - n));
}

static void
keccak_f(uint64_t a[25])
{
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], b[25];
        for (int x = 0; x < 5; x++)
            c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ rol(c[(x + 1) % 5], 1);
            for (int y = 0; y < 5; y++)
                a[x + 5 * y] ^= d;
        }
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = rol(a[x + 5 * y], keccak_rot[x + 5 * y]);
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
        a[0] ^= keccak_rc[round];
    }
}

/* SHAKE128 of the empty string, squeezed block by block. */
struct stream {
    uint64_t a[25];
    unsigned char block[168];
    size_t pos;
};

static void
stream_init(struct stream *s)
{
    memset(s, 0, sizeof(*s));
    s->a[0] ^= 0x1f;                   /* SHAKE's domain bits and the first padding bit */
    s->a[20] ^= 0x8000000000000000ULL; /* the last padding bit: byte 167 of the rate */
    s->pos = sizeof(s->block);
}

static void
stream_read(struct stream *s, unsigned char *out, size_t len)
{
    while (len > 0) {
        if (s->pos == sizeof(s->block)) {
            keccak_f(s->a);
            for (size_t i = 0; i < sizeof(s->block); i++)
                s->block[i] = (unsigned char)(s->a[i / 8] >> (8 * (i % 8)));
            s->pos = 0;
        }
        *out++ = s->block[s->pos++];
        len--;
    }
}

static int
million(void)
{
    static const char want[] = "70090cc5842aad0ec43d5042c783fae9bc320c047b5dafcb6e134821db02384d";
    static unsigned char in[32 + 32 + 32 + 1088], ek[1184], dk[2400], ct[1088];
    unsigned char k1[32], k2[32], k3[32], h[32];
    char hex[65];
    struct stream s;
    EVP_MD_CTX *acc = EVP_MD_CTX_new();

    stream_init(&s);
    if (acc == NULL || !EVP_DigestInit_ex(acc, EVP_shake128(), NULL))
        return 2;
    for (unsigned long t = 0; t < 1000000; t++) {
        stream_read(&s, in, sizeof(in));
        if (t == 0 && memcmp(in, "\x7f\x9c\x2b\xa4", 4) != 0) {
            fprintf(stderr, "mlkem: the SHAKE128 stream is wrong\n");
            return 2;
        }
        /* the vectors predate FIPS 203's domain byte in G(d || k): see test_age_mlkem.c */
        if (age_mlkem768_keygen_draft(ek, dk, in) != 0 ||
            age_mlkem768_encaps(ct, k1, ek, in + 64) != 0 || age_mlkem768_decaps(k2, dk, ct) != 0 ||
            age_mlkem768_decaps(k3, dk, in + 96) != 0)
            return 2;
        if (memcmp(k1, k2, 32) != 0) {
            fprintf(stderr, "mlkem: test %lu: Decaps disagrees with Encaps\n", t);
            return 1;
        }
        EVP_DigestUpdate(acc, ek, sizeof(ek));
        EVP_DigestUpdate(acc, dk, sizeof(dk));
        EVP_DigestUpdate(acc, ct, sizeof(ct));
        EVP_DigestUpdate(acc, k1, sizeof(k1));
        EVP_DigestUpdate(acc, k3, sizeof(k3));
    }
    EVP_DigestFinalXOF(acc, h, sizeof(h));
    EVP_MD_CTX_free(acc);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    printf("mlkem768 1,000,000 accumulated: %s (%s)\n", hex,
           strcmp(hex, want) == 0 ? "ok" : "MISMATCH");
    return strcmp(hex, want) == 0 ? 0 : 1;
}

static double
cpu_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

enum op { KEYGEN, ENCAPS, DECAPS, X25519 };

/* best of five runs of n operations, in microseconds per operation */
static double
measure(enum op op, int n)
{
    static unsigned char seed[64], ek[1184], dk[2400], ct[1088], ss[32], m[32], pk[32];
    double best = 1e9;

    randombytes_buf(seed, sizeof(seed));
    randombytes_buf(m, sizeof(m));
    age_mlkem768_keygen(ek, dk, seed);
    age_mlkem768_encaps(ct, ss, ek, m);
    for (int run = 0; run < 5; run++) {
        double t0 = cpu_now(), us;
        for (int i = 0; i < n; i++) {
            switch (op) {
            case KEYGEN:
                seed[0] = (unsigned char)i;
                age_mlkem768_keygen(ek, dk, seed);
                break;
            case ENCAPS:
                m[0] = (unsigned char)i;
                age_mlkem768_encaps(ct, ss, ek, m);
                break;
            case DECAPS:
                age_mlkem768_decaps(ss, dk, ct);
                break;
            case X25519:
                seed[0] = (unsigned char)i;
                if (crypto_scalarmult(pk, seed, ek + 1152) != 0)
                    return -1;
                break;
            }
        }
        us = (cpu_now() - t0) * 1e6 / n;
        best = us < best ? us : best;
    }
    return best;
}

int
main(int argc, char **argv)
{
    int n = 2000;

    if (age_init() != 0)
        return 2;
    if (argc > 1 && strcmp(argv[1], "--million") == 0)
        return million();
    if (argc > 1 && strcmp(argv[1], "--quick") == 0)
        n = 200;
    measure(KEYGEN, 50); /* loads libcrypto and warms the caches */
    {
        double kg = measure(KEYGEN, n), en = measure(ENCAPS, n), de = measure(DECAPS, n);
        double x = measure(X25519, n);
        printf("mlkem768 keygen %.1f us, encaps %.1f us, decaps %.1f us (CPU, best of 5; "
               "target <= 100 us each)\n",
               kg, en, de);
        printf("x25519 scalar multiplication %.1f us (same run); decaps/x25519 = %.1fx\n", x,
               de / x);
        return kg <= 100 && en <= 100 && de <= 100 ? 0 : 1;
    }
}
