/* dl.h: opening a shared library on first use (keys/sshlib.c, libage/cryptolib.c). */
#ifndef M3_LIBAGE_DL_H
#define M3_LIBAGE_DL_H

#include <stddef.h>

#include "libage/error.h"

/* A library opened once per process: `load` (through pthread_once) fills `rc` and `err`. */
struct m3_dl {
    const char *soname; /* what dlopen opens */
    const char *what;   /* for messages: "libssh" */
    int rc;             /* 0 once opened with every symbol */
    char err[256];
};

/* m3_dl_open: dlopen(l->soname) and dlsym of names[i] into *slots[i] for i < n; sets l->rc
 * to 0, or M3_EUNSUPPORTED with dlopen's reason or the missing name in l->err. */
void m3_dl_open(struct m3_dl *l, const char *const *names, void **const *slots, size_t n);

/* m3_dl_result: 0, or l->rc with "cannot use WHAT (SONAME): reason" in d. */
int m3_dl_result(const struct m3_dl *l, struct m3_diag *d);

#endif
