/* encrypt.c: the encryptor: header (file key, stanzas, MAC), then the STREAM payload in
 * batches of chunks sealed in place and written in order. */
#include "libage/armor.h"
#include "libage/header.h"
#include "libage/internal.h"
#include "libage/stream.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct age_encryptor {
    age_write_fn wr;
    void *wctx;
    struct age_armor_writer *armor;
    struct age_stream *stream;
    unsigned char *buf; /* AGE_BATCH_CHUNKS + 1 slots, secret memory (plaintext); starts
                         * small and grows with the input (age_batch_grow) */
    size_t cap;         /* bytes allocated at buf */
    size_t nfull;       /* whole plaintext chunks in slots [0, nfull) */
    size_t tail;        /* plaintext bytes in slot nfull */
    uint64_t counter;
    bool finished, failed;
    unsigned threads;           /* workers wanted for large inputs */
    int in_fd;                  /* age_encrypt_opts.input_fd, or -1 */
    unsigned char *payload_key; /* secret: to restart the stream with workers */
};

int
age_header_mac(const unsigned char *file_key, const unsigned char *hdr, size_t len,
               unsigned char mac[AGE_MAC_SIZE])
{
    unsigned char k[32];
    int rc;

    if ((rc = age_hkdf(file_key, AGE_FILE_KEY_SIZE, NULL, 0, "header", k, sizeof(k))) != 0)
        return rc;
    crypto_auth_hmacsha256(mac, hdr, len, k);
    sodium_memzero(k, sizeof(k));
    return 0;
}

static int
out_write(struct age_encryptor *e, const void *p, size_t n)
{
    if (e->armor != NULL)
        return age_armor_write(e->armor, p, n);
    return e->wr(e->wctx, p, n);
}

static int
io_error(struct age_encryptor *e, struct m3_diag *d)
{
    e->failed = true;
    return m3_diag_set(d, M3_EIO, "write error: %s", strerror(errno));
}

static int
write_header(struct age_encryptor *e, struct age_recipient *const *rcpts, size_t n,
             unsigned threads, const unsigned char *given_key, struct m3_diag *d)
{
    struct age_stanza_list sl = {0};
    struct age_buf hb = {0};
    unsigned char *file_key = age_secret_alloc(AGE_FILE_KEY_SIZE);
    unsigned char *pkey = age_secret_alloc(32);
    unsigned char mac[AGE_MAC_SIZE], nonce[AGE_PAYLOAD_NONCE_SIZE];
    char *mac64 = NULL;
    int rc;

    if (file_key == NULL || pkey == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    if (given_key != NULL)
        memcpy(file_key, given_key, AGE_FILE_KEY_SIZE);
    else
        randombytes_buf(file_key, AGE_FILE_KEY_SIZE);
    for (size_t i = 0; i < n; i++)
        if ((rc = rcpts[i]->ops->wrap(rcpts[i]->state, file_key, &sl, d)) != 0)
            goto out;
    if ((rc = age_header_serialize(sl.v, sl.n, &hb)) != 0)
        goto out;
    /* a file no reader here (or its age_header_parse) would open again is not written */
    if (sl.n > AGE_HEADER_MAX_STANZAS || hb.len + 48 > AGE_HEADER_MAX) {
        rc = m3_diag_set(d, M3_EINVAL,
                         "too many recipients: a header holds at most %u stanzas "
                         "and %u bytes",
                         AGE_HEADER_MAX_STANZAS, AGE_HEADER_MAX);
        goto out;
    }
    if ((rc = age_header_mac(file_key, hb.p, hb.len, mac)) != 0)
        goto out;
    if ((mac64 = age_b64_encode(mac, sizeof(mac))) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    randombytes_buf(nonce, sizeof(nonce));
    if ((rc = age_hkdf(file_key, AGE_FILE_KEY_SIZE, nonce, sizeof(nonce), "payload", pkey, 32)))
        goto out;
    /* One thread to start with: workers are started only once the input is known to be
     * larger than a batch (age_encrypt), so small files never pay for them. */
    (void)threads;
    if ((rc = age_stream_new(&e->stream, pkey, 1)) != 0)
        goto out;
    memcpy(e->payload_key, pkey, 32);
    if (out_write(e, hb.p, hb.len) != 0 || out_write(e, " ", 1) != 0 ||
        out_write(e, mac64, strlen(mac64)) != 0 || out_write(e, "\n", 1) != 0 ||
        out_write(e, nonce, sizeof(nonce)) != 0) {
        rc = io_error(e, d);
        goto out;
    }
    rc = 0;
out:
    age_secret_free(file_key);
    age_secret_free(pkey);
    age_stanza_list_clear(&sl);
    free(hb.p);
    free(mac64);
    return rc;
}

/* check_pq_mix: a file for a post-quantum recipient must not also open with a classical key
 * (c2sp.org/age: SHOULD NOT; age refuses it), or "harvest now, decrypt later" still works on
 * it. M3_EINVAL naming the classical recipients (shortened), else 0. */
static int
check_pq_mix(struct age_recipient *const *rcpts, size_t n, struct m3_diag *d)
{
    char names[256] = "";
    size_t pq = 0, classical = 0, len = 0;

    for (size_t i = 0; i < n; i++)
        pq += (rcpts[i]->ops->flags & AGE_RECIPIENT_PQ) != 0;
    if (pq == 0 || pq == n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char *s;
        if (rcpts[i]->ops->flags & AGE_RECIPIENT_PQ)
            continue;
        s = age_recipient_string(rcpts[i]);
        if (len < sizeof(names) - 1)
            len += (size_t)snprintf(names + len, sizeof(names) - len, "%s%.24s%s",
                                    classical ? ", " : "", s != NULL ? s : rcpts[i]->ops->type,
                                    s != NULL && strlen(s) > 24 ? "..." : "");
        free(s);
        classical++;
    }
    return m3_diag_set(d, M3_EINVAL,
                       "post-quantum recipients cannot be mixed with classical ones, which would "
                       "make the file not post-quantum; classical: %s",
                       names);
}

int
age_encryptor_new(struct age_encryptor **out, struct age_recipient *const *rcpts, size_t n,
                  const struct age_encrypt_opts *opts, age_write_fn wr, void *wctx,
                  struct m3_diag *d)
{
    struct age_encryptor *e;
    unsigned threads = opts != NULL ? opts->threads : 0;
    int rc;

    *out = NULL;
    if (age_init() != 0)
        return M3_ENOMEM;
    if (n == 0)
        return m3_diag_set(d, M3_EINVAL, "no recipients");
    for (size_t i = 0; i < n; i++)
        if ((rcpts[i]->ops->flags & AGE_RECIPIENT_ALONE) && n > 1)
            return m3_diag_set(d, M3_EINVAL,
                               "a passphrase (scrypt) recipient must be the only recipient");
    if ((rc = check_pq_mix(rcpts, n, d)) != 0)
        return rc;
    if ((e = calloc(1, sizeof(*e))) == NULL)
        return M3_ENOMEM;
    e->wr = wr;
    e->wctx = wctx;
    if (opts != NULL && opts->armor && (e->armor = age_armor_writer_new(wr, wctx)) == NULL) {
        rc = M3_ENOMEM;
        goto fail;
    }
    e->threads = threads;
    e->in_fd = opts != NULL && opts->input_is_fd ? opts->input_fd : -1;
    if ((e->payload_key = age_secret_alloc(32)) == NULL) {
        rc = M3_ENOMEM;
        goto fail;
    }
    if ((rc = write_header(e, rcpts, n, threads, opts ? opts->file_key : NULL, d)) != 0)
        goto fail;
    *out = e;
    return 0;
fail:
    age_encryptor_free(e);
    return rc;
}

/* seal_batch: seals chunks [0, count) of the buffer; the last one is final when `final`. */
static int
seal_batch(struct age_encryptor *e, size_t count, size_t last_len, bool final, struct m3_diag *d)
{
    struct age_chunk_job jobs[AGE_BATCH_CHUNKS + 1];
    size_t total = 0;
    int rc;

    for (size_t i = 0; i < count; i++) {
        jobs[i].p = e->buf + i * AGE_CT_CHUNK;
        jobs[i].from_fd = false;
        jobs[i].out = NULL;
        jobs[i].text = NULL;
        jobs[i].len = (i == count - 1) ? last_len : AGE_CHUNK_SIZE;
        jobs[i].counter = e->counter++;
        jobs[i].final = final && i == count - 1;
        total += jobs[i].len + AGE_TAG_SIZE;
    }
    if ((rc = age_stream_prepare(e->counter, d)) != 0) {
        e->failed = true;
        return rc;
    }
    age_stream_run(e->stream, jobs, count, true);
    for (size_t i = 0; i < count; i++)
        if (!jobs[i].ok) {
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "payload encryption failed");
        }
    /* Slots are AGE_CT_CHUNK apart, so whole chunks sit back to back: one write. */
    if (out_write(e, e->buf, total) != 0)
        return io_error(e, d);
    return 0;
}

/* flush_full: when every batch slot is full and more plaintext follows, none of them is the
 * final chunk: seal and write them, and keep the slot being filled. */
static int
flush_full(struct age_encryptor *e, struct m3_diag *d)
{
    int rc;

    if ((rc = seal_batch(e, AGE_BATCH_CHUNKS, AGE_CHUNK_SIZE, false, d)) != 0)
        return rc;
    if (e->tail > 0)
        memmove(e->buf, e->buf + AGE_BATCH_CHUNKS * AGE_CT_CHUNK, e->tail);
    e->nfull = 0;
    return 0;
}

/* slot_space: where the next plaintext goes and how much fits there: the rest of the current
 * slot, limited to what the buffer holds (with room for the chunk's tag after it). A buffer
 * with no room left grows first; NULL when it cannot. */
static unsigned char *
slot_space(struct age_encryptor *e, size_t *room)
{
    size_t off = e->nfull * AGE_CT_CHUNK + e->tail;

    /* Once every slot is full, one more byte is enough to know none of them is final. */
    *room = e->nfull == AGE_BATCH_CHUNKS ? 1 : AGE_CHUNK_SIZE - e->tail;
    if (off + AGE_TAG_SIZE >= e->cap &&
        age_batch_grow(&e->buf, &e->cap, off, off + AGE_TAG_SIZE + 1) != 0)
        return NULL;
    if (off + *room + AGE_TAG_SIZE > e->cap)
        *room = e->cap - off - AGE_TAG_SIZE;
    return e->buf + off;
}

/* advance: records n bytes placed at slot_space; flushes a full batch when data follows. */
static int
advance(struct age_encryptor *e, size_t n, struct m3_diag *d)
{
    int rc;

    e->tail += n;
    if (e->nfull == AGE_BATCH_CHUNKS && e->tail > 0 && (rc = flush_full(e, d)) != 0)
        return rc;
    if (e->tail == AGE_CHUNK_SIZE) {
        e->nfull++;
        e->tail = 0;
    }
    return 0;
}

int
age_encryptor_write(struct age_encryptor *e, const void *buf, size_t len, struct m3_diag *d)
{
    const unsigned char *p = buf;
    int rc;

    if (e->finished || e->failed)
        return m3_diag_set(d, M3_ESTATE, "encryptor already finished or failed");
    while (len > 0) {
        size_t room, take;
        unsigned char *dst = slot_space(e, &room);
        if (dst == NULL) {
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        take = len < room ? len : room;
        memcpy(dst, p, take);
        p += take;
        len -= take;
        if ((rc = advance(e, take, d)) != 0)
            return rc;
    }
    return 0;
}

int
age_encryptor_finish(struct age_encryptor *e, struct m3_diag *d)
{
    size_t count, last_len;
    int rc;

    if (e->finished || e->failed)
        return m3_diag_set(d, M3_ESTATE, "encryptor already finished or failed");
    e->finished = true;
    if (e->tail > 0) {
        count = e->nfull + 1;
        last_len = e->tail;
    } else if (e->nfull > 0) {
        count = e->nfull;
        last_len = AGE_CHUNK_SIZE;
    } else if (e->counter == 0) {
        count = 1; /* empty plaintext: one empty final chunk */
        last_len = 0;
        if (age_batch_grow(&e->buf, &e->cap, 0, AGE_TAG_SIZE) != 0) {
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
    } else {
        /* Unreachable: a flush always leaves at least one byte in the buffer. */
        return m3_diag_set(d, M3_ESTATE, "internal error: no final chunk");
    }
    if ((rc = seal_batch(e, count, last_len, true, d)) != 0)
        return rc;
    if (e->armor != NULL && age_armor_writer_finish(e->armor) != 0)
        return io_error(e, d);
    return 0;
}

void
age_encryptor_free(struct age_encryptor *e)
{
    if (e == NULL)
        return;
    age_stream_free(e->stream);
    age_secret_free(e->payload_key);
    age_secret_free(e->buf);
    age_armor_writer_free(e->armor);
    free(e);
}

/* ---- age_encrypt: the input path ---------------------------------------------------------
 *
 * Where a whole input is read through a callback (files, pipes), the plaintext is read into
 * plain 64 KiB slots, back to back (IN_BYTES: AGE_BATCH_CHUNKS of them), and sealed out of
 * place into a ciphertext buffer where chunk and tag alternate, written at once. Why, on
 * x86-64 (measured with perf on an AVX2 EPYC, where a quarter of a one-thread encryption
 * was the kernel's read copy, more than dd paid for the same bytes):
 *   - Each read() is a whole batch (256 KiB; 64 KiB at least once past the first pages)
 *     into a page-aligned buffer at a file offset that is a multiple of the page size: the
 *     kernel's copy (rep movsb on CPUs with FSRM/ERMSB) then runs from and to the same
 *     offsets within pages, as for dd. The former layout read each chunk into a slot 16
 *     bytes further into the page than the last (slots were chunk + tag apart) and, to learn
 *     whether more input followed, read one byte after every batch, which shifted every later
 *     read by one byte against the page cache: 5 read() calls per 4 chunks, all of them
 *     mutually misaligned, which AMD's microcode copies far more slowly.
 *   - Whether a full batch is the last is learnt from the next read, which has to happen
 *     anyway: the batch is sealed with its last chunk not final and written only once the
 *     next read returned data. If the input ends exactly there, that chunk's plaintext is
 *     still in its buffer (the next read went to the other one) and it is sealed again as
 *     final before the write. No look-ahead byte, no copy.
 *   - Sealing out of place costs the same as in place (the cipher reads and writes each byte
 *     once either way) and saves the copy that a tag-shaped gap in the input would need.
 * On one thread, two plaintext and two ciphertext buffers (1 MiB in all) alternate. With
 * workers, the input goes through a ring of chunk slots after its first batch (encrypt_ring
 * below). */
#define IN_BYTES ((size_t)AGE_BATCH_CHUNKS * AGE_CHUNK_SIZE)
#define OUT_BYTES ((size_t)AGE_BATCH_CHUNKS * AGE_CT_CHUNK)
struct enc_io {
    unsigned char *in[2];  /* plaintext (secret memory), page aligned */
    size_t in_cap[2];      /* in[0] grows from a page (a small file stays small) */
    unsigned char *out[2]; /* ciphertext (not secret) */
    size_t out_cap[2];
    struct age_chunk_job jobs[2][AGE_BATCH_CHUNKS];
    /* with workers (encrypt_ring): AGE_RING_SLOTS chunk slots */
    unsigned char *ring_in; /* plaintext, secret memory, page aligned */
    unsigned char *ring_out;
    char *ring_text; /* armored: each slot's lines */
    struct age_chunk_job ring_jobs[AGE_RING_SLOTS];
};

/* read_in: fills in[k] from the input until it holds IN_BYTES or the input ends (*eof);
 * in[0] grows on the way (whole pages, so reads stay page aligned). *have: bytes read. */
static int
read_in(struct age_encryptor *e, struct enc_io *io, int k, age_read_fn rd, void *rctx, size_t *have,
        bool *eof, struct m3_diag *d)
{
    *have = 0;
    *eof = false;
    while (*have < IN_BYTES) {
        ssize_t got;
        if (*have == io->in_cap[k]) {
            size_t cap = io->in_cap[k];
            /* age_batch_grow allocates at most a batch of sealed chunks (more than IN_BYTES) */
            if (age_batch_grow(&io->in[k], &cap, *have, *have + 1) != 0) {
                e->failed = true;
                return m3_diag_set(d, M3_ENOMEM, "out of memory");
            }
            io->in_cap[k] = cap < IN_BYTES ? cap : IN_BYTES;
        }
        got = rd(rctx, io->in[k] + *have, io->in_cap[k] - *have);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            e->failed = true;
            return m3_diag_set(d, M3_EIO, "read error: %s", strerror(errno));
        }
        if (got == 0) {
            *eof = true;
            return 0;
        }
        *have += (size_t)got;
    }
    return 0;
}

/* seal_start: sets up and starts the jobs sealing `have` bytes of in[k] into out[k]; the last
 * chunk is final when `final`. *bytes: the ciphertext length. */
static int
seal_start(struct age_encryptor *e, struct enc_io *io, int k, size_t have, bool final,
           size_t *bytes, size_t *count, struct m3_diag *d)
{
    size_t n = have == 0 ? 1 : (have + AGE_CHUNK_SIZE - 1) / AGE_CHUNK_SIZE, need;
    int rc;

    need = have + n * AGE_TAG_SIZE;
    if (need > io->out_cap[k]) {
        size_t cap = need <= 4096 ? 4096 : OUT_BYTES;
        free(io->out[k]);
        io->out_cap[k] = 0;
        if (posix_memalign((void **)&io->out[k], 4096, cap) != 0) {
            io->out[k] = NULL;
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        io->out_cap[k] = cap;
    }
    for (size_t i = 0; i < n; i++) {
        struct age_chunk_job *j = &io->jobs[k][i];
        j->p = io->in[k] + i * AGE_CHUNK_SIZE;
        j->out = io->out[k] + i * AGE_CT_CHUNK;
        j->len = i == n - 1 ? have - i * AGE_CHUNK_SIZE : AGE_CHUNK_SIZE;
        j->counter = e->counter++;
        j->final = final && i == n - 1;
        j->ok = false;
        j->text = NULL;
    }
    if ((rc = age_stream_prepare(e->counter, d)) != 0) {
        e->failed = true;
        return rc;
    }
    *bytes = need;
    *count = n;
    age_stream_start(e->stream, io->jobs[k], *count, true);
    return 0;
}

/* seal_end: waits for the jobs of in[k] and checks them. */
static int
seal_end(struct age_encryptor *e, struct enc_io *io, int k, size_t count, struct m3_diag *d)
{
    age_stream_wait(e->stream);
    for (size_t i = 0; i < count; i++)
        if (!io->jobs[k][i].ok) {
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "payload encryption failed");
        }
    return 0;
}

/* ---- with workers: a ring of chunk slots ---------------------------------------------
 *
 * Batches make every thread meet at each batch's end: the reader waits for the last chunk
 * of a batch to be sealed, the workers for the next batch to be read. With workers, chunks
 * flow through AGE_RING_SLOTS slots instead: this thread reads into free slots (at most
 * RING_READ chunks per read(), at page-aligned file offsets into page-aligned slots as
 * above), pushes each chunk as soon as the input shows whether it is the last (a full chunk
 * waits for the next byte), writes sealed chunks in order, and when no slot is free seals
 * queued chunks itself. A worker seals chunks as they are pushed. Nobody waits while there is
 * work, and the reading thread seals whatever share of the chunks its reads leave it time
 * for. Armored, the thread that seals a chunk also encodes the whole 48-byte groups inside
 * it (lines of 64 columns, aligned to the output), so base64 runs in parallel too; the few
 * bytes of a group that straddles two chunks are armored in order by the writer. */
#define RING_READ 2
/* one slot's armor lines, at most, and room for one more before them (age_armor_write_lines) */
#define RING_TEXT ((AGE_CT_CHUNK / 48 + 2) * 65)

struct enc_ring {
    uint64_t head;   /* the chunk being read into (slot head % AGE_RING_SLOTS) */
    size_t filled;   /* its bytes read so far */
    uint64_t pushed; /* chunks pushed to the stream: [tail, pushed) */
    uint64_t tail;   /* the next chunk to write */
    uint64_t k0;     /* the counter of chunk 0 */
    size_t armor0;   /* armored: the armor writer's bytes before chunk 0, modulo 48 */
    bool eof;
};

static struct age_chunk_job *
ring_job(struct enc_io *io, uint64_t i)
{
    return &io->ring_jobs[i % AGE_RING_SLOTS];
}

/* ring_push: seals chunk i (len bytes of plaintext at its slot), the last one when final. */
static int
ring_push(struct age_encryptor *e, struct enc_io *io, struct enc_ring *r, size_t len, bool final,
          struct m3_diag *d)
{
    uint64_t i = r->pushed;
    size_t slot = (size_t)(i % AGE_RING_SLOTS), ct = len + AGE_TAG_SIZE;
    struct age_chunk_job *j = ring_job(io, i);
    int rc;

    if ((rc = age_stream_prepare(r->k0 + i + 1, d)) != 0)
        return rc;
    j->p = io->ring_in + slot * AGE_CHUNK_SIZE;
    j->out = io->ring_out + slot * AGE_CT_CHUNK;
    j->len = len;
    j->counter = r->k0 + i;
    j->final = final;
    j->text = NULL;
    j->text_groups = 0;
    if (e->armor != NULL) {
        /* bytes still missing from the group the writer will hold when this chunk comes */
        size_t at = (size_t)((r->armor0 + i % 48 * (AGE_CT_CHUNK % 48)) % 48);
        j->text_head = (48 - at) % 48;
        if (ct > j->text_head + 1) { /* a byte must follow the lines (age_armor_write_lines) */
            j->text = io->ring_text + slot * RING_TEXT + 65;
            j->text_groups = (ct - j->text_head - 1) / 48;
        }
    }
    age_stream_push(e->stream, j, true);
    r->pushed++;
    return 0;
}

/* ring_write: writes the sealed chunks at the tail, in order: slots back to back at once. */
static int
ring_write(struct age_encryptor *e, struct enc_io *io, struct enc_ring *r, struct m3_diag *d)
{
    size_t n = 0, bytes = 0;
    uint64_t i;

    while (r->tail + n < r->pushed && age_stream_done(ring_job(io, r->tail + n)) &&
           (n == 0 || (r->tail + n) % AGE_RING_SLOTS != 0))
        n++;
    for (i = r->tail; i < r->tail + n; i++) {
        struct age_chunk_job *j = ring_job(io, i);
        if (!j->ok) {
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "payload encryption failed");
        }
        bytes += j->len + AGE_TAG_SIZE;
        if (e->armor == NULL)
            continue;
        if (j->text_groups > 0 && age_armor_head(e->armor) == j->text_head) {
            if (age_armor_write_lines(e->armor, j->out, j->len + AGE_TAG_SIZE, j->text,
                                      j->text_groups) != 0)
                return io_error(e, d);
        } else if (age_armor_write(e->armor, j->out, j->len + AGE_TAG_SIZE) != 0) {
            return io_error(e, d);
        }
    }
    if (e->armor == NULL && n > 0 && e->wr(e->wctx, ring_job(io, r->tail)->out, bytes) != 0)
        return io_error(e, d);
    r->tail += n;
    return 0;
}

/* ring_read: one read() into the free slots from the chunk being read on; pushes the chunks
 * the input now shows not to be the last, and at the end of the input the last one. */
static int
ring_read(struct age_encryptor *e, struct enc_io *io, struct enc_ring *r, age_read_fn rd,
          void *rctx, struct m3_diag *d)
{
    uint64_t lim = r->tail + AGE_RING_SLOTS, wrap = (r->head / AGE_RING_SLOTS + 1) * AGE_RING_SLOTS;
    size_t slot = (size_t)(r->head % AGE_RING_SLOTS), chunks;
    ssize_t got;
    int rc;

    if (lim > wrap)
        lim = wrap; /* slots back to back up to the ring's end */
    chunks = (size_t)(lim - r->head) < RING_READ ? (size_t)(lim - r->head) : RING_READ;
    got = rd(rctx, io->ring_in + slot * AGE_CHUNK_SIZE + r->filled,
             chunks * AGE_CHUNK_SIZE - r->filled);
    if (got < 0) {
        if (errno == EINTR)
            return 0;
        e->failed = true;
        return m3_diag_set(d, M3_EIO, "read error: %s", strerror(errno));
    }
    if (got == 0) {
        r->eof = true;
        if (r->filled > 0) {
            if (r->pushed < r->head && (rc = ring_push(e, io, r, AGE_CHUNK_SIZE, false, d)) != 0)
                return rc;
            r->head++;
            return ring_push(e, io, r, r->filled, true, d);
        }
        /* the input ended with the full chunk held back: it is the last */
        return ring_push(e, io, r, AGE_CHUNK_SIZE, true, d);
    }
    r->filled += (size_t)got;
    r->head += r->filled / AGE_CHUNK_SIZE;
    r->filled %= AGE_CHUNK_SIZE;
    /* every full chunk but one that ends exactly where the input so far does */
    while (r->pushed + (r->filled == 0) < r->head)
        if ((rc = ring_push(e, io, r, AGE_CHUNK_SIZE, false, d)) != 0)
            return rc;
    return 0;
}

/* ---- with workers, from a regular file: each thread reads the chunks it seals -----------
 *
 * As for decryption (decrypt.c, stream_fd), the thread that seals a chunk reads it, with
 * pread() at its offset (stream.c, fd_job), so the plaintext never crosses between cores;
 * only the ciphertext does, to be written here in order. The first batch's first chunks are
 * sealed from memory; from the batch's last chunk on (which the first read could not tell
 * to be the last or not), chunks are read by the workers: chunk i at the input's start +
 * i * AGE_CHUNK_SIZE, with one byte more to learn whether it is the last. Chunks are pushed
 * before the end is known; those past it read nothing and are not written. */
static int
encrypt_fd(struct age_encryptor *e, struct enc_io *io, uint64_t base, struct m3_diag *d)
{
    struct age_chunk_job *jobs = io->ring_jobs;
    uint64_t head = 0, tail = 0, k0 = e->counter;
    bool end = false;
    int rc;

    if ((rc = age_stream_fd_bufs(e->stream)) != 0 ||
        posix_memalign((void **)&io->ring_out, 4096, (size_t)AGE_RING_SLOTS * AGE_CT_CHUNK) != 0) {
        io->ring_out = NULL;
        e->failed = true;
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    while (rc == 0 && !end) {
        if (tail < head && age_stream_done(&jobs[tail % AGE_RING_SLOTS])) {
            size_t n = 0, bytes = 0;
            while (rc == 0 && !end && tail + n < head &&
                   age_stream_done(&jobs[(tail + n) % AGE_RING_SLOTS]) &&
                   (n == 0 || (tail + n) % AGE_RING_SLOTS != 0)) {
                struct age_chunk_job *j = &jobs[(tail + n) % AGE_RING_SLOTS];
                if (j->rd_errno != 0)
                    rc = m3_diag_set(d, M3_EIO, "read error: %s", strerror(j->rd_errno));
                else if (!j->ok)
                    rc = m3_diag_set(d, M3_ENOMEM, "payload encryption failed");
                else if (j->len == 0) /* the chunk before it saw more */
                    rc = m3_diag_set(d, M3_EIO, "read error: the input shrank while it was read");
                else {
                    bytes += j->len + AGE_TAG_SIZE;
                    end = j->final;
                    n++;
                }
            }
            if (rc == 0 && e->wr(e->wctx, jobs[tail % AGE_RING_SLOTS].out, bytes) != 0)
                rc = io_error(e, d);
            tail += n;
        } else if (head < tail + AGE_RING_SLOTS) {
            struct age_chunk_job *j = &jobs[head % AGE_RING_SLOTS];
            memset(j, 0, sizeof(*j));
            j->out = io->ring_out + (size_t)(head % AGE_RING_SLOTS) * AGE_CT_CHUNK;
            j->counter = k0 + head;
            if (head + 1 < AGE_BATCH_CHUNKS) { /* in memory, not the last */
                j->p = io->in[0] + head * AGE_CHUNK_SIZE;
                j->len = AGE_CHUNK_SIZE;
            } else {
                j->from_fd = true;
                j->fd = e->in_fd;
                j->off = base + head * AGE_CHUNK_SIZE;
            }
            if ((rc = age_stream_prepare(j->counter + 1, d)) != 0)
                break;
            age_stream_push(e->stream, j, true);
            head++;
        } else if (!age_stream_help(e->stream)) {
            age_stream_await(e->stream, &jobs[tail % AGE_RING_SLOTS]);
        }
    }
    /* no worker may still use the slots (or in[0]) when they go */
    for (uint64_t i = tail; i < head; i++)
        age_stream_await(e->stream, &jobs[i % AGE_RING_SLOTS]);
    if (rc != 0)
        e->failed = true;
    return rc;
}

/* fd_base: the input offset of in[0]'s first byte when the chunks can be read with pread()
 * (a regular file read through rd from input_fd, a binary output); else false. */
static bool
fd_base(const struct age_encryptor *e, uint64_t *base)
{
    struct stat st;
    off_t cur;

    if (e->in_fd < 0 || e->armor != NULL || fstat(e->in_fd, &st) != 0 || !S_ISREG(st.st_mode) ||
        (cur = lseek(e->in_fd, 0, SEEK_CUR)) < 0 || (uint64_t)cur < IN_BYTES)
        return false;
    *base = (uint64_t)cur - IN_BYTES;
    return true;
}

/* encrypt_ring: the payload with workers, its first IN_BYTES (a full batch) in in[0]. */
static int
encrypt_ring(struct age_encryptor *e, struct enc_io *io, age_read_fn rd, void *rctx,
             struct m3_diag *d)
{
    struct enc_ring r = {.k0 = e->counter};
    struct age_stream *s = NULL;
    int rc;

    if ((rc = age_stream_new(&s, e->payload_key, e->threads)) != 0) {
        e->failed = true;
        return m3_diag_set(d, rc, "cannot start worker threads");
    }
    age_stream_free(e->stream);
    e->stream = s;
    {
        uint64_t base;
        if (fd_base(e, &base))
            return encrypt_fd(e, io, base, d);
    }
    /* whole pages: age_secret_alloc then returns a page-aligned block (see stream.c) */
    io->ring_in = age_secret_alloc((size_t)AGE_RING_SLOTS * AGE_CHUNK_SIZE);
    if (posix_memalign((void **)&io->ring_out, 4096, (size_t)AGE_RING_SLOTS * AGE_CT_CHUNK) != 0)
        io->ring_out = NULL;
    if (e->armor != NULL)
        io->ring_text = malloc((size_t)AGE_RING_SLOTS * RING_TEXT);
    if (io->ring_in == NULL || io->ring_out == NULL ||
        (e->armor != NULL && io->ring_text == NULL)) {
        e->failed = true;
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    if (e->armor != NULL)
        r.armor0 = (48 - age_armor_head(e->armor)) % 48;
    /* the batch read so far: its chunks but the last are not the last */
    memcpy(io->ring_in, io->in[0], IN_BYTES);
    age_secret_free(io->in[0]); /* peak RSS: the ring replaces it */
    io->in[0] = NULL;
    io->in_cap[0] = 0;
    r.head = AGE_BATCH_CHUNKS;
    rc = 0;
    while (rc == 0 && r.pushed + 1 < r.head)
        rc = ring_push(e, io, &r, AGE_CHUNK_SIZE, false, d);
    while (rc == 0) {
        if (r.tail < r.pushed && age_stream_done(ring_job(io, r.tail))) {
            rc = ring_write(e, io, &r, d);
        } else if (!r.eof && r.head < r.tail + AGE_RING_SLOTS) {
            rc = ring_read(e, io, &r, rd, rctx, d);
        } else if (age_stream_help(e->stream)) {
            continue; /* no slot free: seal a queued chunk here */
        } else if (r.tail < r.pushed) {
            age_stream_await(e->stream, ring_job(io, r.tail));
        } else {
            break; /* the end: everything pushed was written */
        }
    }
    /* on failure, no worker may still use the slots */
    for (uint64_t i = r.tail; i < r.pushed; i++)
        age_stream_await(e->stream, ring_job(io, i));
    if (rc != 0)
        e->failed = true;
    return rc;
}

/* encrypt_input: the loop described above. cur: the buffer pair of the batch just read;
 * pending: out[1 - cur] holds a sealed full batch (pend_bytes) not yet written. */
static int
encrypt_input(struct age_encryptor *e, struct enc_io *io, age_read_fn rd, void *rctx,
              struct m3_diag *d)
{
    size_t have, bytes = 0, count = 0, pend_bytes = 0;
    bool eof, pending = false;
    int cur = 0, rc, rc2;

    if ((rc = read_in(e, io, 0, rd, rctx, &have, &eof, d)) != 0)
        return rc;
    /* A file of one batch or less never pays for workers. */
    if (!eof && e->threads > 1)
        return encrypt_ring(e, io, rd, rctx, d);
    for (;;) {
        if (eof && have == 0 && pending) {
            /* The input ended with the pending batch: its last chunk, whose plaintext is
             * still in in[1 - cur], is the final one after all. */
            struct age_chunk_job *j = &io->jobs[1 - cur][AGE_BATCH_CHUNKS - 1];
            j->final = true;
            age_stream_run(e->stream, j, 1, true);
            if (!j->ok) {
                e->failed = true;
                return m3_diag_set(d, M3_ENOMEM, "payload encryption failed");
            }
            return out_write(e, io->out[1 - cur], pend_bytes) != 0 ? io_error(e, d) : 0;
        }
        if ((rc = seal_start(e, io, cur, have, eof, &bytes, &count, d)) != 0)
            return rc;
        /* The batch just read has data, so the pending one did not hold the final chunk. */
        if (pending) {
            if (out_write(e, io->out[1 - cur], pend_bytes) != 0) {
                age_stream_wait(e->stream);
                return io_error(e, d);
            }
            pending = false;
        }
        if (eof) {
            if ((rc = seal_end(e, io, cur, count, d)) != 0)
                return rc;
            return out_write(e, io->out[cur], bytes) != 0 ? io_error(e, d) : 0;
        }
        /* A full batch: more may follow. */
        if (io->in[1] == NULL) {
            if ((io->in[1] = age_batch_alloc()) == NULL) {
                age_stream_wait(e->stream);
                e->failed = true;
                return m3_diag_set(d, M3_ENOMEM, "out of memory");
            }
            io->in_cap[1] = IN_BYTES;
        }
        rc = read_in(e, io, 1 - cur, rd, rctx, &have, &eof, d);
        /* the read error, if any, is the one to report; the jobs are waited for anyway */
        rc2 = seal_end(e, io, cur, count, rc != 0 ? NULL : d);
        if (rc != 0 || (rc = rc2) != 0)
            return rc;
        pending = true;
        pend_bytes = bytes;
        cur = 1 - cur;
    }
}

int
age_encrypt(struct age_recipient *const *rcpts, size_t n, const struct age_encrypt_opts *opts,
            age_read_fn rd, void *rctx, age_write_fn wr, void *wctx, struct m3_diag *d)
{
    struct age_encryptor *e = NULL;
    struct enc_io io = {0};
    int rc;

    if ((rc = age_encryptor_new(&e, rcpts, n, opts, wr, wctx, d)) != 0)
        return rc;
    if ((rc = encrypt_input(e, &io, rd, rctx, d)) != 0)
        goto out;
    e->finished = true;
    if (e->armor != NULL && age_armor_writer_finish(e->armor) != 0)
        rc = io_error(e, d);
out:
    for (int k = 0; k < 2; k++) {
        age_secret_free(io.in[k]);
        free(io.out[k]);
    }
    age_secret_free(io.ring_in);
    free(io.ring_out);
    free(io.ring_text);
    age_encryptor_free(e);
    return rc;
}
