/* stream.h: internal STREAM payload machinery: chunk seal/open with OpenSSL's
 * ChaCha20-Poly1305 (libsodium's for the first chunks) and a small worker pool that runs
 * queued chunk jobs in order, beside the caller's thread. */
#ifndef M3_AGE_STREAM_H
#define M3_AGE_STREAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "libage/age.h"

#define AGE_CT_CHUNK (AGE_CHUNK_SIZE + AGE_TAG_SIZE) /* one sealed full chunk */
/* Chunks per batch: 256 KiB, so two batches in flight keep peak RSS under 8 MiB. */
#define AGE_BATCH_CHUNKS 4
#define AGE_LOOKAHEAD 64 /* bytes read past a batch to learn whether it holds the end */
#define AGE_MAX_THREADS 16

/* Jobs outstanding (pushed, not yet done) at any time, at most; a ring of AGE_RING_SLOTS
 * chunks is what encrypt.c and decrypt.c keep in flight with workers (see there). */
#define AGE_QUEUE_MAX 32
#define AGE_RING_SLOTS 8

struct age_chunk_job {
    unsigned char *p; /* in-place buffer: plaintext then tag, or ciphertext||tag */
    unsigned char *out; /* NULL: in place; else p is read and out receives the ciphertext
                         * then the tag (seal), or the plaintext (open: len - 16 bytes; p
                         * stays as it was, out is zeroed when the tag does not match) */
    size_t len;       /* plaintext length (seal) or ciphertext length incl. tag (open) */
    uint64_t counter;
    bool final;
    bool ok; /* authenticated (open) or sealed (seal) */
    /* seal only: when text is set, the thread that sealed the chunk then encodes text_groups
     * whole 48-byte groups of its ciphertext, from byte text_head on, as armor lines into
     * text (age_armor_encode_groups) */
    char *text;
    size_t text_head, text_groups;
    /* when from_fd is set, the thread that runs the job first reads the chunk itself, with
     * pread() at byte off of fd, into a buffer of its own (p is then set to it: only out may
     * be used after the job); len is what it read and final whether that is less than a
     * full chunk. Opening: up to AGE_CT_CHUNK bytes (len 0: nothing left); a full chunk that
     * fails as not last is tried again there as last (final is then set). Sealing: up to
     * AGE_CHUNK_SIZE bytes and one more to learn whether the chunk is the last (len 0 and
     * final: nothing left; only the first chunk may then be sealed, as empty). rd_errno:
     * the read error (errno), 0 when none. */
    bool from_fd;
    int fd, rd_errno;
    uint64_t off;
    /* set by the stream */
    bool encrypt;
    _Atomic bool done;
};

struct age_stream;

/* age_stream_new: key (32 bytes, copied into secret memory); threads 0/1 = caller only. */
int age_stream_new(struct age_stream **out, const unsigned char *key, unsigned threads);
/* age_stream_push: queues one job (seal or open); the workers run queued jobs in order as
 * they come, the caller's thread too through age_stream_help / age_stream_await. The job
 * (and its buffers) must stay untouched until age_stream_done says it is done; at most
 * AGE_QUEUE_MAX jobs may be outstanding. Without workers the job runs here, at once. */
void age_stream_push(struct age_stream *s, struct age_chunk_job *job, bool encrypt);
/* age_stream_help: runs the oldest queued job no thread has taken on the calling thread;
 * false when there is none. */
bool age_stream_help(struct age_stream *s);
/* age_stream_done: whether a pushed job is done (then its ok, out and p are final). */
bool age_stream_done(const struct age_chunk_job *job);
/* age_stream_await: returns once job is done, running queued jobs meanwhile, then spinning
 * briefly, then sleeping. */
void age_stream_await(struct age_stream *s, struct age_chunk_job *job);
/* age_stream_run: seals (encrypt=true) or opens each job, in parallel, and returns when all
 * are done (n <= AGE_QUEUE_MAX). */
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
/* age_stream_fd_bufs: allocates the per-thread read buffers that jobs with from_fd use (from
 * the caller's thread: a worker that allocated its own would get a malloc arena of its own).
 * Returns 0 or M3_ENOMEM. */
int age_stream_fd_bufs(struct age_stream *s);
/* age_stream_open1: opens one job on the calling thread (for retries). */
bool age_stream_open1(struct age_stream *s, struct age_chunk_job *job);
/* age_stream_free: stops the workers; no job may be outstanding. NULL is a no-op. */
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
