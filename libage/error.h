/* error.h: error codes and diagnostics shared by every layer of m3age.
 *
 * Functions return 0 on success or a negative M3_E* code. Parsers and operations that can
 * say more fill an optional struct m3_diag (NULL is always allowed): a one-line message that
 * names the cause, and for text inputs the 1-based line and column. */
#ifndef M3_ERROR_H
#define M3_ERROR_H

#include <stddef.h>

enum m3_error {
    M3_OK = 0,
    M3_ENOMATCH = -1,     /* no identity matched a stanza (non-fatal while trying identities) */
    M3_ENOMEM = -2,       /* out of memory */
    M3_EIO = -3,          /* read or write failed (errno kept in diag) */
    M3_EHEADER = -4,      /* malformed age header or stanza */
    M3_EMAC = -5,         /* header MAC mismatch */
    M3_EPAYLOAD = -6,     /* payload truncated, extended or tampered */
    M3_EARMOR = -7,       /* malformed ASCII armor */
    M3_EUNSUPPORTED = -8, /* unsupported version, key type or construct */
    M3_EINVAL = -9,       /* invalid argument or malformed key/recipient text */
    M3_EPASSPHRASE = -10, /* wrong or missing passphrase */
    M3_ECANCELED = -11,   /* the caller's callback asked to stop */
    M3_ESYNTAX = -12,     /* syntax error in a text input (registry, key file) */
    M3_EEVAL = -13,       /* evaluation error (registry) */
    M3_ENOTFOUND = -14,   /* a named thing does not exist */
    M3_ESTATE = -15,      /* API misuse: call out of order */
};

struct m3_diag {
    int code;      /* the M3_E* code the message belongs to */
    unsigned line; /* 1-based, 0 when not applicable */
    unsigned col;  /* 1-based, 0 when not applicable */
    char msg[384]; /* one line, no trailing newline, never holds secret material */
    char hint[96]; /* a guess at the fix ("missing ';' ..."), or empty; printed after msg */
};

/* m3_strerror: a short static description of an M3_E* code. */
const char *m3_strerror(int code);

/* m3_diag_set: when d is non-NULL, formats the message into d (truncating), records code and
 * empties the hint (a hint belongs to the message it follows). Returns code, so callers can
 * write `return m3_diag_set(d, M3_EHEADER, "...")`. */
int m3_diag_set(struct m3_diag *d, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* m3_diag_hint: when d is non-NULL, formats a hint into d (truncating): one line that guesses
 * the fix of the error just set, shown after it as "m3age: hint: ...". Call it after
 * m3_diag_set; it changes neither the message nor the code. */
void m3_diag_hint(struct m3_diag *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* m3_diag_clear: empties d (no-op for NULL). */
void m3_diag_clear(struct m3_diag *d);

#endif
