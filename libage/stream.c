/* stream.c: STREAM chunks (c2sp.org/age: ChaCha20-Poly1305, nonce = 11-byte big-endian
 * counter || last-chunk flag) sealed and opened in place, across worker threads. */
#include "libage/stream.h"
#include "libage/armor.h"
#include "libage/cryptolib.h" /* OpenSSL's EVP, opened on first use */
#include "libage/internal.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Work sharing: a queue of jobs in the order they were pushed. The caller pushes each job
 * as soon as its input is ready (age_stream_push) and takes results in order; workers and the
 * caller (age_stream_help, age_stream_await) claim jobs one at a time from the queue's head
 * with a compare-and-swap on `claimed`, so nobody waits at a batch boundary while a job is
 * there to run. With T threads wanted there are T-1 background workers and no core is
 * oversubscribed. Threads spin briefly before sleeping: a chunk takes tens of microseconds,
 * and waking a sleeping thread costs tens of them on a virtual machine. */
#define SPIN_ROUNDS 4000
#define QUEUE_LEN 64 /* a power of two, at least AGE_QUEUE_MAX */
_Static_assert(QUEUE_LEN >= AGE_QUEUE_MAX && (QUEUE_LEN & (QUEUE_LEN - 1)) == 0, "queue size");

struct age_stream {
    unsigned char *key; /* secret memory */
    unsigned nworkers;  /* background threads; 0: the caller does the work */
    unsigned started;
    EVP_CIPHER_CTX *ctx[AGE_MAX_THREADS + 1][2]; /* [worker, or the caller last][encrypt] */
    unsigned char *copy[AGE_MAX_THREADS + 1];    /* per thread: a chunk's ciphertext (job_sodium) */
    unsigned char *rbuf[AGE_MAX_THREADS + 1];    /* per thread: fd_job's chunk read buffer */
    pthread_t th[AGE_MAX_THREADS];
    pthread_mutex_t mu;
    pthread_cond_t cv_go, cv_done;
    struct age_chunk_job *queue[QUEUE_LEN]; /* job i at queue[i % QUEUE_LEN] */
    _Atomic uint64_t pushed;                /* jobs pushed so far */
    _Atomic uint64_t claimed;               /* jobs claimed so far (<= pushed) */
    _Atomic bool quit;
    _Atomic bool waiting;       /* the caller sleeps on cv_done */
    _Atomic unsigned sleepers;  /* workers asleep on cv_go (changed under mu) */
    struct age_chunk_job *jobs; /* age_stream_start's batch, for age_stream_wait */
    size_t njobs;
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
    if (j->out != NULL) /* out of place: libsodium zeroes out on failure, p stays */
        return crypto_aead_chacha20poly1305_ietf_decrypt_detached(
                   j->out, NULL, j->p, clen, j->p + clen, NULL, 0, nonce, s->key) == 0;
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
chunk_job(struct age_stream *s, unsigned t, struct age_chunk_job *j, bool encrypt)
{
    EVP_CIPHER_CTX *c;
    unsigned char nonce[12];
    int outl = 0, fl = 0;

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
        unsigned char *o = j->out != NULL ? j->out : j->p;
        if (EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AGE_TAG_SIZE, j->p + clen) != 1)
            return false;
        if (EVP_CipherUpdate(c, o, &outl, j->p, (int)clen) != 1)
            return false;
        if (EVP_CipherFinal_ex(c, o + outl, &fl) != 1) {
            if (o != j->p) { /* out of place: the ciphertext is intact, wipe the output */
                OPENSSL_cleanse(o, clen);
                return false;
            }
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

/* fd_job: reads a chunk with pread() into this thread's buffer, then opens or seals it (out
 * of place). Why: a chunk read() by one thread and opened by another crosses between their
 * cores' caches (perf, two threads decrypting 1 GiB: 5-18% more CPU than one thread, on
 * AVX-512 and AVX2 code paths alike); read here, the kernel's copy lands in the cache of the
 * core that uses it, and the buffer, reused for every chunk this thread takes, stays there.
 * The buffer sits at the chunk's offset within a page, so that the kernel copies between
 * mutually aligned addresses (AMD's rep movsb is far slower otherwise). A short read is not
 * trusted to be the end: pread is asked again until it returns 0 (regular files return
 * short counts only at their end; a file that changes while read gives what pread gives).
 * Sealing reads one byte more than a chunk: a full chunk is the last one when no byte
 * follows it. */
static bool
fd_job(struct age_stream *s, unsigned t, struct age_chunk_job *j)
{
    unsigned char *b = s->rbuf[t] + j->off % 4096;
    size_t have = 0, want = j->encrypt ? AGE_CHUNK_SIZE + 1 : AGE_CT_CHUNK;
    bool ok;

    j->rd_errno = 0;
    while (have < want) {
        ssize_t n = pread(j->fd, b + have, want - have, (off_t)(j->off + have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            j->rd_errno = errno != 0 ? errno : EIO;
            break;
        }
        if (n == 0)
            break;
        have += (size_t)n;
    }
    j->p = b;
    j->final = have < want;
    j->len = have < want ? have : want - j->encrypt;
    if (j->rd_errno != 0 || (have == 0 && !j->encrypt))
        return false;
    ok = chunk_job(s, t, j, j->encrypt);
    if (!ok && !j->final && !j->encrypt) { /* a full chunk may be the last one */
        j->final = true;
        ok = chunk_job(s, t, j, false);
    }
    return ok;
}

/* do_job: the chunk, then (sealing) its armor lines, on the thread that sealed it while the
 * ciphertext is still in its cache. */
static bool
do_job(struct age_stream *s, unsigned t, struct age_chunk_job *j)
{
    bool ok;

    if (j->from_fd)
        return fd_job(s, t, j);
    ok = chunk_job(s, t, j, j->encrypt);

    if (ok && j->encrypt && j->text != NULL && j->text_groups > 0)
        age_armor_encode_groups(j->text, (j->out != NULL ? j->out : j->p) + j->text_head,
                                j->text_groups);
    return ok;
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

/* prefetch_pages: asks for the first cache line of every page of a job's input. A worker's
 * input was just written by the reading thread, on another core; hardware stream
 * prefetchers (Intel's and AMD's alike) do not cross a 4 KiB page, so each page of a chunk
 * would start with a full cross-core miss before the prefetcher catches up. Measured with
 * perf on the Xeon here, two threads decrypting 1 GiB: 13% less CPU with OpenSSL's AVX2
 * code (AVX-512 masked, the class of the EPYC), whose decryption reads each chunk
 * first for Poly1305; no change with its AVX-512 code or for encryption. Asking for every
 * line instead cost more than it saved. */
static void
prefetch_pages(const struct age_chunk_job *j)
{
    for (size_t o = 0; o < j->len; o += 4096)
        __builtin_prefetch(j->p + o, 0, 2);
}

/* run_one: claims the oldest job not yet claimed and runs it on thread slot t; false when
 * there is none. The job stays at its queue place until it is done: the caller pushes
 * job i + QUEUE_LEN only after job i is done (AGE_QUEUE_MAX jobs outstanding at most). */
static bool
run_one(struct age_stream *s, unsigned t)
{
    uint64_t c = atomic_load(&s->claimed);
    struct age_chunk_job *j;

    do
        if (c >= atomic_load(&s->pushed))
            return false;
    while (!atomic_compare_exchange_weak(&s->claimed, &c, c + 1));
    j = s->queue[c % QUEUE_LEN];
    if (t != AGE_MAX_THREADS && !j->from_fd)
        prefetch_pages(j);
    j->ok = do_job(s, t, j);
    atomic_store(&j->done, true);
    if (atomic_load(&s->waiting)) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_broadcast(&s->cv_done);
        pthread_mutex_unlock(&s->mu);
    }
    return true;
}

static void *
worker(void *arg)
{
    struct age_stream *s = arg;
    unsigned t;
    int spins = 0;

    pthread_mutex_lock(&s->mu);
    t = s->started++; /* worker index: 0 .. nworkers-1 */
    pthread_cond_broadcast(&s->cv_done);
    pthread_mutex_unlock(&s->mu);
    while (!atomic_load(&s->quit)) {
        if (run_one(s, t)) {
            spins = 0;
            continue;
        }
        if (++spins < SPIN_ROUNDS) {
            cpu_relax();
            continue;
        }
        /* sleepers is raised before the queue is looked at again under mu, and the caller
         * reads it after publishing a job: one of the two sees the other (sequentially
         * consistent atomics), so no push is missed. */
        pthread_mutex_lock(&s->mu);
        atomic_fetch_add(&s->sleepers, 1);
        while (atomic_load(&s->claimed) >= atomic_load(&s->pushed) && !atomic_load(&s->quit))
            pthread_cond_wait(&s->cv_go, &s->mu);
        atomic_fetch_sub(&s->sleepers, 1);
        pthread_mutex_unlock(&s->mu);
        spins = 0;
    }
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
    /* With T > 1 threads wanted, T-1 background workers run jobs beside the caller's thread,
     * which does the I/O and runs jobs too when it has none to do (age_stream_help). The
     * workers' cipher contexts are made here: allocating them in the workers would give each
     * thread its own malloc arena, which costs resident memory for nothing. */
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
age_stream_push(struct age_stream *s, struct age_chunk_job *job, bool encrypt)
{
    uint64_t p;

    job->encrypt = encrypt;
    atomic_store(&job->done, false);
    if (s->nworkers == 0) {
        job->ok = do_job(s, AGE_MAX_THREADS, job);
        atomic_store(&job->done, true);
        return;
    }
    p = atomic_load(&s->pushed);
    s->queue[p % QUEUE_LEN] = job;
    atomic_store(&s->pushed, p + 1);
    if (atomic_load(&s->sleepers) > 0) {
        pthread_mutex_lock(&s->mu);
        pthread_cond_signal(&s->cv_go);
        pthread_mutex_unlock(&s->mu);
    }
}

bool
age_stream_help(struct age_stream *s)
{
    return s->nworkers > 0 && run_one(s, AGE_MAX_THREADS);
}

bool
age_stream_done(const struct age_chunk_job *job)
{
    return atomic_load(&job->done);
}

void
age_stream_await(struct age_stream *s, struct age_chunk_job *job)
{
    int spins = 0;

    while (!atomic_load(&job->done)) {
        if (run_one(s, AGE_MAX_THREADS)) {
            spins = 0;
            continue;
        }
        if (++spins < SPIN_ROUNDS) {
            cpu_relax();
            continue;
        }
        pthread_mutex_lock(&s->mu);
        atomic_store(&s->waiting, true);
        while (!atomic_load(&job->done))
            pthread_cond_wait(&s->cv_done, &s->mu);
        atomic_store(&s->waiting, false);
        pthread_mutex_unlock(&s->mu);
        spins = 0;
    }
}

void
age_stream_start(struct age_stream *s, struct age_chunk_job *jobs, size_t n, bool encrypt)
{
    s->jobs = jobs;
    s->njobs = n;
    for (size_t i = 0; i < n; i++)
        age_stream_push(s, &jobs[i], encrypt);
}

void
age_stream_wait(struct age_stream *s)
{
    for (size_t i = 0; i < s->njobs; i++)
        age_stream_await(s, &s->jobs[i]);
    s->njobs = 0;
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

int
age_stream_fd_bufs(struct age_stream *s)
{
    for (unsigned i = 0; i <= AGE_MAX_THREADS; i++) {
        if (i >= s->nworkers && i != AGE_MAX_THREADS)
            continue;
        /* secret memory (plaintext when sealing), whole pages: page aligned (see below) */
        if (s->rbuf[i] == NULL &&
            (s->rbuf[i] = age_secret_alloc((AGE_CT_CHUNK + 4096 + 4095) / 4096 * 4096)) == NULL)
            return M3_ENOMEM;
    }
    return 0;
}

bool
age_stream_open1(struct age_stream *s, struct age_chunk_job *job)
{
    job->encrypt = false;
    job->ok = chunk_job(s, AGE_MAX_THREADS, job, false);
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
    for (unsigned i = 0; i <= AGE_MAX_THREADS; i++) {
        free(s->copy[i]);
        age_secret_free(s->rbuf[i]);
    }
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
