/* fuzz_armor.c: the streaming armor decoder, fed in pieces of varying size. The first input
 * byte picks the piece size. A decoded stream re-armored and decoded again gives the same
 * bytes. */
#include "libage/armor.h"
#include "tests/fuzz/fuzz.h"

struct sink {
    unsigned char *p;
    size_t len, cap;
};

static int
sink_write(void *ctx, const void *buf, size_t len)
{
    struct sink *s = ctx;
    if (s->len + len > s->cap) {
        size_t cap = (s->len + len) * 2;
        unsigned char *p = realloc(s->p, cap);
        if (p == NULL)
            abort();
        s->p = p;
        s->cap = cap;
    }
    memcpy(s->p + s->len, buf, len);
    s->len += len;
    return 0;
}

/* decode: the whole armored input into out; returns the reader's error code. */
static int
decode(const uint8_t *data, size_t size, size_t piece, struct sink *out)
{
    struct fuzz_src src = {data, size, 0, piece, 0};
    struct age_armor_reader *r = age_armor_reader_new(fuzz_read, &src);
    unsigned char buf[1000];
    struct m3_diag d;
    ssize_t n;
    int rc = 0;

    if (r == NULL)
        abort();
    while ((n = age_armor_read(r, buf, piece ? piece % sizeof(buf) + 1 : sizeof(buf))) > 0)
        sink_write(out, buf, (size_t)n);
    if (n < 0) {
        rc = age_armor_reader_error(r, &d);
        if (rc == 0 || d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL)
            abort();
    }
    age_armor_reader_free(r);
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sink a = {0}, b = {0}, c = {0};
    size_t piece;

    if (size < 1)
        return 0;
    piece = fuzz_piece(data[0]);
    data++;
    size--;
    if (decode(data, size, piece, &a) == 0) {
        struct age_armor_writer *w = age_armor_writer_new(sink_write, &b);
        /* Never hand the writer a NULL buffer, even for 0 bytes (bugs-harden.md, armor). */
        if (w == NULL || (a.len > 0 && age_armor_write(w, a.p, a.len) != 0) ||
            age_armor_writer_finish(w) != 0)
            abort();
        age_armor_writer_free(w);
        if (decode(b.p, b.len, 0, &c) != 0 || c.len != a.len || (a.len && memcmp(a.p, c.p, a.len)))
            abort();
    }
    free(a.p);
    free(b.p);
    free(c.p);
    return 0;
}
