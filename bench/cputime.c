/* cputime.c: the CPU time (user + system) a command takes, for bench_registry.sh.
 * Usage: cputime RUNS CMD [ARGS...]. Runs CMD RUNS times (stdout and stderr to /dev/null)
 * and prints the median and the best CPU time of one run in milliseconds, from wait4's
 * rusage (microseconds), which the machine's other load does not inflate the way it does
 * wall time. Exit status 1 if a run fails. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static int
cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
    int runs = argc > 2 ? atoi(argv[1]) : 0, i, st;
    double *ms;

    if (runs <= 0) {
        fprintf(stderr, "usage: cputime RUNS CMD [ARGS...]\n");
        return 2;
    }
    if ((ms = calloc((size_t)runs, sizeof(*ms))) == NULL)
        return 2;
    for (i = 0; i < runs; i++) {
        struct rusage ru;
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) {
                dup2(null, 1);
                dup2(null, 2);
            }
            execvp(argv[2], argv + 2);
            _exit(127);
        }
        if (wait4(pid, &st, 0, &ru) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "cputime: %s failed\n", argv[2]);
            return 1;
        }
        ms[i] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    }
    qsort(ms, (size_t)runs, sizeof(*ms), cmp_double);
    printf("%.3f %.3f\n", ms[runs / 2], ms[0]);
    free(ms);
    return 0;
}
