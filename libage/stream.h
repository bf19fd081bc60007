/* stream.h: internal STREAM payload machinery: chunk seal/open with OpenSSL's
 * ChaCha20-Poly1305 and a small worker pool that processes batches of chunks in parallel. */
#ifndef M3_AGE_STREAM_H
#define M3_AGE_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "libage/age.h"

#define AGE_CT_CHUNK (AGE_CHUNK_SIZE + AGE_TAG_SIZE) /* one sealed full chunk */
/* Chunks per batch: 256 KiB, so two batches in flight keep peak RSS under 8 MiB. */
#define AGE_BATCH_CHUNKS 4
#define AGE_LOOKAHEAD 64 /* bytes read past a batch to learn whether it holds the end */
#define AGE_MAX_THREADS 16

struct age_chunk_job {
    unsigned char *p; /* in-place buffer: plaintext then tag, or ciphertext||tag */
    unsigned char *out; /* seal only: NULL seals in place; else p (len bytes of plaintext)
                         * is read and out receives the ciphertext then the tag */
    size_t len;       /* plaintext length (seal) or ciphertext length incl. tag (open) */
    uint64_t counter;
    bool final;
    bool ok; /* open: authenticated */
    /* when set, the job is fn(job) instead of a chunk (work shared with the chunks of a
     * batch, e.g. armoring the previous one); p, out and len are then fn's */
    void (*fn)(struct age_chunk_job *job);
};

struct age_stream;

/* age_stream_new: key (32 bytes, copied into secret memory); threads 0/1 = caller only. */
int age_stream_new(struct age_stream **out, const unsigned char *key, unsigned threads);
/* age_stream_run: seals (encrypt=true) or opens each job in place, in parallel. */
void age_stream_run(struct age_stream *s, struct age_chunk_job *jobs, size_t n, bool encrypt);
/* age_stream_start / age_stream_wait: the same in two halves, so the caller can do I/O while
 * the workers run; jobs must stay untouched until age_stream_wait returns. Without workers
 * (threads <= 1) start does the work and wait returns at once. */
void age_stream_start(struct age_stream *s, struct age_chunk_job *jobs, size_t n, bool encrypt);
void age_stream_wait(struct age_stream *s);
/* age_stream_parallel: whether background workers exist (pipelining pays off). */
bool age_stream_parallel(const struct age_stream *s);
/* age_stream_prepare: to call before chunks with counters below `end` are run: chunks from
 * AGE_SODIUM_CHUNKS on need libcrypto, loaded here on first use so that a failure to load it
 * is reported as such (M3_EUNSUPPORTED) rather than as a chunk that failed. */
#define AGE_SODIUM_CHUNKS 16
int age_stream_prepare(uint64_t end, struct m3_diag *d);
/* age_stream_open1: opens one job on the calling thread (for retries). */
bool age_stream_open1(struct age_stream *s, struct age_chunk_job *job);
void age_stream_free(struct age_stream *s);

/* age_batch_alloc: secret memory for a batch: AGE_BATCH_CHUNKS slots of AGE_CT_CHUNK bytes
 * and AGE_LOOKAHEAD bytes after them, page aligned. */
unsigned char *age_batch_alloc(void);
/* age_batch_size: the size age_batch_alloc allocates. */
size_t age_batch_size(void);
/* age_batch_grow: a payload buffer that starts small and grows to a whole batch, so that a
 * 200-byte secret never pays for locking and wiping a batch (most files are that small).
 * Makes *buf (secret memory, *cap bytes, or NULL/0) at least `need` bytes: doubling from one
 * page, at most age_batch_size(); the first `used` bytes are kept, the old buffer is wiped
 * and freed. Returns 0 or M3_ENOMEM (the old buffer is then left as it was). */
int age_batch_grow(unsigned char **buf, size_t *cap, size_t used, size_t need);

#endif
