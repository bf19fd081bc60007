/* registry_inproc.c: in-process parse + evaluate time of a registry (bench_registry.sh).
 * Usage: registry_inproc FILE [ITERATIONS]. Prints the median and best CPU time (this
 * thread's, so the machine's other load counts less than in wall time) of ITERATIONS runs of
 * reg_parse + reg_registry_load, and of reg_parse + reg_eval_json, in milliseconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "registry/registry.h"

static double
clock_ms(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
now_ms(void)
{
    return clock_ms(CLOCK_THREAD_CPUTIME_ID);
}

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    struct m3_diag d = {0};
    struct reg_eval_opts opts = {0};
    char *buf = NULL;
    size_t len, i, n = argc > 2 ? (size_t)atoi(argv[2]) : 50, nentries = 0;
    double *t_load, *t_json;

    if (argc < 2 || n == 0) {
        fprintf(stderr, "usage: registry_inproc FILE [ITERATIONS]\n");
        return 2;
    }
    if (reg_read_file(argv[1], &buf, &len, &d) != 0) {
        fprintf(stderr, "%s\n", d.msg);
        return 2;
    }
    t_load = calloc(n, sizeof(*t_load));
    t_json = calloc(n, sizeof(*t_json));
    if (t_load == NULL || t_json == NULL)
        return 2;
    for (i = 0; i < n; i++) {
        struct reg_file *f = NULL;
        struct reg_registry *r = NULL;
        char *json = NULL;
        size_t jl;
        double t0 = now_ms();
        if (reg_parse(argv[1], buf, len, &f, &d) != 0 || reg_registry_load(f, &opts, &r, &d) != 0) {
            fprintf(stderr, "%s\n", d.msg);
            return 2;
        }
        t_load[i] = now_ms() - t0;
        nentries = r->nentries;
        reg_registry_free(r);
        reg_file_free(f);
        t0 = now_ms();
        if (reg_parse(argv[1], buf, len, &f, &d) != 0 ||
            reg_eval_json(f, &opts, &json, &jl, &d) != 0) {
            fprintf(stderr, "%s\n", d.msg);
            return 2;
        }
        t_json[i] = now_ms() - t0;
        free(json);
        reg_file_free(f);
    }
    qsort(t_load, n, sizeof(*t_load), cmp_double);
    qsort(t_json, n, sizeof(*t_json), cmp_double);
    printf("in-process parse + evaluate (%zu entries, CPU time): median %.2f ms, best %.2f ms "
           "(target <= 2 ms)%s; parse + evaluate + JSON: median %.2f ms, best %.2f ms\n",
           nentries, t_load[n / 2], t_load[0], t_load[n / 2] <= 2.0 ? "" : "  ABOVE TARGET",
           t_json[n / 2], t_json[0]);
    free(t_load);
    free(t_json);
    free(buf);
    return 0;
}
