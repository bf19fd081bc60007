/* stream.c: STREAM chunks (c2sp.org/age: ChaCha20-Poly1305, nonce = 11-byte big-endian
 * counter || last-chunk flag) sealed and opened in place, across worker threads. */
#include "libage/stream.h"
#include "libage/cryptolib.h" /* OpenSSL's EVP, opened on first use */
#include "libage/internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Work sharing. A batch's jobs are claimed one at a time through `claim`, which holds the
 * batch generation (high 32 bits), the batch's job count (16 bits) and the next job index
 * (low 16 bits): a worker that is late for a batch cannot take a job of the next one,
 * because its compare-and-swap carries the old generation. The caller's thread claims jobs too once
 * it has done its own I/O (age_stream_wait), so with T threads wanted there are T-1 background
 * workers and no core is oversubscribed. Threads spin briefly before sleeping: a batch lasts about
 * a hundred microseconds, and waking a sleeping thread costs tens of them on a virtual machine. */
#define SPIN_ROUNDS 4000

struct age_stream {
    unsigned char *key; /* secret memory */
    unsigned nworkers;  /* background threads; 0: the caller does the work */
    unsigned started;
    EVP_CIPHER_CTX *ctx[AGE_MAX_THREADS + 1][2]; /* [worker, or the caller last][encrypt] */
    unsigned char *copy[AGE_MAX_THREADS + 1];    /* per thread: a chunk's ciphertext (job_sodium) */
    pthread_t th[AGE_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv_go, cv_done;
    _Atomic uint64_t claim; /* generation << 32 | job count << 16 | next job index */
    _Atomic uint32_t gen;   /* the current batch's generation */
    _Atomic size_t pending; /* jobs of the current batch not finished */
    _Atomic bool quit;
    _Atomic bool waiting; /* the caller sleeps on cv_done */
    unsigned sleepers;    /* workers asleep on cv_go (under mu) */
    struct age_chunk_job *jobs;
    size_t njobs;
    bool encrypt;
};

static void
make_nonce(unsigned char nonce[12], uint64_t counter, bool final)
{
    memset(nonce, 0, 3);
    for (int i = 0; i < 8; i++)
        nonce[3 + i] = (unsigned char)(counter >> (56 - 8 * i));
    nonce[11] = final ? 1 : 0;
}

static EVP_CIPHER_CTX *
ctx_for(struct age_stream *s, unsigned t, bool encrypt)
{
    EVP_CIPHER_CTX **c = &s->ctx[t][encrypt];

    if (*c == NULL) {
        if (m3_crypto_load(NULL) != 0) /* age_stream_prepare reported it */
            return NULL;
        *c = EVP_CIPHER_CTX_new();
        if (*c == NULL)
            return NULL;
        if (EVP_CipherInit_ex(*c, EVP_chacha20_poly1305(), NULL, s->key, NULL, encrypt) != 1) {
            EVP_CIPHER_CTX_free(*c);
            *c = NULL;
        }
    }
    return *c;
}

/* The first AGE_SODIUM_CHUNKS chunks of every stream (the whole of any file up to 1 MiB, which is
 * nearly every secret) are sealed and opened by libsodium; the rest by OpenSSL. OpenSSL's
 * ChaCha20-Poly1305 is about three times faster on long runs here, but its first use in a
 * process fetches the cipher from its providers, about 3 million instructions (1-2 ms): more
 * than a small file costs in all. Both compute the same function; which one runs depends
 * only on the chunk's position, so the output never depends on it. */
static bool
job_sodium(struct age_stream *s, unsigned t, struct age_chunk_job *j, const unsigned char nonce[12],
           bool encrypt)
{
    size_t clen;
    bool retry;

    if (encrypt) {
        unsigned char *o = j->out != NULL ? j->out : j->p;
        crypto_aead_chacha20poly1305_ietf_encrypt_detached(o, o + j->len, NULL, j->p, j->len, NULL,
                                                           0, NULL, nonce, s->key);
        return true;
    }
    if (j->len < AGE_TAG_SIZE)
        return false;
    clen = j->len - AGE_TAG_SIZE;
    /* A full chunk opened as not last may be tried again as last (decrypt.c), but libsodium
     * zeroes its output when the tag does not match, and the output is the input here: keep
     * the ciphertext (public bytes) to put back. */
    retry = !j->final && j->len == AGE_CT_CHUNK;
    if (retry) {
        if (s->copy[t] == NULL && (s->copy[t] = malloc(AGE_CT_CHUNK)) == NULL)
            return false;
        memcpy(s->copy[t], j->p, clen);
    }
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(j->p, NULL, j->p, clen, j->p + clen,
                                                           NULL, 0, nonce, s->key) == 0)
        return true;
    if (retry)
        memcpy(j->p, s->copy[t], clen);
    return false;
}

static bool
do_job(struct age_stream *s, unsigned t, struct age_chunk_job *j, bool encrypt)
{
    EVP_CIPHER_CTX *c;
    unsigned char nonce[12];
    int outl = 0, fl = 0;

    if (j->fn != NULL) {
        j->fn(j);
        return true;
    }
    make_nonce(nonce, j->counter, j->final);
    if (j->counter < AGE_SODIUM_CHUNKS)
        return job_sodium(s, t, j, nonce, encrypt);
    if ((c = ctx_for(s, t, encrypt)) == NULL)
        return false;
    if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, encrypt) != 1)
        return false;
    if (encrypt) {
        unsigned char *o = j->out != NULL ? j->out : j->p;
        if (EVP_CipherUpdate(c, o, &outl, j->p, (int)j->len) != 1 ||
            EVP_CipherFinal_ex(c, o + outl, &fl) != 1 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AGE_TAG_SIZE, o + j->len) != 1)
            return false;
        return true;
    }
    if (j->len < AGE_TAG_SIZE)
        return false;
    {
        size_t clen = j->len - AGE_TAG_SIZE;
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AGE_TAG_SIZE, j->p + clen) != 1)
            return false;
        if (EVP_CipherUpdate(c, j->p, &outl, j->p, (int)clen) != 1)
            return false;
        if (EVP_CipherFinal_ex(c, j->p + outl, &fl) != 1) {
            /* Authentication failed. Applying the same keystream again turns the bytes back
             * into the ciphertext: nothing unauthenticated stays in the buffer, and the chunk
             * can be tried again with the other last-chunk flag. */
            EVP_CIPHER_CTX *e = ctx_for(s, t, true);
            if (e == NULL || EVP_CipherInit_ex(e, NULL, NULL, NULL, nonce, 1) != 1 ||
                EVP_CipherUpdate(e, j->p, &outl, j->p, (int)clen) != 1)
                OPENSSL_cleanse(j->p, clen);
            return false;
        }
    }
    return true;
}

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* work: claims and runs jobs of batch `g` until none is left; thread slot t. */
static void
work(struct age_stream *s, unsigned t, uint32_t g)
{
    for (;;) {
        uint64_t w = atomic_load(&s->claim);
        size_t i = (size_t)(w & 0xffffu), n = (size_t)((w >> 16) & 0xffffu);
        if ((uint32_t)(w >> 32) != g || i >= n)
            return;
        if (!atomic_compare_exchange_weak(&s->claim, &w, w + 1))
            continue;
        /* The batch cannot end while this job is unfinished: jobs and njobs stay valid. */
        s->jobs[i].ok = do_job(s, t, &s->jobs[i], s->encrypt);
        if (atomic_fetch_sub(&s->pending, 1) == 1 && atomic_load(&s->waiting)) {
            pthread_mutex_lock(&s->mu);
            pthread_cond_broadcast(&s->cv_done);
            pthread_mutex_unlock(&s->mu);
        }
    }
}

static void *
worker(void *arg)
{
    struct age_stream *s = arg;
    unsigned t;
    uint32_t seen = 0, g;

    pthread_mutex_lock(&s->mu);
    t = s->started++; /* worker index: 0 .. nworkers-1 */
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
    for (;;) {
        int spins = 0;
        while ((g = atomic_load(&s->gen)) == seen && !atomic_load(&s->quit)) {
            if (++spins < SPIN_ROUNDS) {
                cpu_relax();
                continue;
            }
            pthread_mutex_lock(&s->mu);
            s->sleepers++;
            while (atomic_load(&s->gen) == seen && !atomic_load(&s->quit))
                pthread_cond_wait(&s->cv_go, &s->mu);
            s->sleepers--;
            pthread_mutex_unlock(&s->mu);
            spins = 0;
        }
        if (atomic_load(&s->quit))
            return NULL;
        seen = g;
        work(s, t, g);
    }
}

int
age_stream_new(struct age_stream **out, const unsigned char *key, unsigned threads)
{
    struct age_stream *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (s == NULL)
        return M3_ENOMEM;
    if ((s->key = age_secret_alloc(32)) == NULL) {
        free(s);
        return M3_ENOMEM;
    }
    memcpy(s->key, key, 32);
    if (threads > AGE_MAX_THREADS)
        threads = AGE_MAX_THREADS;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv_go, NULL);
    pthread_cond_init(&s->cv_done, NULL);
    /* With T > 1 threads wanted, T-1 background workers start on each batch while the
     * caller's thread does its I/O, which then joins them (age_stream_wait). The workers'
     * cipher contexts are made here: allocating them in the workers would give each thread
     * its own malloc arena, which costs resident memory for nothing. */
    if (threads > 1)
        for (unsigned i = 0; i + 1 < threads; i++) {
            if (ctx_for(s, i, true) == NULL || ctx_for(s, i, false) == NULL)
                break;
            if (pthread_create(&s->th[i], NULL, worker, s) != 0)
                break;
            s->nworkers++;
        }
    pthread_mutex_lock(&s->mu);
    while (s->started < s->nworkers)
        pthread_cond_wait(&s->cv_done, &s->mu);
    pthread_mutex_unlock(&s->mu);
    *out = s;
    return 0;
}

void
age_stream_start(struct age_stream *s, struct age_chunk_job *jobs, size_t n, bool encrypt)
{
    uint32_t g;

    s->jobs = jobs;
    s->njobs = n;
    s->encrypt = encrypt;
    if (s->nworkers == 0) {
        for (size_t i = 0; i < n; i++)
            jobs[i].ok = do_job(s, AGE_MAX_THREADS, &jobs[i], encrypt);
        return;
    }
    /* The previous batch is over (age_stream_wait): no worker holds a job. */
    g = atomic_load(&s->gen) + 1;
    atomic_store(&s->pending, n);
    atomic_store(&s->claim, (uint64_t)g << 32 | (uint64_t)n << 16);
    atomic_store(&s->gen, g);
    pthread_mutex_lock(&s->mu);
    if (s->sleepers > 0)
        pthread_cond_broadcast(&s->cv_go);
    pthread_mutex_unlock(&s->mu);
}

void
age_stream_wait(struct age_stream *s)
{
    int spins = 0;

    if (s->nworkers == 0)
        return;
    work(s, AGE_MAX_THREADS, atomic_load(&s->gen)); /* help with what is left */
    while (atomic_load(&s->pending) > 0) {
        if (++spins < SPIN_ROUNDS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->waiting, true);
        while (atomic_load(&s->pending) > 0)
            pthread_cond_wait(&s->cv_done, &s->mu);
        atomic_store(&s->waiting, false);
        pthread_mutex_unlock(&s->mu);
    }
}

void
age_stream_run(struct age_stream *s, struct age_chunk_job *jobs, size_t n, bool encrypt)
{
    age_stream_start(s, jobs, n, encrypt);
    age_stream_wait(s);
}

bool
age_stream_parallel(const struct age_stream *s)
{
    return s->nworkers > 0;
}

int
age_stream_prepare(uint64_t end, struct m3_diag *d)
{
    if (end <= AGE_SODIUM_CHUNKS)
        return 0;
    return m3_crypto_load(d);
}

bool
age_stream_open1(struct age_stream *s, struct age_chunk_job *job)
{
    job->ok = do_job(s, AGE_MAX_THREADS, job, false);
    return job->ok;
}

void
age_stream_free(struct age_stream *s)
{
    if (s == NULL)
        return;
    pthread_mutex_lock(&s->mu);
    atomic_store(&s->quit, true);
    pthread_cond_broadcast(&s->cv_go);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->th[i], NULL);
    for (unsigned i = 0; i <= AGE_MAX_THREADS; i++)
        for (int e = 0; e < 2; e++)
            if (s->ctx[i][e] != NULL)              /* else libcrypto may not even be loaded */
                EVP_CIPHER_CTX_free(s->ctx[i][e]); /* OpenSSL cleanses the key schedule */
    for (unsigned i = 0; i <= AGE_MAX_THREADS; i++)
        free(s->copy[i]);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_go);
    pthread_cond_destroy(&s->cv_done);
    age_secret_free(s->key);
    free(s);
}

size_t
age_batch_size(void)
{
    /* a page to spare: decrypt.c places a batch at its input offset within a page */
    size_t n = AGE_BATCH_CHUNKS * AGE_CT_CHUNK + AGE_LOOKAHEAD + 4096, page = 4096;

    return (n + page - 1) / page * page;
}

int
age_batch_grow(unsigned char **buf, size_t *cap, size_t used, size_t need)
{
    size_t full = age_batch_size(), n = *cap > 0 ? *cap : 4096;
    unsigned char *p;

    if (need <= *cap)
        return 0;
    while (n < need && n < full)
        n *= 2;
    if (n > full)
        n = full;
    if (n < need)
        return M3_ENOMEM; /* callers never ask for more than a batch */
    /* Whole pages: sodium_malloc then puts the start on a page boundary (see below). */
    n = (n + 4095) / 4096 * 4096;
    if ((p = age_secret_alloc(n)) == NULL)
        return M3_ENOMEM;
    if (used > 0)
        memcpy(p, *buf, used);
    age_secret_free(*buf);
    *buf = p;
    *cap = n;
    return 0;
}

unsigned char *
age_batch_alloc(void)
{
    /* AGE_BATCH_CHUNKS chunk slots and a small look-ahead area after them (the byte that
     * tells whether the batch's last chunk is final). sodium_malloc places the region
     * against a guard page, so its start is only 16-byte aligned in general; a size in whole
     * pages makes the start page aligned too (glibc's memcpy is far slower between buffers
     * 64 KiB + 16 apart). */
    return age_secret_alloc(age_batch_size());
}
