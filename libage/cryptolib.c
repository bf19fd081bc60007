/* cryptolib.c: libcrypto opened on first use (see cryptolib.h). */
#define M3_CRYPTOLIB_IMPL
#include "libage/cryptolib.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

/* The library's SONAME, from the build (Makefile), so that the libcrypto m3age was compiled
 * against is the one it opens. */
#ifndef M3_LIBCRYPTO_SONAME
#define M3_LIBCRYPTO_SONAME "libcrypto.so.3"
#endif

struct m3_cryptolib m3_crypto_fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int load_rc = M3_EUNSUPPORTED;
static char load_err[256];

static void
load(void)
{
    void *h = dlopen(M3_LIBCRYPTO_SONAME, RTLD_NOW | RTLD_LOCAL);
    const char *missing = NULL;

    if (h == NULL) {
        const char *e = dlerror();
        snprintf(load_err, sizeof(load_err), "%s", e != NULL ? e : "unknown error");
        return;
    }
#define M3_CRYPTO_SYM(name)                                                                        \
    if ((*(void **)&m3_crypto_fn.name = dlsym(h, #name)) == NULL && missing == NULL)               \
        missing = #name;
    M3_CRYPTO_FUNCS(M3_CRYPTO_SYM)
#undef M3_CRYPTO_SYM
    if (missing != NULL) {
        snprintf(load_err, sizeof(load_err), "it has no function %s", missing);
        return; /* the handle stays open: nothing else to release it for */
    }
    load_rc = 0;
}

int
m3_crypto_load(struct m3_diag *d)
{
    pthread_once(&load_once, load);
    if (load_rc != 0)
        return m3_diag_set(d, load_rc, "cannot use libcrypto (%s): %s", M3_LIBCRYPTO_SONAME,
                           load_err);
    return 0;
}
