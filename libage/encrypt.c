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

/* fill: reads into the batch until every slot is full and the look-ahead slot has data
 * (so none of the full slots is the final chunk), or until the input ends (*eof). */
static int
fill(struct age_encryptor *e, age_read_fn rd, void *rctx, bool *eof, struct m3_diag *d)
{
    *eof = false;
    while (!(e->nfull == AGE_BATCH_CHUNKS && e->tail > 0)) {
        size_t room;
        unsigned char *dst = slot_space(e, &room);
        ssize_t got;
        if (dst == NULL) {
            e->failed = true;
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        got = rd(rctx, dst, room); /* straight into the slot: no copy */
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
        e->tail += (size_t)got;
        if (e->tail == AGE_CHUNK_SIZE && e->nfull < AGE_BATCH_CHUNKS) {
            e->nfull++;
            e->tail = 0;
        }
    }
    return 0;
}

/* encrypt_pipelined: called with a full batch (and its look-ahead byte) in the buffer. While
 * the workers seal one batch, this thread reads the next into a second buffer; then it
 * writes the sealed batch. Memory stays at two batches. */
static int
encrypt_pipelined(struct age_encryptor *e, age_read_fn rd, void *rctx, struct m3_diag *d)
{
    struct age_chunk_job jobs[AGE_BATCH_CHUNKS];
    unsigned char *other = age_batch_alloc(), *sealed;
    bool eof = false;
    int rc;

    if (other == NULL)
        return M3_ENOMEM;
    while (!eof) {
        for (size_t i = 0; i < AGE_BATCH_CHUNKS; i++) {
            jobs[i].p = e->buf + i * AGE_CT_CHUNK;
            jobs[i].len = AGE_CHUNK_SIZE;
            jobs[i].counter = e->counter++;
            jobs[i].final = false;
        }
        if ((rc = age_stream_prepare(e->counter, d)) != 0) {
            e->failed = true;
            goto out;
        }
        age_stream_start(e->stream, jobs, AGE_BATCH_CHUNKS, true);
        /* The look-ahead slot starts the next batch, in the other buffer. */
        memcpy(other, e->buf + AGE_BATCH_CHUNKS * AGE_CT_CHUNK, e->tail);
        sealed = e->buf;
        e->buf = other;
        e->nfull = 0;
        if (e->tail == AGE_CHUNK_SIZE) {
            e->nfull = 1;
            e->tail = 0;
        }
        rc = fill(e, rd, rctx, &eof, d);
        age_stream_wait(e->stream);
        other = sealed;
        if (rc != 0)
            goto out;
        for (size_t i = 0; i < AGE_BATCH_CHUNKS; i++)
            if (!jobs[i].ok) {
                e->failed = true;
                rc = m3_diag_set(d, M3_ENOMEM, "payload encryption failed");
                goto out;
            }
        if (out_write(e, sealed, AGE_BATCH_CHUNKS * AGE_CT_CHUNK) != 0) {
            rc = io_error(e, d);
            goto out;
        }
    }
    rc = age_encryptor_finish(e, d);
out:
    age_secret_free(other);
    return rc;
}

int
age_encrypt(struct age_recipient *const *rcpts, size_t n, const struct age_encrypt_opts *opts,
            age_read_fn rd, void *rctx, age_write_fn wr, void *wctx, struct m3_diag *d)
{
    struct age_encryptor *e = NULL;
    bool eof = false;
    int rc;

    if ((rc = age_encryptor_new(&e, rcpts, n, opts, wr, wctx, d)) != 0)
        return rc;
    if ((rc = fill(e, rd, rctx, &eof, d)) != 0)
        goto out;
    if (!eof && e->threads > 1) {
        struct age_stream *s = NULL;
        if ((rc = age_stream_new(&s, e->payload_key, e->threads)) != 0)
            goto out;
        age_stream_free(e->stream);
        e->stream = s;
        rc = encrypt_pipelined(e, rd, rctx, d);
        goto out;
    }
    for (;;) {
        if (eof)
            break;
        if ((rc = flush_full(e, d)) != 0)
            goto out;
        if (e->tail == AGE_CHUNK_SIZE) {
            e->nfull = 1;
            e->tail = 0;
        }
        if ((rc = fill(e, rd, rctx, &eof, d)) != 0)
            goto out;
    }
    rc = age_encryptor_finish(e, d);
out:
    age_encryptor_free(e);
    return rc;
}
