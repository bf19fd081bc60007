/* armor.c: strict streaming ASCII armor. Whitespace is allowed only around the block; inside
 * it every line but the last holds exactly 64 columns of padded, canonical base64, lines end
 * in LF or CRLF, and nothing but whitespace may follow the END line. */
#include "libage/armor.h"
#include "libage/base64.h"
#include "libage/internal.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define RAW_CAP 8192
#define COLS 64
#define WRITE_GROUPS 1024 /* 48-byte groups encoded per write() */

enum { ST_BEGIN, ST_BODY, ST_TRAILER, ST_DONE, ST_ERROR };

struct age_armor_reader {
    age_read_fn rd;
    void *ctx;
    unsigned char raw[RAW_CAP];
    size_t raw_len, raw_pos;
    bool raw_eof;
    unsigned char dec[48];
    size_t dec_len, dec_pos;
    int state;
    bool short_seen; /* a line shorter than 64 columns was read: only END may follow */
    unsigned lineno;
    int err;
    struct m3_diag diag;
};

bool
age_looks_armored(const unsigned char *buf, size_t len)
{
    size_t i = 0, n = 5;

    /* A binary age file starts with "age-encryption.org/"; anything that starts (after
     * whitespace) with the five dashes of a PEM line is judged by the strict armor reader,
     * so a wrong or lower-case label is an armor error, not a header error. */
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    if (len - i < n)
        n = len - i;
    return n > 0 && memcmp(buf + i, "-----", n) == 0;
}

struct age_armor_reader *
age_armor_reader_new(age_read_fn rd, void *ctx)
{
    struct age_armor_reader *r = calloc(1, sizeof(*r));

    if (r != NULL) {
        r->rd = rd;
        r->ctx = ctx;
    }
    return r;
}

void
age_armor_reader_free(struct age_armor_reader *r)
{
    free(r);
}

int
age_armor_reader_error(const struct age_armor_reader *r, struct m3_diag *d)
{
    if (d != NULL && r->err != 0)
        *d = r->diag;
    return r->err;
}

static int
fail(struct age_armor_reader *r, const char *msg)
{
    r->state = ST_ERROR;
    r->err = M3_EARMOR;
    if (r->lineno)
        m3_diag_set(&r->diag, M3_EARMOR, "armor line %u: %s", r->lineno, msg);
    else
        m3_diag_set(&r->diag, M3_EARMOR, "%s", msg);
    return -1;
}

/* raw_fill: makes sure raw has unread bytes; 1 if so, 0 at EOF, -1 on I/O error. */
static int
raw_fill(struct age_armor_reader *r)
{
    ssize_t n;

    if (r->raw_pos < r->raw_len)
        return 1;
    if (r->raw_eof)
        return 0;
    do
        n = r->rd(r->ctx, r->raw, sizeof(r->raw));
    while (n < 0 && errno == EINTR);
    if (n < 0) {
        r->state = ST_ERROR;
        r->err = M3_EIO;
        m3_diag_set(&r->diag, M3_EIO, "read error: %s", strerror(errno));
        return -1;
    }
    r->raw_len = (size_t)n;
    r->raw_pos = 0;
    if (n == 0)
        r->raw_eof = true;
    return n > 0;
}

/* read_line: one line into line (without LF or CRLF). Lines longer than cap-1 fail.
 * Sets *eol to whether a line ending was present (false only at EOF). 0 ok, -1 error. */
static int
read_line(struct age_armor_reader *r, char *line, size_t cap, size_t *n, bool *eol)
{
    size_t len = 0;
    int f;

    *eol = false;
    while ((f = raw_fill(r)) > 0) {
        unsigned char c = r->raw[r->raw_pos++];
        if (c == '\n') {
            *eol = true;
            break;
        }
        if (len + 1 >= cap)
            return fail(r, "line too long");
        line[len++] = (char)c;
    }
    if (f < 0)
        return -1;
    r->lineno++;
    if (*eol && len > 0 && line[len - 1] == '\r')
        len--;
    line[len] = '\0';
    *n = len;
    return 0;
}

static int
skip_leading_ws(struct age_armor_reader *r)
{
    int f;

    while ((f = raw_fill(r)) > 0) {
        unsigned char c = r->raw[r->raw_pos];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return 0;
        if (c == '\n')
            r->lineno++;
        r->raw_pos++;
    }
    return f < 0 ? -1 : 0;
}

static int
check_trailer(struct age_armor_reader *r)
{
    int f;

    while ((f = raw_fill(r)) > 0) {
        unsigned char c = r->raw[r->raw_pos++];
        if (c != ' ' && c != '\t' && c != '\r' && c != '\n')
            return fail(r, "unexpected data after the armor END line");
    }
    if (f < 0)
        return -1;
    r->state = ST_DONE;
    return 0;
}

/* next_block: decodes the next body line into dec, or moves to the trailer. */
static int
next_block(struct age_armor_reader *r)
{
    char line[COLS + 4];
    size_t n, got = 0;
    bool eol;

    if (r->state == ST_BEGIN) {
        if (skip_leading_ws(r) < 0)
            return -1;
        if (read_line(r, line, sizeof(line), &n, &eol) < 0)
            return -1;
        if (strcmp(line, AGE_ARMOR_BEGIN) != 0 || !eol)
            return fail(r, "missing or malformed BEGIN line");
        r->state = ST_BODY;
    }
    if (read_line(r, line, sizeof(line), &n, &eol) < 0)
        return -1;
    if (strcmp(line, AGE_ARMOR_END) == 0) {
        r->state = ST_TRAILER;
        return check_trailer(r);
    }
    if (!eol)
        return fail(r, "missing END line");
    if (r->short_seen)
        return fail(r, "data after the last (short) base64 line");
    if (n == 0)
        return fail(r, "empty line inside the armor");
    if (n > COLS)
        return fail(r, "line longer than 64 columns");
    if (n % 4 != 0)
        return fail(r, "base64 line is not padded");
    if (sodium_base642bin(r->dec, sizeof(r->dec), line, n, NULL, &got, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return fail(r, "invalid or non-canonical base64");
    if (n < COLS || line[n - 1] == '=')
        r->short_seen = true;
    r->dec_len = got;
    r->dec_pos = 0;
    return 0;
}

ssize_t
age_armor_read(void *reader, void *buf, size_t len)
{
    struct age_armor_reader *r = reader;
    size_t out = 0;

    while (out < len) {
        if (r->state == ST_ERROR)
            return out ? (ssize_t)out : -1;
        if (r->dec_pos < r->dec_len) {
            size_t take = r->dec_len - r->dec_pos;
            if (take > len - out)
                take = len - out;
            memcpy((unsigned char *)buf + out, r->dec + r->dec_pos, take);
            r->dec_pos += take;
            out += take;
            continue;
        }
        if (r->state == ST_DONE)
            break;
        if (next_block(r) < 0 && out == 0)
            return -1;
    }
    return (ssize_t)out;
}

/* ---- writer ---------------------------------------------------------------------------- */

struct age_armor_writer {
    age_write_fn wr;
    void *ctx;
    unsigned char rem[48];
    size_t nrem;
    bool begun;
    char out[WRITE_GROUPS * (COLS + 1) + 1];
};

struct age_armor_writer *
age_armor_writer_new(age_write_fn wr, void *ctx)
{
    struct age_armor_writer *w = calloc(1, sizeof(*w));

    if (w != NULL) {
        w->wr = wr;
        w->ctx = ctx;
    }
    return w;
}

void
age_armor_writer_free(struct age_armor_writer *w)
{
    free(w);
}

static int
begin(struct age_armor_writer *w)
{
    if (w->begun)
        return 0;
    w->begun = true;
    return w->wr(w->ctx, AGE_ARMOR_BEGIN "\n", sizeof(AGE_ARMOR_BEGIN));
}

/* encode_lines: n whole 48-byte groups from p as 64-column lines. */
static int
encode_lines(struct age_armor_writer *w, const unsigned char *p, size_t ngroups)
{
    while (ngroups > 0) {
        size_t take = ngroups < WRITE_GROUPS ? ngroups : WRITE_GROUPS;
        size_t o = age_b64_lines(w->out, p, take);
        if (w->wr(w->ctx, w->out, o) != 0)
            return -1;
        p += 48 * take;
        ngroups -= take;
    }
    return 0;
}

int
age_armor_write(void *writer, const void *buf, size_t len)
{
    struct age_armor_writer *w = writer;
    const unsigned char *p = buf;

    if (begin(w) != 0)
        return -1;
    if (len == 0)
        return 0;
    if (w->nrem > 0) {
        size_t take = 48 - w->nrem < len ? 48 - w->nrem : len;
        memcpy(w->rem + w->nrem, p, take);
        w->nrem += take;
        p += take;
        len -= take;
        if (w->nrem < 48)
            return 0;
        /* Hold a full group back when nothing follows yet: the last line is written at
         * finish, so a file whose size is a multiple of 48 ends with a full line. */
        if (len == 0)
            return 0;
        if (encode_lines(w, w->rem, 1) != 0)
            return -1;
        w->nrem = 0;
    }
    if (len > 48) {
        size_t groups = (len - 1) / 48;
        if (encode_lines(w, p, groups) != 0)
            return -1;
        p += groups * 48;
        len -= groups * 48;
    }
    memcpy(w->rem, p, len);
    w->nrem = len;
    return 0;
}

size_t
age_armor_head(const struct age_armor_writer *w)
{
    return w->nrem < 48 ? (48 - w->nrem) % 48 : 0;
}

size_t
age_armor_encode_groups(char *out, const unsigned char *in, size_t ngroups)
{
    return age_b64_lines(out, in, ngroups);
}

int
age_armor_write_lines(struct age_armor_writer *w, const unsigned char *p, size_t len, char *text,
                      size_t ngroups)
{
    size_t head = age_armor_head(w), skip = head + 48 * ngroups, n = ngroups * (COLS + 1);

    if (ngroups == 0 || skip >= len)
        return age_armor_write(w, p, len);
    if (begin(w) != 0)
        return -1;
    /* the group held, completed by the head bytes, goes first (something follows it), in
     * the room before text: one write for all the lines */
    if (w->nrem > 0) {
        memcpy(w->rem + w->nrem, p, head);
        text -= COLS + 1;
        n += age_b64_lines(text, w->rem, 1);
        w->nrem = 0;
    }
    if (w->wr(w->ctx, text, n) != 0)
        return -1;
    return age_armor_write(w, p + skip, len - skip);
}

int
age_armor_writer_finish(struct age_armor_writer *w)
{
    char line[COLS + 2];
    size_t n = 0;

    if (begin(w) != 0)
        return -1;
    if (w->nrem > 0) {
        sodium_bin2base64(line, sizeof(line), w->rem, w->nrem, sodium_base64_VARIANT_ORIGINAL);
        n = strlen(line);
        line[n++] = '\n';
        if (w->wr(w->ctx, line, n) != 0)
            return -1;
    }
    return w->wr(w->ctx, AGE_ARMOR_END "\n", sizeof(AGE_ARMOR_END));
}
