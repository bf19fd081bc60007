/* interrupt.c: recording SIGINT, SIGTERM and SIGHUP for the operations that must clean up
 * after themselves (see interrupt.h). */
#include "secrets/interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>

static const int sigs[] = {SIGINT, SIGTERM, SIGHUP};
static struct sigaction saved[3];
static int armed;
static volatile sig_atomic_t caught;
static volatile sig_atomic_t child; /* a pid_t: an int on Linux, as sig_atomic_t is */

_Static_assert(sizeof(pid_t) <= sizeof(sig_atomic_t), "a pid fits sig_atomic_t");

static void
on_signal(int sig)
{
    pid_t pid = (pid_t)child;
    int err = errno; /* the interrupted call's EINTR, which its caller tests */

    caught = sig;
    if (pid > 0)
        kill(pid, SIGTERM);
    errno = err;
}

void
secrets_interrupt_arm(void)
{
    struct sigaction sa;

    if (armed)
        return;
    caught = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, &saved[i]);
    armed = 1;
}

void
secrets_interrupt_disarm(void)
{
    if (!armed)
        return;
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &saved[i], NULL);
    armed = 0;
}

int
secrets_interrupted(void)
{
    return caught;
}

int
secrets_interrupt_check(struct m3_diag *d)
{
    int sig = caught;

    if (sig == 0)
        return 0;
    return m3_diag_set(d, M3_ECANCELED, "interrupted by %s",
                       sig == SIGINT    ? "SIGINT"
                       : sig == SIGTERM ? "SIGTERM"
                                        : "SIGHUP");
}

void
secrets_interrupt_child(pid_t pid)
{
    child = pid;
}
