/* keys_load: time m3age's key loading and header unwrapping in-process (for bench_keys.sh).
 *
 *   keys_load load KEYFILE [ITERATIONS]        per load of a private key file
 *   keys_load unwrap AGEFILE KEYFILE [ITER]    per decryption of AGEFILE (in memory)
 *
 * Prints two figures in microseconds: wall-clock time and CPU time (user + system).
 */
#include "keys/keys.h"
#include "libage/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static double
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* cpu_us: user + system time of this process; on a busy machine it tracks the work done
 * better than the wall clock. */
static double
cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void
report(double t0, double c0, long iter)
{
    printf("%.1f %.1f\n", (now_us() - t0) / (double)iter, (cpu_us() - c0) / (double)iter);
}

struct mem {
    const char *p;
    size_t len, pos;
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len)
{
    struct mem *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;

    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static int
discard(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return 0;
}

static int
load(const char *text, size_t len, const char *name, struct keys_identities *ids)
{
    struct m3_diag d = {0};

    if (keys_identities_parse_buf(ids, text, len, name, NULL, NULL, &d) != 0) {
        fprintf(stderr, "keys_load: %s: %s\n", name, d.msg);
        return -1;
    }
    return 0;
}

int
main(int argc, char **argv)
{
    struct keys_identities ids = {0};
    struct m3_diag d = {0};
    char *key, *file = NULL;
    size_t klen, flen = 0;
    long iter;
    double t0, c0;

    if (age_init() != 0 || argc < 3)
        return 2;
    if (strcmp(argv[1], "load") == 0) {
        iter = argc > 3 ? atol(argv[3]) : 2000;
        if (keys_read_file(argv[2], 1 << 20, &key, &klen, &d) != 0)
            return 2;
        t0 = now_us();
        c0 = cpu_us();
        for (long i = 0; i < iter; i++) {
            if (load(key, klen, argv[2], &ids) != 0)
                return 1;
            keys_identities_clear(&ids);
        }
        report(t0, c0, iter);
        return 0;
    }
    if (strcmp(argv[1], "unwrap") == 0 && argc > 3) {
        iter = argc > 4 ? atol(argv[4]) : 2000;
        if (keys_read_file(argv[2], 1 << 24, &file, &flen, &d) != 0 ||
            keys_read_file(argv[3], 1 << 20, &key, &klen, &d) != 0 ||
            load(key, klen, argv[3], &ids))
            return 2;
        t0 = now_us();
        c0 = cpu_us();
        for (long i = 0; i < iter; i++) {
            struct mem m = {file, flen, 0};
            if (age_decrypt(ids.v, ids.n, mem_read, &m, discard, NULL, 1, &d) != 0) {
                fprintf(stderr, "keys_load: %s\n", d.msg);
                return 1;
            }
        }
        report(t0, c0, iter);
        return 0;
    }
    return 2;
}
