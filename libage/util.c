/* util.c: library initialisation, secret memory, base64, HKDF and the wrap-key AEAD. */
#include "libage/internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = M3_ENOMEM;

/* Randomness. libsodium's default source on Linux asks the kernel (getrandom) on every
 * randombytes_buf call: a rekey drew 11 times per file (file key, payload nonce, one
 * ephemeral share per recipient, a temp name), each call tens of microseconds on a virtual
 * machine, more than the file's X25519 work. So every randombytes_* call of the process
 * (libage's, libsodium's own, the other layers') goes to the generator below, installed
 * as libsodium's implementation before sodium_init:
 *   - one state per thread (no lock), 32 bytes of secret memory, seeded with 32 bytes from
 *     the kernel's CSPRNG (libsodium's getrandom-based source) on the thread's first use,
 *     again after every 2^16 requests, and again in a child after fork (the state would
 *     otherwise be shared with the parent: a generation counter bumped by pthread_atfork);
 *   - each request: ChaCha20 under the state key with nonce 1 gives the output, then
 *     ChaCha20 with nonce 0 gives the next key, which replaces the old one at once ("fast
 *     key erasure"): output blocks are ChaCha20 keystream under a uniformly random 256-bit
 *     key never used twice with a nonce, so they are indistinguishable from random as long
 *     as ChaCha20 is a PRF, and a later compromise of the state reveals nothing of earlier
 *     outputs (file keys of files already written), because the key that made them is gone.
 * File keys, ephemeral X25519 scalars and nonces are therefore still drawn from a CSPRNG
 * seeded by the kernel; only the number of system calls changes (one per thread and run).
 * A thread whose state cannot be allocated falls back to the kernel for each request. */
#define RNG_RESEED_REQUESTS 65536u
#define RNG_PIECE ((size_t)1 << 20) /* bytes per ChaCha20 run, far below its 2^38 limit */

struct rng_state {
    unsigned char key[32];
    uint64_t gen; /* rng_fork_gen when seeded */
    uint32_t requests;
};

static pthread_key_t rng_key;
static _Atomic bool rng_ready; /* after sodium_init: before, its own setup draws (canary) */
static _Atomic uint64_t rng_fork_gen = 1;

static void
rng_after_fork(void)
{
    atomic_fetch_add(&rng_fork_gen, 1);
}

static void
rng_thread_exit(void *p)
{
    age_secret_free(p); /* wiped */
}

static void
rng_buf(void *const buf, const size_t size)
{
    static const unsigned char nonce_out[12] = {1}, nonce_key[12] = {0};
    unsigned char *p = buf, next[32];
    bool ready = atomic_load(&rng_ready);
    struct rng_state *st = ready ? pthread_getspecific(rng_key) : NULL;
    size_t n = size;

    if (st == NULL && ready && (st = age_secret_alloc(sizeof(*st))) != NULL &&
        pthread_setspecific(rng_key, st) != 0) {
        age_secret_free(st);
        st = NULL;
    }
    if (st == NULL) {
        randombytes_sysrandom_implementation.buf(buf, size);
        return;
    }
    if (st->gen != atomic_load(&rng_fork_gen) || st->requests >= RNG_RESEED_REQUESTS) {
        randombytes_sysrandom_implementation.buf(st->key, sizeof(st->key));
        st->gen = atomic_load(&rng_fork_gen);
        st->requests = 0;
    }
    do {
        size_t k = n < RNG_PIECE ? n : RNG_PIECE;
        crypto_stream_chacha20_ietf(p, k, nonce_out, st->key);
        crypto_stream_chacha20_ietf(next, sizeof(next), nonce_key, st->key);
        memcpy(st->key, next, sizeof(next));
        p += k;
        n -= k;
    } while (n > 0);
    st->requests++;
    sodium_memzero(next, sizeof(next));
}

static uint32_t
rng_random(void)
{
    uint32_t r;

    rng_buf(&r, sizeof(r));
    return r;
}

/* rng_uniform: uniform in [0, upper) by rejection (no modulo bias). */
static uint32_t
rng_uniform(const uint32_t upper)
{
    uint32_t min, r;

    if (upper < 2)
        return 0;
    min = (1U + ~upper) % upper; /* 2^32 mod upper */
    do
        r = rng_random();
    while (r < min);
    return r % upper;
}

static const char *
rng_name(void)
{
    return "m3age-chacha20-fke";
}

static void
rng_stir(void)
{
    /* Seeding is lazy, per thread (sodium_init calls this under age_init's once). */
}

static randombytes_implementation rng_impl = {
    .implementation_name = rng_name,
    .random = rng_random,
    .stir = rng_stir,
    .uniform = rng_uniform,
    .buf = rng_buf,
    .close = NULL,
};

static void
do_init(void)
{
    bool keyed = pthread_key_create(&rng_key, rng_thread_exit) == 0 &&
                 pthread_atfork(NULL, NULL, rng_after_fork) == 0;

    randombytes_set_implementation(&rng_impl);
    if (sodium_init() < 0)
        return;
    /* From here the per-thread states may be allocated (age_secret_alloc needs age_init). */
    atomic_store(&rng_ready, keyed);
    init_result = 0;
}

int
age_init(void)
{
    pthread_once(&init_once, do_init);
    return init_result;
}

/* Secret memory. Every sodium_malloc costs an mmap, two mprotects (its guard pages) and an
 * mlock, and every sodium_free an mprotect, a munlock and a munmap; each protection change
 * flushes the TLB of every CPU the process ran on, which on this kind of virtual machine
 * costs tens of microseconds. A file key, a stream key or a small file's plaintext would
 * cost more to allocate than to use. So small secrets (up to POOL_MAX bytes) come from
 * slabs: sodium_malloc'd (locked, guard pages around each slab, excluded from core dumps),
 * carved into power-of-two blocks, each block wiped when freed and kept for reuse.
 * Larger buffers keep their own sodium_malloc region. Sanitizer builds use a region per
 * allocation, so that AddressSanitizer and the guard pages see every overflow. */
#if defined(__SANITIZE_ADDRESS__)
#define POOL_DISABLED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define POOL_DISABLED 1
#endif
#endif
#ifndef POOL_DISABLED
#define POOL_DISABLED 0
#endif
#define POOL_MIN_SHIFT 5  /* 32-byte blocks */
#define POOL_MAX_SHIFT 12 /* 4 KiB blocks: a small file's whole payload buffer */
#define POOL_CLASSES (POOL_MAX_SHIFT - POOL_MIN_SHIFT + 1)
#define POOL_MAX ((size_t)1 << POOL_MAX_SHIFT)
/* A slab: one page, or four blocks; sized so that an idle class costs little resident
 * memory. */
#define POOL_SLAB_FOR(bs) ((bs)*4 > 4096 ? (bs)*4 : (size_t)4096)

struct pool_slab {
    unsigned char *base;
    size_t len;
    unsigned cls;
};

static struct {
    pthread_mutex_t mu;
    void *free_list[POOL_CLASSES]; /* wiped blocks; the first word links to the next */
    struct pool_slab *slabs;
    size_t nslabs, cap;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

static unsigned
pool_class(size_t n)
{
    unsigned c = 0;

    while (((size_t)1 << (POOL_MIN_SHIFT + c)) < n)
        c++;
    return c;
}

/* pool_new_slab: a slab for class c, its blocks pushed on the free list. Locked. */
static int
pool_new_slab(unsigned c)
{
    size_t bs = (size_t)1 << (POOL_MIN_SHIFT + c), len = POOL_SLAB_FOR(bs);
    unsigned char *base;

    if (pool.nslabs == pool.cap) {
        size_t ncap = pool.cap ? pool.cap * 2 : 16;
        struct pool_slab *ns = realloc(pool.slabs, ncap * sizeof(*ns));
        if (ns == NULL)
            return -1;
        pool.slabs = ns;
        pool.cap = ncap;
    }
    if ((base = sodium_malloc(len)) == NULL)
        return -1;
    sodium_memzero(base, len);
    for (size_t off = len; off >= bs; off -= bs) {
        void **blk = (void **)(base + off - bs);
        *blk = pool.free_list[c];
        pool.free_list[c] = blk;
    }
    pool.slabs[pool.nslabs].base = base;
    pool.slabs[pool.nslabs].len = len;
    pool.slabs[pool.nslabs].cls = c;
    pool.nslabs++;
    return 0;
}

/* pool_find: the slab holding p, or NULL. Locked. */
static const struct pool_slab *
pool_find(const void *p)
{
    const unsigned char *q = p;

    for (size_t i = 0; i < pool.nslabs; i++)
        if (q >= pool.slabs[i].base && q < pool.slabs[i].base + pool.slabs[i].len)
            return &pool.slabs[i];
    return NULL;
}

void *
age_secret_alloc(size_t n)
{
    void *p = NULL;

    if (age_init() != 0)
        return NULL;
    if (n == 0)
        n = 1;
    if (!POOL_DISABLED && n <= POOL_MAX) {
        unsigned c = pool_class(n);
        pthread_mutex_lock(&pool.mu);
        if (pool.free_list[c] != NULL || pool_new_slab(c) == 0) {
            p = pool.free_list[c];
            pool.free_list[c] = *(void **)p;
        }
        pthread_mutex_unlock(&pool.mu);
        if (p != NULL)
            sodium_memzero(p, sizeof(void *)); /* blocks are wiped when freed */
        return p;
    }
    p = sodium_malloc(n);
    if (p != NULL)
        sodium_memzero(p, n);
    return p;
}

void
age_secret_free(void *p)
{
    const struct pool_slab *s;

    if (p == NULL)
        return;
    if (!POOL_DISABLED) {
        pthread_mutex_lock(&pool.mu);
        if ((s = pool_find(p)) != NULL) {
            unsigned c = s->cls;
            sodium_memzero(p, (size_t)1 << (POOL_MIN_SHIFT + c));
            *(void **)p = pool.free_list[c];
            pool.free_list[c] = p;
            pthread_mutex_unlock(&pool.mu);
            return;
        }
        pthread_mutex_unlock(&pool.mu);
    }
    /* sodium_free wipes the whole region before unmapping it. */
    sodium_free(p);
}

char *
age_secret_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = age_secret_alloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

char *
age_b64_encode(const unsigned char *in, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    char *out = malloc(cap);

    if (out == NULL)
        return NULL;
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    return out;
}

int
age_b64_decode(const char *in, size_t in_len, unsigned char *out, size_t cap, size_t *len)
{
    const char *end = NULL;
    size_t n = 0;

    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return M3_EINVAL;
    }
    /* libsodium's no-padding variant rejects '=' and non-zero trailing bits, which is
     * exactly the spec's "canonical base64" rule; stray characters stop it early, which
     * the end pointer reveals. */
    if (sodium_base642bin(out, cap, in, in_len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
        return M3_EINVAL;
    if (end != in + in_len)
        return M3_EINVAL;
    if (len != NULL)
        *len = n;
    return 0;
}

int
age_b64_arg_decode(const char *arg, unsigned char *out, size_t want, const char *what,
                   struct m3_diag *d)
{
    size_t n = 0;

    if (age_b64_decode(arg, strlen(arg), out, want, &n) != 0 || n != want)
        return m3_diag_set(d, M3_EHEADER, "%s is not canonical base64 of %zu bytes", what, want);
    return 0;
}

/* HKDF-SHA-256 (RFC 5869) over libsodium's HMAC-SHA-256. OpenSSL has HKDF too, but its first
 * use in a process loads the providers and fetches the algorithm: about 5 million
 * instructions (1-2 ms here), more than everything else a small decrypt does, and every
 * command derives keys. The construction is two HMAC steps; libsodium does the hashing.
 * tests/unit/test_age_kat.c checks it against RFC 5869's vectors and against OpenSSL's HKDF. */
int
age_hkdf(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt, size_t salt_len,
         const char *info, unsigned char *out, size_t out_len)
{
    crypto_auth_hmacsha256_state st;
    unsigned char prk[crypto_auth_hmacsha256_BYTES], t[crypto_auth_hmacsha256_BYTES];
    size_t info_len = strlen(info), done = 0;
    unsigned char counter = 0;

    if (age_init() != 0)
        return M3_ENOMEM;
    if (out_len > 255 * sizeof(t))
        return M3_EINVAL;
    /* Extract: PRK = HMAC(salt, IKM). An absent salt is HashLen zero bytes, which HMAC pads
     * to the same block as an empty key. */
    static const unsigned char no_salt[1];
    crypto_auth_hmacsha256_init(&st, salt_len ? salt : no_salt, salt_len);
    crypto_auth_hmacsha256_update(&st, ikm, ikm_len);
    crypto_auth_hmacsha256_final(&st, prk);
    /* Expand: T(i) = HMAC(PRK, T(i-1) || info || i). */
    while (done < out_len) {
        size_t n = out_len - done < sizeof(t) ? out_len - done : sizeof(t);
        counter++;
        crypto_auth_hmacsha256_init(&st, prk, sizeof(prk));
        if (counter > 1)
            crypto_auth_hmacsha256_update(&st, t, sizeof(t));
        crypto_auth_hmacsha256_update(&st, (const unsigned char *)info, info_len);
        crypto_auth_hmacsha256_update(&st, &counter, 1);
        crypto_auth_hmacsha256_final(&st, t);
        memcpy(out + done, t, n);
        done += n;
    }
    sodium_memzero(&st, sizeof(st));
    sodium_memzero(prk, sizeof(prk));
    sodium_memzero(t, sizeof(t));
    return 0;
}

void
age_wrap_seal(const unsigned char *wrap_key, const unsigned char *file_key, unsigned char *body)
{
    static const unsigned char zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, file_key, AGE_FILE_KEY_SIZE, NULL, 0,
                                              NULL, zero_nonce, wrap_key);
}

int
age_wrap_open(const unsigned char *wrap_key, const unsigned char *body, size_t body_len,
              unsigned char *file_key)
{
    static const unsigned char zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    if (body_len != AGE_WRAPPED_SIZE)
        return M3_EHEADER;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(file_key, NULL, NULL, body, body_len, NULL, 0,
                                                  zero_nonce, wrap_key) != 0)
        return M3_ENOMATCH;
    return 0;
}

int
age_stanza_arg_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 33 || (unsigned char)*s > 126)
            return 0;
    return 1;
}
