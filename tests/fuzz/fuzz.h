/* fuzz.h: shared helpers for the libFuzzer harnesses: a read callback over the fuzz input
 * that hands out bytes in pieces of varying size (to reach every refill boundary of the
 * streaming readers), a write callback that discards, and a NUL-terminated copy. */
#ifndef M3_FUZZ_H
#define M3_FUZZ_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "libage/age.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fuzz_src {
    const uint8_t *p;
    size_t len, pos;
    size_t piece; /* 0: as much as asked for */
    size_t limit; /* total bytes handed out before failing with EIO; 0: none */
};

static inline ssize_t
fuzz_read(void *ctx, void *buf, size_t len)
{
    struct fuzz_src *s = ctx;
    size_t n = s->len - s->pos;

    if (s->limit != 0 && s->pos >= s->limit)
        return -1;
    if (n > len)
        n = len;
    if (s->piece != 0 && n > s->piece)
        n = s->piece;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

static inline int
fuzz_discard(void *ctx, const void *buf, size_t len)
{
    size_t *total = ctx;
    /* Touch every byte so that ASan sees reads of uninitialised or freed plaintext. */
    const volatile unsigned char *p = buf;
    unsigned char x = 0;
    for (size_t i = 0; i < len; i++)
        x ^= p[i];
    (void)x;
    *total += len;
    return 0;
}

/* fuzz_strndup: a malloc'd NUL-terminated copy (exact size, so ASan catches overreads). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* fuzz_piece: the read size chosen by one input byte: 1, 2, 3, 7, 63, 64, 65, 4096 or all. */
static inline size_t
fuzz_piece(uint8_t b)
{
    static const size_t sizes[] = {0, 1, 2, 3, 7, 63, 64, 65, 4096};
    return sizes[b % (sizeof(sizes) / sizeof(sizes[0]))];
}

#endif
