/* age_header: time reading the header of an age file with 20 X25519 stanzas (the audit and
 * lazy-rekey path, no key): age_header_parse on a binary buffer and age_header_read through a
 * read callback, best of five rounds of ITERATIONS calls each (ITERATIONS / 100 for the
 * callback reader).
 *
 * Usage: age_header [ITERATIONS]   (default 20000)
 * Prints "header_parse_us X", "header_read_us X" (microseconds per call) and
 * "header_bytes N". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "libage/age.h"

#define NSTANZAS 20

struct mbuf {
    unsigned char *p;
    size_t len, cap, pos;
};

static int
mb_write(void *ctx, const void *buf, size_t len)
{
    struct mbuf *m = ctx;

    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        if ((m->p = realloc(m->p, m->cap)) == NULL)
            return -1;
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static ssize_t
mb_read(void *ctx, void *buf, size_t len)
{
    struct mbuf *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;

    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what, int rc, const struct m3_diag *d)
{
    fprintf(stderr, "age_header: %s: %s (%s)\n", what, m3_strerror(rc), d ? d->msg : "");
    exit(1);
}

int
main(int argc, char **argv)
{
    long iters = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
    struct age_recipient *r[NSTANZAS];
    struct age_encryptor *e = NULL;
    struct age_encrypt_opts o = {.armor = false, .threads = 1};
    struct mbuf file = {0};
    struct m3_diag d = {0};
    double best_parse = 1e9, best_read = 1e9;
    size_t hlen = 0;
    long read_iters;
    int rc;

    if (iters <= 0 || age_init() != 0)
        die("init", M3_EINVAL, NULL);
    /* age_header_read may set up a whole decryptor; fewer calls keep the bench short */
    read_iters = iters / 100 > 10 ? iters / 100 : 10;
    for (int i = 0; i < NSTANZAS; i++) {
        struct age_identity *id = NULL;
        if ((rc = age_x25519_identity_generate(&id)) != 0 ||
            (rc = id->ops->recipient(id->state, &r[i])) != 0)
            die("key", rc, NULL);
        age_identity_free(id);
    }
    if ((rc = age_encryptor_new(&e, r, NSTANZAS, &o, mb_write, &file, &d)) != 0 ||
        (rc = age_encryptor_finish(e, &d)) != 0)
        die("encrypt", rc, &d);
    age_encryptor_free(e);

    for (int round = 0; round < 5; round++) {
        double t = now();
        for (long i = 0; i < iters; i++) {
            struct age_header *h = NULL;
            if ((rc = age_header_parse(&h, file.p, file.len, &hlen, &d)) != 0)
                die("age_header_parse", rc, &d);
            if (h->nstanzas != NSTANZAS)
                die("stanza count", M3_EHEADER, NULL);
            age_header_free(h);
        }
        t = (now() - t) / (double)iters;
        if (t < best_parse)
            best_parse = t;
        t = now();
        for (long i = 0; i < read_iters; i++) {
            struct age_header *h = NULL;
            file.pos = 0;
            if ((rc = age_header_read(&h, mb_read, &file, &d)) != 0)
                die("age_header_read", rc, &d);
            age_header_free(h);
        }
        t = (now() - t) / (double)read_iters;
        if (t < best_read)
            best_read = t;
    }
    printf("header_parse_us %.2f\n", best_parse * 1e6);
    printf("header_read_us %.2f\n", best_read * 1e6);
    printf("header_bytes %zu\n", hlen);
    for (int i = 0; i < NSTANZAS; i++)
        age_recipient_free(r[i]);
    free(file.p);
    return 0;
}
