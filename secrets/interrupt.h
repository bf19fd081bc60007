/* interrupt.h: an operation that owns temporary files (`m3age affected`'s copy of a
 * revision) stops cleanly when interrupted.
 *
 * While armed, SIGINT, SIGTERM and SIGHUP do not end the process: the handler only records
 * the signal and stops the program secrets_run_capture is waiting for (kill(2): both are
 * async-signal-safe). The operation notices at its next step (secrets_interrupt_check),
 * removes what it made on its usual cleanup path and returns M3_ECANCELED; the caller (cmd/)
 * then ends the process with that signal, so that its parent sees 128 + signal as for any
 * interrupted program. Prints nothing. */
#ifndef M3_SECRETS_INTERRUPT_H
#define M3_SECRETS_INTERRUPT_H

#include <sys/types.h>

#include "libage/error.h"

/* secrets_interrupt_arm: installs the handlers (the previous ones kept) and forgets any
 * signal recorded before. Arming twice without disarming is a no-op. */
void secrets_interrupt_arm(void);

/* secrets_interrupt_disarm: restores the handlers arm replaced; the recorded signal stays
 * readable. A signal that arrives afterwards has its usual effect. */
void secrets_interrupt_disarm(void);

/* secrets_interrupted: the signal recorded since the last arm, or 0. */
int secrets_interrupted(void);

/* secrets_interrupt_check: M3_ECANCELED with "interrupted by signal N" in d when a signal
 * was recorded, else 0. */
int secrets_interrupt_check(struct m3_diag *d);

/* secrets_interrupt_child: the child process (0: none) that a recorded signal stops with
 * SIGTERM; set by secrets_run_capture around each program it runs. */
void secrets_interrupt_child(pid_t pid);

#endif
