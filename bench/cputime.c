/* cputime.c: the CPU time (user + system) a command takes, for bench_registry.sh.
 * Usage: cputime RUNS CMD [ARGS...]. Runs CMD RUNS times (stdout and stderr to /dev/null)
 * and prints the median and the best CPU time of one run in milliseconds, from wait4's
 * rusage (microseconds), which the machine's other load does not inflate the way it does
 * wall time. Exit status 1 if a run fails.
 *
 * The command is started with posix_spawn, which execs it from a child sharing this
 * program's memory (vfork-like): with fork, the child first copies this program's page
 * tables and takes copy-on-write faults on its way to exec, about twenty page faults
 * (~0.5 ms on this virtual machine) that rusage would count as the command's own. */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

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
    posix_spawn_file_actions_t fa;

    if (runs <= 0) {
        fprintf(stderr, "usage: cputime RUNS CMD [ARGS...]\n");
        return 2;
    }
    if ((ms = calloc((size_t)runs, sizeof(*ms))) == NULL ||
        posix_spawn_file_actions_init(&fa) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, 1, 2) != 0)
        return 2;
    for (i = 0; i < runs; i++) {
        struct rusage ru;
        pid_t pid;
        if (posix_spawnp(&pid, argv[2], &fa, NULL, argv + 2, environ) != 0) {
            fprintf(stderr, "cputime: cannot run %s\n", argv[2]);
            return 1;
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
    posix_spawn_file_actions_destroy(&fa);
    free(ms);
    return 0;
}
