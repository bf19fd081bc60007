/* cryptolib.c: libcrypto opened on first use (see cryptolib.h). */
#define M3_CRYPTOLIB_IMPL
#include "libage/cryptolib.h"

#include <pthread.h>

#include "libage/dl.h"

/* The library's SONAME, from the build (Makefile), so that the libcrypto m3age was compiled
 * against is the one it opens. */
#ifndef M3_LIBCRYPTO_SONAME
#define M3_LIBCRYPTO_SONAME "libcrypto.so.3"
#endif

struct m3_cryptolib m3_crypto_fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct m3_dl lib = {M3_LIBCRYPTO_SONAME, "libcrypto", M3_EUNSUPPORTED, ""};

static void
load(void)
{
#define M3_DL_NAME(name) #name,
#define M3_DL_SLOT(name) (void **)&m3_crypto_fn.name,
    static const char *const names[] = {M3_CRYPTO_FUNCS(M3_DL_NAME)};
    void **const slots[] = {M3_CRYPTO_FUNCS(M3_DL_SLOT)};
#undef M3_DL_NAME
#undef M3_DL_SLOT
    m3_dl_open(&lib, names, slots, sizeof(names) / sizeof(names[0]));
}

int
m3_crypto_load(struct m3_diag *d)
{
    pthread_once(&load_once, load);
    return m3_dl_result(&lib, d);
}
