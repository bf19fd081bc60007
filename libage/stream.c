/* stream.c: STREAM chunks (c2sp.org/age: ChaCha20-Poly1305, nonce = 11-byte big-endian
 * counter || last-chunk flag) sealed and opened in place, across worker threads. */
#include "libage/stream.h"
#include "libage/internal.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct age_stream {
    unsigned char *key; /* secret memory */
    unsigned nworkers;  /* background threads; 0: the caller does the work */
    unsigned started;
    EVP_CIPHER_CTX *ctx[AGE_MAX_THREADS + 1][2]; /* [worker, or the caller last][encrypt] */
    pthread_t th[AGE_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv_go, cv_done;
    unsigned gen, running;
    bool quit;
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

static bool
do_job(struct age_stream *s, unsigned t, struct age_chunk_job *j, bool encrypt)
{
    EVP_CIPHER_CTX *c = ctx_for(s, t, encrypt);
    unsigned char nonce[12];
    int outl = 0, fl = 0;

    if (c == NULL)
        return false;
    make_nonce(nonce, j->counter, j->final);
    if (EVP_CipherInit_ex(c, NULL, NULL, NULL, nonce, encrypt) != 1)
        return false;
    if (encrypt) {
        if (EVP_CipherUpdate(c, j->p, &outl, j->p, (int)j->len) != 1 ||
            EVP_CipherFinal_ex(c, j->p + outl, &fl) != 1 ||
            EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AGE_TAG_SIZE, j->p + j->len) != 1)
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

static void
run_share(struct age_stream *s, unsigned t)
{
    for (size_t i = t; i < s->njobs; i += s->nworkers)
        s->jobs[i].ok = do_job(s, t, &s->jobs[i], s->encrypt);
}

static void *
worker(void *arg)
{
    struct age_stream *s = arg;
    unsigned t, seen = 0;

    pthread_mutex_lock(&s->mu);
    t = s->started++; /* worker index: 0 .. nworkers-1 */
    pthread_cond_broadcast(&s->cv_done);
    for (;;) {
        while (!s->quit && s->gen == seen)
            pthread_cond_wait(&s->cv_go, &s->mu);
        if (s->quit)
            break;
        seen = s->gen;
        pthread_mutex_unlock(&s->mu);
        run_share(s, t);
        pthread_mutex_lock(&s->mu);
        if (--s->running == 0)
            pthread_cond_broadcast(&s->cv_done);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
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
    /* With more than one thread, every chunk is processed by background workers, so the
     * caller's thread is free for I/O meanwhile (age_stream_start / age_stream_wait). The
     * workers' cipher contexts are made here: allocating them in the workers would give each
     * thread its own malloc arena, which costs resident memory for nothing. */
    if (threads > 1)
        for (unsigned i = 0; i < threads; i++) {
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
    s->jobs = jobs;
    s->njobs = n;
    s->encrypt = encrypt;
    if (s->nworkers == 0) {
        for (size_t i = 0; i < n; i++)
            jobs[i].ok = do_job(s, AGE_MAX_THREADS, &jobs[i], encrypt);
        return;
    }
    pthread_mutex_lock(&s->mu);
    s->running = s->nworkers;
    s->gen++;
    pthread_cond_broadcast(&s->cv_go);
    pthread_mutex_unlock(&s->mu);
}

void
age_stream_wait(struct age_stream *s)
{
    if (s->nworkers == 0)
        return;
    pthread_mutex_lock(&s->mu);
    while (s->running > 0)
        pthread_cond_wait(&s->cv_done, &s->mu);
    pthread_mutex_unlock(&s->mu);
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
    s->quit = true;
    pthread_cond_broadcast(&s->cv_go);
    pthread_mutex_unlock(&s->mu);
    for (unsigned i = 0; i < s->nworkers; i++)
        pthread_join(s->th[i], NULL);
    for (unsigned i = 0; i <= AGE_MAX_THREADS; i++)
        for (int e = 0; e < 2; e++)
            EVP_CIPHER_CTX_free(s->ctx[i][e]); /* OpenSSL cleanses the key schedule */
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv_go);
    pthread_cond_destroy(&s->cv_done);
    age_secret_free(s->key);
    free(s);
}

size_t
age_batch_size(void)
{
    size_t n = AGE_BATCH_CHUNKS * AGE_CT_CHUNK + AGE_LOOKAHEAD, page = 4096;

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
