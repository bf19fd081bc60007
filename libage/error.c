#include "libage/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *
m3_strerror(int code)
{
    switch (code) {
    case M3_OK:
        return "success";
    case M3_ENOMATCH:
        return "no identity matched any of the recipients";
    case M3_ENOMEM:
        return "out of memory";
    case M3_EIO:
        return "input/output error";
    case M3_EHEADER:
        return "malformed header";
    case M3_EMAC:
        return "header MAC mismatch (wrong file key or tampered header)";
    case M3_EPAYLOAD:
        return "payload authentication failed (truncated or tampered file)";
    case M3_EARMOR:
        return "malformed ASCII armor";
    case M3_EUNSUPPORTED:
        return "unsupported";
    case M3_EINVAL:
        return "invalid input";
    case M3_EPASSPHRASE:
        return "incorrect passphrase";
    case M3_ECANCELED:
        return "canceled";
    case M3_ESYNTAX:
        return "syntax error";
    case M3_EEVAL:
        return "evaluation error";
    case M3_ENOTFOUND:
        return "not found";
    case M3_ESTATE:
        return "call out of order";
    }
    return "unknown error";
}

int
m3_diag_set(struct m3_diag *d, int code, const char *fmt, ...)
{
    va_list ap;

    if (d == NULL)
        return code;
    d->code = code;
    va_start(ap, fmt);
    vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
    va_end(ap);
    d->hint[0] = '\0';
    return code;
}

void
m3_diag_hint(struct m3_diag *d, const char *fmt, ...)
{
    va_list ap;

    if (d == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(d->hint, sizeof(d->hint), fmt, ap);
    va_end(ap);
}

void
m3_diag_clear(struct m3_diag *d)
{
    if (d == NULL)
        return;
    memset(d, 0, sizeof(*d));
}
