/* aead_raw: the raw ChaCha20-Poly1305 rate over 64 KiB chunks in one thread, with OpenSSL's
 * EVP interface (what libage uses) and, for reference, libsodium's. The ceiling a single-
 * threaded age implementation can reach: no I/O, no header, one reused context, a fresh
 * nonce per chunk as STREAM does.
 *
 * Usage: aead_raw [MIB]   (default 1024 MiB of plaintext per measurement)
 * Prints, one per line, "NAME MiB/s": openssl_seal, openssl_open, sodium_seal, sodium_open.
 * Each figure is the best of three runs. */
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHUNK 65536
#define TAG 16

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
nonce_for(unsigned char n[12], unsigned long long i, int last)
{
    memset(n, 0, 12);
    for (int k = 10; k >= 3; k--, i >>= 8)
        n[k] = (unsigned char)i;
    n[11] = (unsigned char)last;
}

static void
die(const char *what)
{
    fprintf(stderr, "aead_raw: %s failed\n", what);
    exit(1);
}

/* OpenSSL: seal (enc = 1) or open (enc = 0) chunks 0..nchunks-1 of buf in place, one context
 * for all of them as a streaming implementation keeps; returns seconds. */
static double
run_openssl(int enc, const unsigned char *key, unsigned char *buf, unsigned char *tags,
            size_t nchunks)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char nonce[12];
    int n;
    double t0;

    if (c == NULL || EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key, NULL, enc) != 1)
        die("EVP_CipherInit_ex");
    t0 = now();
    for (size_t i = 0; i < nchunks; i++) {
        unsigned char *tag = tags + i * TAG;
        nonce_for(nonce, i, 0);
        if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, enc) != 1)
            die("nonce");
        if (!enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, TAG, tag) != 1)
            die("set tag");
        if (EVP_CipherUpdate(c, buf + i * CHUNK, &n, buf + i * CHUNK, CHUNK) != 1)
            die("update");
        if (EVP_CipherFinal_ex(c, buf + i * CHUNK + n, &n) != 1)
            die(enc ? "seal" : "open (tag)");
        if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, TAG, tag) != 1)
            die("get tag");
    }
    t0 = now() - t0;
    EVP_CIPHER_CTX_free(c);
    return t0;
}

static double
run_sodium(int enc, const unsigned char *key, unsigned char *buf, unsigned char *tags,
           size_t nchunks)
{
    unsigned char nonce[12];
    double t0 = now();

    for (size_t i = 0; i < nchunks; i++) {
        unsigned char *tag = tags + i * TAG, *p = buf + i * CHUNK;
        nonce_for(nonce, i, 0);
        if (enc)
            crypto_aead_chacha20poly1305_ietf_encrypt_detached(p, tag, NULL, p, CHUNK, NULL, 0,
                                                               NULL, nonce, key);
        else if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(p, NULL, p, CHUNK, tag, NULL, 0,
                                                                    nonce, key) != 0)
            die("sodium open (tag)");
    }
    return now() - t0;
}

/* Seal then open the same chunks in a 64-chunk ring (4 MiB: cache-resident like a streaming
 * implementation's batch), so that every open really verifies. */
static void
measure(const char *name,
        double (*fn)(int, const unsigned char *, unsigned char *, unsigned char *, size_t),
        const unsigned char *key, unsigned char *ring, unsigned char *tags, size_t nchunks)
{
    double best_seal = 1e9, best_open = 1e9;
    double mib = (double)nchunks * CHUNK / (1024.0 * 1024.0);

    for (int r = 0; r < 3; r++) {
        double ts = 0, to = 0;
        /* in rounds of 64 chunks: seal a ring's worth, then open it (counters per round) */
        for (size_t done = 0; done < nchunks; done += 64) {
            size_t k = nchunks - done < 64 ? nchunks - done : 64;
            ts += fn(1, key, ring, tags, k);
            to += fn(0, key, ring, tags, k);
        }
        if (ts < best_seal)
            best_seal = ts;
        if (to < best_open)
            best_open = to;
    }
    printf("%s_seal %.0f\n", name, mib / best_seal);
    printf("%s_open %.0f\n", name, mib / best_open);
}

int
main(int argc, char **argv)
{
    size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 1024;
    size_t nchunks = mib * 16; /* 16 chunks of 64 KiB per MiB */
    unsigned char key[32], *ring = NULL, *tags = NULL;

    if (sodium_init() < 0 || nchunks == 0)
        die("init");
    /* page-aligned buffers: see issue 2, misaligned chunk copies are much slower */
    if (posix_memalign((void **)&ring, 4096, 64 * (size_t)CHUNK) != 0 ||
        posix_memalign((void **)&tags, 64, 64 * TAG) != 0)
        die("posix_memalign");
    memset(ring, 0x5a, 64 * (size_t)CHUNK);
    randombytes_buf(key, sizeof(key));
    measure("openssl", run_openssl, key, ring, tags, nchunks);
    measure("sodium", run_sodium, key, ring, tags, nchunks);
    free(ring);
    free(tags);
    return 0;
}
