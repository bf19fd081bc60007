/* decrypt.c: the decryptor: header (armor detected), identities, MAC, then the STREAM
 * payload in batches opened in place; no plaintext leaves before its chunk authenticates. */
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

#define BATCH_BYTES (AGE_BATCH_CHUNKS * AGE_CT_CHUNK)
#define PEEK_MIN 64

enum { DS_HEADER, DS_PAYLOAD, DS_DONE, DS_FAILED };

struct age_decryptor {
    /* raw input, with bytes already read but not yet consumed in pre */
    age_read_fn rd;
    void *rctx;
    unsigned char *pre;
    size_t pre_len, pre_pos;
    struct age_armor_reader *armor;
    bool src_eof;
    int in_fd;        /* the file descriptor rd reads, or -1 (age_decryptor_input_fd) */
    uint64_t raw_off; /* bytes the read callback returned so far (pre included) */

    struct age_header *hdr;
    unsigned char *hdr_raw;
    unsigned char *payload_key; /* secret */
    struct age_stream *stream;
    unsigned stream_threads;
    int state;
    int err;
    struct m3_diag err_diag;

    /* payload batch: buf holds `have` ciphertext bytes; after a batch is opened, chunks
     * [next, njobs) are ready for the reader, `pos` bytes into chunk `next` consumed. */
    unsigned char *buf;
    size_t cap; /* bytes allocated at buf: it starts small and grows to a batch */
    size_t have;
    uint64_t counter;
    struct age_chunk_job *jobs; /* the current batch: jobs_ab[0] or [1] */
    struct age_chunk_job jobs_ab[2][AGE_BATCH_CHUNKS + 1];
    unsigned char *buf2; /* the second buffer, for pipelined decryption */
    size_t njobs, next, pos;
    size_t carry;    /* bytes after the batch that belong to the next one */
    size_t lead_off; /* read-ahead payload bytes sit in hdr_raw from here (`have` of them) */
    unsigned char *carry_from; /* the buffer holding them, at offset BATCH_BYTES */
    bool ended;                /* the final chunk was delivered into jobs */
    int pending_err;           /* error to report once the good chunks are consumed */
};

static ssize_t
raw_read(void *ctx, void *buf, size_t len)
{
    struct age_decryptor *dec = ctx;
    ssize_t n;

    if (dec->pre_pos < dec->pre_len) {
        size_t take = dec->pre_len - dec->pre_pos;
        if (take > len)
            take = len;
        memcpy(buf, dec->pre + dec->pre_pos, take);
        dec->pre_pos += take;
        return (ssize_t)take;
    }
    do
        n = dec->rd(dec->rctx, buf, len);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        dec->raw_off += (uint64_t)n;
    return n;
}

/* src_read: decoded input bytes (through the armor reader when armored). Fills up to len,
 * looping over short reads; returns the count, or a negative M3_E* code. */
static ssize_t
src_read(struct age_decryptor *dec, void *buf, size_t len, struct m3_diag *d)
{
    size_t got = 0;

    while (got < len && !dec->src_eof) {
        ssize_t n = dec->armor ? age_armor_read(dec->armor, (unsigned char *)buf + got, len - got)
                               : raw_read(dec, (unsigned char *)buf + got, len - got);
        if (n < 0) {
            if (dec->armor && age_armor_reader_error(dec->armor, d) == M3_EARMOR)
                return M3_EARMOR;
            if (dec->armor)
                return M3_EIO;
            return m3_diag_set(d, M3_EIO, "read error: %s", strerror(errno));
        }
        if (n == 0)
            dec->src_eof = true;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

static int
detect_armor(struct age_decryptor *dec, struct m3_diag *d)
{
    size_t cap = 4096;

    if ((dec->pre = malloc(cap)) == NULL)
        return M3_ENOMEM;
    while (dec->pre_len < PEEK_MIN) {
        ssize_t n = dec->rd(dec->rctx, dec->pre + dec->pre_len, cap - dec->pre_len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return m3_diag_set(d, M3_EIO, "read error: %s", strerror(errno));
        if (n == 0)
            break;
        dec->pre_len += (size_t)n;
        dec->raw_off += (uint64_t)n;
    }
    if (age_looks_armored(dec->pre, dec->pre_len)) {
        if ((dec->armor = age_armor_reader_new(raw_read, dec)) == NULL)
            return M3_ENOMEM;
    }
    return 0;
}

/* header_scan: where read_header's look at the header has got to. */
struct header_scan {
    size_t off;      /* start of the first line not yet looked at */
    size_t nstanzas; /* stanza lines seen */
};

/* find_header_end: looks at the complete lines of b[0..len) from hs->off on (each line
 * once, however the header arrives): the length of the header through the MAC line's
 * newline, 0 while it has not ended, or M3_EHEADER as soon as it has more stanzas than
 * AGE_HEADER_MAX_STANZAS, before the rest is read and before any unwrap. Neither "---"
 * nor "-> " can start a body line ('-' is not base64). */
static ssize_t
find_header_end(const unsigned char *b, size_t len, struct header_scan *hs, struct m3_diag *d)
{
    while (hs->off < len) {
        const unsigned char *p = b + hs->off, *nl = memchr(p, '\n', len - hs->off);
        size_t n;
        if (nl == NULL)
            return 0;
        n = (size_t)(nl - p);
        if (hs->off > 0 && n >= 3 && memcmp(p, "---", 3) == 0)
            return (ssize_t)(hs->off + n + 1);
        if (n >= 3 && memcmp(p, "-> ", 3) == 0 && ++hs->nstanzas > AGE_HEADER_MAX_STANZAS)
            return m3_diag_set(d, M3_EHEADER, "header has more than %u recipient stanzas",
                               AGE_HEADER_MAX_STANZAS);
        hs->off += n + 1;
    }
    return 0;
}

static int
read_header(struct age_decryptor *dec, struct m3_diag *d)
{
    size_t len = 0, cap = 4096, end = 0;
    unsigned char *b = malloc(cap);
    struct header_scan hs = {0};
    ssize_t e;
    int rc;

    if (b == NULL)
        return M3_ENOMEM;
    for (;;) {
        ssize_t n;
        if (len == cap) {
            unsigned char *nb;
            if (cap >= AGE_HEADER_MAX) {
                rc = m3_diag_set(d, M3_EHEADER, "header larger than %u bytes", AGE_HEADER_MAX);
                goto fail;
            }
            if ((nb = realloc(b, cap * 2)) == NULL) {
                rc = M3_ENOMEM;
                goto fail;
            }
            b = nb;
            cap *= 2;
        }
        /* Read a little at a time so that little payload is read ahead of the header. */
        n = src_read(dec, b + len, (cap - len) < 1024 ? cap - len : 1024, d);
        if (n < 0) {
            rc = (int)n;
            goto fail;
        }
        len += (size_t)n;
        if ((e = find_header_end(b, len, &hs, d)) < 0) {
            rc = (int)e;
            goto fail;
        }
        if ((end = (size_t)e) != 0 || n == 0 || dec->src_eof)
            break;
    }
    if (end == 0)
        end = len; /* incomplete: let the parser name the problem */
    if ((rc = age_header_parse(&dec->hdr, b, end, NULL, d)) != 0)
        goto fail;
    /* What was read past the header starts the payload; it stays in the header buffer
     * (ciphertext, not secret) until the payload buffers exist, so reading a header costs
     * no batch allocation (audit reads thousands of headers). */
    dec->lead_off = end;
    dec->have = len - end;
    dec->hdr->armored = dec->armor != NULL;
    dec->hdr_raw = b;
    return 0;
fail:
    free(b);
    return rc;
}

int
age_decryptor_new(struct age_decryptor **out, age_read_fn rd, void *rctx, struct m3_diag *d)
{
    struct age_decryptor *dec;
    int rc;

    *out = NULL;
    if (age_init() != 0)
        return M3_ENOMEM;
    if ((dec = calloc(1, sizeof(*dec))) == NULL)
        return M3_ENOMEM;
    dec->rd = rd;
    dec->rctx = rctx;
    dec->in_fd = -1;
    dec->jobs = dec->jobs_ab[0];
    if ((rc = detect_armor(dec, d)) != 0 || (rc = read_header(dec, d)) != 0) {
        age_decryptor_free(dec);
        return rc;
    }
    *out = dec;
    return 0;
}

const struct age_header *
age_decryptor_header(const struct age_decryptor *dec)
{
    return dec->hdr;
}

void
age_decryptor_free(struct age_decryptor *dec)
{
    if (dec == NULL)
        return;
    age_header_free(dec->hdr);
    free(dec->hdr_raw);
    free(dec->pre);
    age_armor_reader_free(dec->armor);
    age_secret_free(dec->payload_key);
    age_stream_free(dec->stream);
    age_secret_free(dec->buf);
    age_secret_free(dec->buf2);
    free(dec);
}

int
age_header_read(struct age_header **out, age_read_fn rd, void *ctx, struct m3_diag *d)
{
    struct age_decryptor *dec;
    int rc;

    *out = NULL;
    if ((rc = age_decryptor_new(&dec, rd, ctx, d)) != 0)
        return rc;
    *out = dec->hdr;
    dec->hdr = NULL;
    age_decryptor_free(dec);
    return 0;
}

static int
fail_state(struct age_decryptor *dec, int rc)
{
    dec->state = DS_FAILED;
    dec->err = rc;
    return rc;
}

int
age_decryptor_unwrap(struct age_decryptor *dec, struct age_identity *const *ids, size_t n,
                     struct m3_diag *d)
{
    const struct age_header *h = dec->hdr;
    unsigned char *file_key = NULL, mac[AGE_MAC_SIZE], nonce[AGE_PAYLOAD_NONCE_SIZE];
    int rc = M3_ENOMATCH;
    ssize_t got;

    if (dec->state != DS_HEADER)
        return m3_diag_set(d, M3_ESTATE, "identities already applied");
    /* Spec: an scrypt stanza must be the only one, whatever identities are tried. */
    for (size_t i = 0; i < h->nstanzas; i++)
        if (strcmp(h->stanzas[i].type, "scrypt") == 0 && h->nstanzas != 1)
            return fail_state(
                dec, m3_diag_set(d, M3_EHEADER, "an scrypt stanza must be the only stanza"));
    if ((file_key = age_secret_alloc(AGE_FILE_KEY_SIZE)) == NULL)
        return M3_ENOMEM;
    m3_diag_clear(d);
    for (size_t i = 0; i < n; i++) {
        rc = ids[i]->ops->unwrap(ids[i]->state, h->stanzas, h->nstanzas, file_key, d);
        if (rc != M3_ENOMATCH)
            break;
    }
    /* Keep a type's own explanation (e.g. "incorrect passphrase") when it gave one. */
    if (rc == M3_ENOMATCH && (d == NULL || d->code != M3_ENOMATCH || d->msg[0] == '\0'))
        m3_diag_set(d, M3_ENOMATCH, "no identity matched any of the recipients");
    if (rc != 0)
        goto out;
    if ((rc = age_header_mac(file_key, dec->hdr_raw, h->mac_off, mac)) != 0)
        goto out;
    if (sodium_memcmp(mac, h->mac, AGE_MAC_SIZE) != 0) {
        rc = m3_diag_set(d, M3_EMAC, "header MAC mismatch (wrong file key or tampered header)");
        goto out;
    }
    /* The nonce follows the header: take it from what was read ahead, then the input. */
    if (dec->have >= sizeof(nonce)) {
        memcpy(nonce, dec->hdr_raw + dec->lead_off, sizeof(nonce));
        dec->lead_off += sizeof(nonce);
        dec->have -= sizeof(nonce);
    } else {
        size_t k = dec->have;
        memcpy(nonce, dec->hdr_raw + dec->lead_off, k);
        dec->have = 0;
        got = src_read(dec, nonce + k, sizeof(nonce) - k, d);
        if (got < 0) {
            rc = (int)got;
            goto out;
        }
        if ((size_t)got != sizeof(nonce) - k) {
            rc = m3_diag_set(d, M3_EHEADER, "file is truncated: the payload nonce is missing");
            goto out;
        }
    }
    if ((dec->payload_key = age_secret_alloc(32)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    rc = age_hkdf(file_key, AGE_FILE_KEY_SIZE, nonce, sizeof(nonce), "payload", dec->payload_key,
                  32);
out:
    age_secret_free(file_key);
    if (rc != 0)
        return fail_state(dec, rc);
    dec->state = DS_PAYLOAD;
    return 0;
}

static int
ensure_stream(struct age_decryptor *dec, unsigned threads)
{
    if (threads == 0)
        threads = 1;
    if (dec->stream != NULL && dec->stream_threads == threads)
        return 0;
    age_stream_free(dec->stream);
    dec->stream = NULL;
    dec->stream_threads = threads;
    return age_stream_new(&dec->stream, dec->payload_key, threads);
}

/* payload_error: records a payload error, reported once the good chunks are consumed. */
#define payload_error(dec, ...)                                                                    \
    ((dec)->pending_err = m3_diag_set(&(dec)->err_diag, M3_EPAYLOAD, __VA_ARGS__))

/* chunk_failed: opened chunk j cannot be written: the error is recorded (payload_error) and
 * true returned; false for a good chunk. Spec: the final chunk is empty only when the whole
 * payload is. */
static bool
chunk_failed(struct age_decryptor *dec, const struct age_chunk_job *j)
{
    if (!j->ok && j->len < AGE_TAG_SIZE)
        payload_error(dec, "file is truncated in payload chunk %llu", (unsigned long long)j->counter);
    else if (!j->ok)
        payload_error(dec, "payload chunk %llu failed authentication (truncated or tampered file)",
                      (unsigned long long)j->counter);
    else if (j->final && j->len == AGE_TAG_SIZE && j->counter > 0)
        payload_error(dec, "empty final chunk %llu", (unsigned long long)j->counter);
    else
        return false;
    return true;
}

/* batch_shift: where in a whole-batch buffer the batch starting `back` bytes before the next
 * unread input byte goes: at the same offset within a page as that byte has in the input
 * (a file read from its start), so that the kernel's copy for read() runs between mutually
 * aligned addresses (see encrypt.c: AMD's rep movsb is far slower otherwise) and the data
 * still fits (age_batch_size has a page to spare). Armored input is decoded, not read:
 * no shift. */
static size_t
batch_shift(const struct age_decryptor *dec, size_t back)
{
    if (dec->armor != NULL)
        return 0;
    return (size_t)((dec->raw_off - (dec->pre_len - dec->pre_pos) - back) % 4096);
}

/* read_batch: fills buf with the next batch of ciphertext (carried bytes first) and sets up
 * its jobs. *count is 0 when the input ended where a chunk was due. */
static int
read_batch(struct age_decryptor *dec, unsigned char *buf, struct age_chunk_job *jobs, size_t *count,
           bool *eof, struct m3_diag *d)
{
    size_t want = BATCH_BYTES + 1, have = 0, last_len, n, lim;
    /* only dec->buf starts small (and then holds its batch from its start); buf2 and a
     * grown dec->buf hold a whole batch and a page more */
    bool growing = buf == dec->buf && dec->cap < age_batch_size();
    ssize_t got;

    if (growing && age_batch_grow(&dec->buf, &dec->cap, 0, dec->have + dec->carry + 1) != 0)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    buf = growing ? dec->buf : buf + batch_shift(dec, dec->carry);
    if (dec->carry > 0) {
        memmove(buf, dec->carry_from + BATCH_BYTES, dec->carry);
        have = dec->carry;
        dec->carry = 0;
    } else if (dec->have > 0) {
        /* bytes read ahead with the header */
        memcpy(buf, dec->hdr_raw + dec->lead_off, dec->have);
        have = dec->have;
        dec->have = 0;
    }
    /* Read what the buffer holds; when it fills before the input ends, grow it and go on
     * (a small file never needs more than a page). */
    for (;;) {
        lim = growing && dec->cap < want ? dec->cap : want;
        got = src_read(dec, buf + have, lim - have, d);
        if (got < 0)
            return (int)got;
        have += (size_t)got;
        if (have < lim || lim == want)
            break;
        if (age_batch_grow(&dec->buf, &dec->cap, have, have + 1) != 0)
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        buf = dec->buf;
    }
    *eof = have < want;
    if (!*eof) {
        n = AGE_BATCH_CHUNKS;
        last_len = AGE_CT_CHUNK;
        dec->carry = have - BATCH_BYTES;
        dec->carry_from = buf;
    } else if (have == 0) {
        n = 0;
        last_len = 0;
    } else {
        n = (have + AGE_CT_CHUNK - 1) / AGE_CT_CHUNK;
        last_len = have - (n - 1) * AGE_CT_CHUNK;
    }
    for (size_t i = 0; i < n; i++) {
        struct age_chunk_job *j = &jobs[i];
        j->p = buf + i * AGE_CT_CHUNK;
        j->len = i == n - 1 ? last_len : AGE_CT_CHUNK;
        j->counter = dec->counter + i;
        /* Only a short chunk is known to be final by its size; a full chunk is opened as
         * non-final first and, failing that, as final (as the reference implementation). */
        j->final = *eof && i == n - 1 && j->len < AGE_CT_CHUNK;
    }
    dec->counter += n;
    *count = n;
    return age_stream_prepare(dec->counter, d);
}

/* check_batch: after the jobs were opened, decides what may be released: dec->jobs[0,
 * njobs) are authenticated chunks in order; a failure or the end sets ended/pending_err. */
static void
check_batch(struct age_decryptor *dec, size_t count, bool eof)
{
    dec->next = dec->pos = 0;
    dec->ended = eof;
    dec->njobs = count;
    if (count == 0) {
        dec->ended = true;
        payload_error(dec, "file is truncated: payload chunk %llu is missing",
                      (unsigned long long)dec->counter);
        return;
    }
    for (size_t i = 0; i < count; i++) {
        struct age_chunk_job *j = &dec->jobs[i];
        bool at_end = eof && i == count - 1;
        if (!j->ok && !j->final && j->len == AGE_CT_CHUNK) {
            j->final = true;
            age_stream_open1(dec->stream, j);
        }
        if (chunk_failed(dec, j)) {
            dec->njobs = i;
            dec->ended = true;
            return;
        }
        if (j->final && !at_end) {
            dec->njobs = i + 1;
            dec->ended = true;
            payload_error(dec, "trailing data after the final chunk (chunk %llu)",
                          (unsigned long long)j->counter);
            return;
        }
        if (!j->final && at_end) {
            payload_error(dec, "file is truncated: the final chunk is missing after chunk %llu",
                          (unsigned long long)j->counter);
            return;
        }
    }
}

/* next_batch: reads, opens and checks the next batch in the current buffer. */
static int
next_batch(struct age_decryptor *dec, struct m3_diag *d)
{
    size_t count = 0;
    bool eof = false;
    int rc;

    if ((rc = read_batch(dec, dec->buf, dec->jobs, &count, &eof, d)) != 0)
        return rc;
    age_stream_run(dec->stream, dec->jobs, count, false);
    check_batch(dec, count, eof);
    return 0;
}

/* write_ready: writes the released chunks of the current batch not yet handed out. */
static int
write_ready(struct age_decryptor *dec, age_write_fn wr, void *wctx, struct m3_diag *d)
{
    for (; dec->next < dec->njobs; dec->next++, dec->pos = 0) {
        struct age_chunk_job *j = &dec->jobs[dec->next];
        size_t plen = j->len - AGE_TAG_SIZE;
        if (plen > dec->pos && wr(wctx, j->p + dec->pos, plen - dec->pos) != 0)
            return m3_diag_set(d, M3_EIO, "write error: %s", strerror(errno));
    }
    return 0;
}

/* ---- with workers: a ring of chunk slots (see encrypt.c for why not batches) ----------
 *
 * This thread reads ciphertext into free slots (up to RING_READ chunks per read()) and pushes
 * each chunk at once (a full chunk is opened as not the last, as above), hands out opened
 * chunks in order, and opens queued chunks itself when no slot is free. A chunk's checks are
 * check_batch's, made in order as they are handed out. Slots lie back to back, so that one
 * read() fills several; each pass over the ring starts at the same offset within a page as
 * its first chunk has in the input (as batch_shift does), so reads stay aligned with the
 * input. That start moves by less than a page from one pass to the next, into the slot
 * after the one being reused: so one slot is always kept free (RING_LIVE).
 * Chunks are opened out of place, into plaintext slots: opened in place, a worker's
 * plaintext sits modified in its core's cache, and this thread's next read() into the slot
 * has to take every line back from there. (perf, 1 GiB on two cores: two threads cost some
 * 10-17% more CPU than one, mostly the data crossing between the cores, which placement
 * only moves; the padded one-chunk slots used first cost the reads 5-10% more than these.) */
#define RING_READ 2
#define RING_LIVE (AGE_RING_SLOTS - 1)
#define RING_BYTES ((size_t)AGE_RING_SLOTS * AGE_CT_CHUNK + 4096)

/* ring_end: the end of a ring's run (either ring below): waits until no worker uses the slots
 * of chunks [tail, head) (they may then be freed), ends the payload, and returns rc, or the
 * ring's read error when nothing failed before it (d set). */
static int
ring_end(struct age_decryptor *dec, struct age_chunk_job *jobs, uint64_t tail, uint64_t head,
         int read_rc, int rc, struct m3_diag *d)
{
    for (uint64_t i = tail; i < head; i++)
        age_stream_await(dec->stream, &jobs[i % AGE_RING_SLOTS]);
    dec->ended = true;
    dec->njobs = dec->next = dec->pos = 0;
    if (rc == 0 && dec->pending_err == 0 && read_rc != 0) {
        if (d != NULL)
            *d = dec->err_diag;
        rc = read_rc;
    }
    return rc;
}

struct dec_ring {
    unsigned char *mem; /* RING_BYTES: AGE_RING_SLOTS ciphertext slots from base on */
    size_t base;        /* where the current pass over the ring starts */
    unsigned char *pt;  /* AGE_RING_SLOTS plaintext chunks, secret memory */
    struct age_chunk_job jobs[AGE_RING_SLOTS];
    uint64_t head, tail; /* chunks read: [0, head); handed out: [0, tail) */
    bool eof;
    int read_rc; /* a read error, reported once the chunks before it are handed out */
};

/* ring_read: reads the next chunks into their slots and pushes them; at the end of the
 * input, sets eof (a short chunk is the last one; nothing read: no chunk). */
static int
ring_read(struct age_decryptor *dec, struct dec_ring *r, struct m3_diag *d)
{
    size_t slot = (size_t)(r->head % AGE_RING_SLOTS), have = 0, k;
    uint64_t room = r->tail + RING_LIVE - r->head;
    unsigned char *p;
    ssize_t got;
    int rc;

    if (slot == 0)
        r->base = batch_shift(dec, dec->carry);
    p = r->mem + r->base + slot * AGE_CT_CHUNK;
    k = AGE_RING_SLOTS - slot; /* back to back up to the ring's end */
    if (k > room)
        k = (size_t)room;
    if (k > RING_READ)
        k = RING_READ;
    if (dec->carry > 0) { /* bytes read past the last batch */
        memmove(p, dec->carry_from + BATCH_BYTES, dec->carry);
        have = dec->carry;
        dec->carry = 0;
    }
    if ((got = src_read(dec, p + have, k * AGE_CT_CHUNK - have, d)) < 0) {
        r->read_rc = (int)got;
        if (d != NULL)
            dec->err_diag = *d;
        r->eof = true;
        return 0;
    }
    have += (size_t)got;
    if (have < k * AGE_CT_CHUNK)
        r->eof = true;
    for (; have > 0; p += AGE_CT_CHUNK) {
        struct age_chunk_job *j = &r->jobs[r->head % AGE_RING_SLOTS];
        j->p = p;
        j->out = r->pt + (size_t)(r->head % AGE_RING_SLOTS) * AGE_CHUNK_SIZE;
        j->text = NULL;
        j->len = have < AGE_CT_CHUNK ? have : AGE_CT_CHUNK;
        j->counter = dec->counter++;
        j->final = j->len < AGE_CT_CHUNK;
        have -= j->len;
        if ((rc = age_stream_prepare(dec->counter, d)) != 0)
            return rc;
        age_stream_push(dec->stream, j, false);
        r->head++;
    }
    return 0;
}

/* ring_release: checks the opened chunks from the tail on (check_batch's rules) and writes
 * those that pass, slots back to back at once; *stop when nothing more is to be handed out
 * (dec->pending_err tells whether it ended well). */
static int
ring_release(struct age_decryptor *dec, struct dec_ring *r, age_write_fn wr, void *wctx, bool *stop,
             struct m3_diag *d)
{
    const unsigned char *from = r->jobs[r->tail % AGE_RING_SLOTS].out;
    struct age_chunk_job *j = NULL;
    size_t run = 0;
    bool final = false;
    int rc;

    *stop = false;
    while (!*stop && !final && r->tail < r->head && (run == 0 || r->tail % AGE_RING_SLOTS != 0) &&
           age_stream_done(j = &r->jobs[r->tail % AGE_RING_SLOTS])) {
        if (!j->ok && !j->final && j->len == AGE_CT_CHUNK) {
            j->final = true;
            age_stream_open1(dec->stream, j);
        }
        if ((*stop = chunk_failed(dec, j)))
            break;
        run += j->len - AGE_TAG_SIZE;
        r->tail++;
        final = j->final;
    }
    if (run > 0 && wr(wctx, from, run) != 0)
        return m3_diag_set(d, M3_EIO, "write error: %s", strerror(errno));
    if (final) {
        /* the last chunk: nothing may follow it */
        *stop = true;
        while (r->tail == r->head && !r->eof && r->read_rc == 0)
            if ((rc = ring_read(dec, r, d)) != 0)
                return rc;
        if (r->tail < r->head)
            payload_error(dec, "trailing data after the final chunk (chunk %llu)",
                          (unsigned long long)j->counter);
    }
    return 0;
}

/* stream_ring: the rest of the payload with workers, after at least a batch. */
static int
stream_ring(struct age_decryptor *dec, age_write_fn wr, void *wctx, struct m3_diag *d)
{
    struct dec_ring r = {0};
    bool stop = false;
    int rc = 0;

    if (posix_memalign((void **)&r.mem, 4096, RING_BYTES) != 0)
        return M3_ENOMEM;
    if ((r.pt = age_secret_alloc((size_t)AGE_RING_SLOTS * AGE_CHUNK_SIZE)) == NULL) {
        free(r.mem);
        return M3_ENOMEM;
    }
    /* the first chunk takes the bytes read past the last batch: its buffer can go then */
    rc = ring_read(dec, &r, d);
    age_secret_free(dec->buf);
    age_secret_free(dec->buf2);
    dec->buf = dec->buf2 = NULL;
    dec->cap = 0;
    while (rc == 0 && !stop) {
        struct age_chunk_job *t = &r.jobs[r.tail % AGE_RING_SLOTS];
        if (r.tail < r.head && age_stream_done(t))
            rc = ring_release(dec, &r, wr, wctx, &stop, d);
        else if (!r.eof && r.head < r.tail + RING_LIVE)
            rc = ring_read(dec, &r, d);
        else if (age_stream_help(dec->stream))
            continue; /* no slot free: open a queued chunk here */
        else if (r.tail < r.head)
            age_stream_await(dec->stream, t);
        else
            break; /* the input ended where a chunk was due */
    }
    if (rc == 0 && !stop && r.read_rc == 0)
        payload_error(dec, "file is truncated: the final chunk is missing after chunk %llu",
                      (unsigned long long)(dec->counter - 1));
    rc = ring_end(dec, r.jobs, r.tail, r.head, r.read_rc, rc, d);
    free(r.mem);
    age_secret_free(r.pt);
    return rc;
}

/* ---- with workers, from a regular file: each thread reads the chunks it opens ----------
 *
 * The ring above has this thread read() every chunk and a worker open it: the ciphertext
 * crosses from one core's cache to the other's (see above; 11% more CPU per byte with two
 * threads than with one on the Xeon here). From a regular file, chunk i is at a known offset
 * (the payload's start + i * AGE_CT_CHUNK), so the thread that opens a chunk reads it too,
 * with pread() (stream.c, fd_job), and only the plaintext crosses, to be written here in
 * order. A pipe has no offsets: it keeps the ring. What pread returns is what counts (a file
 * may change while it is read; st_size is not used): a chunk that reads short is the last
 * one, nothing read means the input ended there, a full last chunk is followed by a read of
 * what comes after it (trailing data), a read error is reported once the chunks before it
 * are written; the checks are ring_release's. */

struct fd_ring {
    unsigned char *pt; /* AGE_RING_SLOTS plaintext chunks, secret memory */
    struct age_chunk_job jobs[AGE_RING_SLOTS];
    uint64_t head, tail; /* chunks pushed: [0, head); handed out: [0, tail) */
    uint64_t off;        /* the input offset of chunk `head` */
    int read_rc;         /* a read error, recorded in dec->err_diag */
};

static void
fd_read_error(struct age_decryptor *dec, struct fd_ring *r, int err)
{
    r->read_rc = m3_diag_set(&dec->err_diag, M3_EIO, "read error: %s", strerror(err));
}

/* fd_after_last: a full chunk at off was the last one: anything after it is trailing data. */
static void
fd_after_last(struct age_decryptor *dec, struct fd_ring *r, const struct age_chunk_job *last)
{
    uint64_t at = last->off + AGE_CT_CHUNK;
    unsigned char c;
    ssize_t n = 0;
    int err = 0;

    if (r->tail < r->head) { /* its successor was read already */
        struct age_chunk_job *j = &r->jobs[r->tail % AGE_RING_SLOTS];
        age_stream_await(dec->stream, j);
        n = (ssize_t)j->len;
        err = j->rd_errno;
    } else {
        do
            n = pread(dec->in_fd, &c, 1, (off_t)at);
        while (n < 0 && errno == EINTR);
        err = n < 0 ? errno : 0;
    }
    if (err != 0 && n <= 0)
        fd_read_error(dec, r, err);
    else if (n > 0)
        payload_error(dec, "trailing data after the final chunk (chunk %llu)",
                      (unsigned long long)last->counter);
}

/* fd_release: fd_ring's ring_release: checks the opened chunks from the tail on and writes
 * those that pass, slots back to back at once; *stop when nothing more is to be handed out. */
static int
fd_release(struct age_decryptor *dec, struct fd_ring *r, age_write_fn wr, void *wctx, bool *stop,
           struct m3_diag *d)
{
    const unsigned char *from = r->jobs[r->tail % AGE_RING_SLOTS].out;
    struct age_chunk_job *j = NULL;
    size_t run = 0;
    bool final = false;

    *stop = false;
    while (!final && r->tail < r->head && (run == 0 || r->tail % AGE_RING_SLOTS != 0) &&
           age_stream_done(j = &r->jobs[r->tail % AGE_RING_SLOTS])) {
        *stop = true;
        if (j->rd_errno != 0)
            fd_read_error(dec, r, j->rd_errno);
        else if (j->len == 0)
            payload_error(dec, "file is truncated: the final chunk is missing after chunk %llu",
                          (unsigned long long)(j->counter - 1));
        else
            *stop = chunk_failed(dec, j);
        if (*stop)
            break;
        run += j->len - AGE_TAG_SIZE;
        r->tail++;
        final = j->final;
    }
    if (run > 0 && wr(wctx, from, run) != 0)
        return m3_diag_set(d, M3_EIO, "write error: %s", strerror(errno));
    if (final) {
        *stop = true;
        /* A short chunk ended the input when it was read; after a full one, look. */
        if (j->len == AGE_CT_CHUNK)
            fd_after_last(dec, r, j);
    }
    return 0;
}

/* stream_fd: the rest of the payload with workers that pread() their chunks, from input
 * offset off on (the bytes read past the last batch are read again). */
static int
stream_fd(struct age_decryptor *dec, uint64_t off, age_write_fn wr, void *wctx, struct m3_diag *d)
{
    struct fd_ring r = {0};
    bool stop = false;
    int rc = 0;

    if ((rc = age_stream_fd_bufs(dec->stream)) != 0)
        return rc;
    if ((r.pt = age_secret_alloc((size_t)AGE_RING_SLOTS * AGE_CHUNK_SIZE)) == NULL)
        return M3_ENOMEM;
    age_secret_free(dec->buf);
    age_secret_free(dec->buf2);
    dec->buf = dec->buf2 = NULL;
    dec->cap = 0;
    dec->carry = 0;
    r.off = off;
    while (rc == 0 && !stop) {
        struct age_chunk_job *t = &r.jobs[r.tail % AGE_RING_SLOTS];
        if (r.tail < r.head && age_stream_done(t)) {
            rc = fd_release(dec, &r, wr, wctx, &stop, d);
        } else if (r.head < r.tail + AGE_RING_SLOTS) {
            /* Chunks are pushed before the end is known: past it, they read nothing. */
            struct age_chunk_job *j = &r.jobs[r.head % AGE_RING_SLOTS];
            memset(j, 0, sizeof(*j));
            j->from_fd = true;
            j->fd = dec->in_fd;
            j->off = r.off;
            j->out = r.pt + (size_t)(r.head % AGE_RING_SLOTS) * AGE_CHUNK_SIZE;
            j->counter = dec->counter++;
            if ((rc = age_stream_prepare(dec->counter, d)) != 0)
                break;
            age_stream_push(dec->stream, j, false);
            r.head++;
            r.off += AGE_CT_CHUNK;
        } else if (!age_stream_help(dec->stream)) {
            age_stream_await(dec->stream, t);
        }
    }
    rc = ring_end(dec, r.jobs, r.tail, r.head, r.read_rc, rc, d);
    age_secret_free(r.pt);
    return rc;
}

/* fd_offset: the input offset of the next payload byte not yet consumed when the payload can
 * be read with pread() (a regular file, not armored); else false. */
static bool
fd_offset(const struct age_decryptor *dec, uint64_t *off)
{
    struct stat st;
    off_t cur;
    uint64_t ahead = (dec->pre_len - dec->pre_pos) + dec->carry;

    if (dec->in_fd < 0 || dec->armor != NULL || fstat(dec->in_fd, &st) != 0 ||
        !S_ISREG(st.st_mode) || (cur = lseek(dec->in_fd, 0, SEEK_CUR)) < 0 || (uint64_t)cur < ahead)
        return false;
    *off = (uint64_t)cur - ahead;
    return true;
}

void
age_decryptor_input_fd(struct age_decryptor *dec, int fd)
{
    dec->in_fd = fd;
}

int
age_decryptor_read(struct age_decryptor *dec, void *buf, size_t cap, size_t *got, struct m3_diag *d)
{
    size_t out = 0;
    int rc;

    *got = 0;
    if (dec->state == DS_FAILED)
        return m3_diag_set(d, dec->err ? dec->err : M3_ESTATE, "decryption already failed");
    if (dec->state == DS_HEADER)
        return m3_diag_set(d, M3_ESTATE, "no identity applied yet");
    if (dec->stream == NULL && (rc = ensure_stream(dec, 1)) != 0)
        return rc;
    while (out < cap) {
        if (dec->next < dec->njobs) {
            struct age_chunk_job *j = &dec->jobs[dec->next];
            size_t plen = j->len - AGE_TAG_SIZE, take = plen - dec->pos;
            if (take > cap - out)
                take = cap - out;
            memcpy((unsigned char *)buf + out, j->p + dec->pos, take);
            out += take;
            dec->pos += take;
            if (dec->pos == plen) {
                dec->next++;
                dec->pos = 0;
            }
            continue;
        }
        if (dec->pending_err != 0) {
            if (out > 0)
                break;
            if (d != NULL)
                *d = dec->err_diag;
            return fail_state(dec, dec->pending_err);
        }
        if (dec->ended) {
            dec->state = DS_DONE;
            break;
        }
        if ((rc = next_batch(dec, d)) != 0) {
            if (out > 0) {
                dec->pending_err = rc;
                if (d != NULL)
                    dec->err_diag = *d;
                break;
            }
            return fail_state(dec, rc);
        }
    }
    *got = out;
    return 0;
}

int
age_decryptor_stream(struct age_decryptor *dec, age_write_fn wr, void *wctx, unsigned threads,
                     struct m3_diag *d)
{
    int rc;

    if (dec->state == DS_FAILED)
        return m3_diag_set(d, dec->err ? dec->err : M3_ESTATE, "decryption already failed");
    if (dec->state == DS_HEADER)
        return m3_diag_set(d, M3_ESTATE, "no identity applied yet");
    /* The first batch is opened on this thread: a small file (most secrets) never pays for
     * starting worker threads. */
    if ((rc = ensure_stream(dec, dec->counter > 0 ? threads : 1)) != 0)
        return rc;
    for (;;) {
        /* Hand out what is ready (a partial chunk left by age_decryptor_read first). */
        if ((rc = write_ready(dec, wr, wctx, d)) != 0)
            return fail_state(dec, rc);
        if (dec->pending_err != 0) {
            if (d != NULL)
                *d = dec->err_diag;
            return fail_state(dec, dec->pending_err);
        }
        if (dec->ended) {
            dec->state = DS_DONE;
            return 0;
        }
        if (dec->counter > 0 && threads > 1 && !age_stream_parallel(dec->stream) &&
            (rc = ensure_stream(dec, threads)) != 0)
            return fail_state(dec, rc);
        if (age_stream_parallel(dec->stream)) {
            uint64_t off;
            rc = fd_offset(dec, &off) ? stream_fd(dec, off, wr, wctx, d)
                                      : stream_ring(dec, wr, wctx, d);
        } else
            rc = next_batch(dec, d);
        if (rc != 0)
            return fail_state(dec, rc);
    }
}

int
age_decrypt(struct age_identity *const *ids, size_t n, age_read_fn rd, void *rctx, age_write_fn wr,
            void *wctx, unsigned threads, struct m3_diag *d)
{
    struct age_decryptor *dec = NULL;
    int rc;

    if ((rc = age_decryptor_new(&dec, rd, rctx, d)) == 0 &&
        (rc = age_decryptor_unwrap(dec, ids, n, d)) == 0)
        rc = age_decryptor_stream(dec, wr, wctx, threads, d);
    age_decryptor_free(dec);
    return rc;
}
