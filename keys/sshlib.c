/* sshlib.c: libssh opened on first use (see sshlib.h). */
#define M3_SSHLIB_IMPL
#include "keys/sshlib.h"

#include <pthread.h>

#include "libage/dl.h"

/* The library's SONAME, from the build (Makefile), so that the libssh m3age was compiled
 * against is the one it opens. */
#ifndef M3_LIBSSH_SONAME
#define M3_LIBSSH_SONAME "libssh.so.4"
#endif

struct m3_sshlib m3_sshlib_fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static struct m3_dl lib = {M3_LIBSSH_SONAME, "libssh", M3_EUNSUPPORTED, ""};

static void
load(void)
{
#define M3_DL_NAME(name) #name,
#define M3_DL_SLOT(name) (void **)&m3_sshlib_fn.name,
    static const char *const names[] = {M3_SSHLIB_FUNCS(M3_DL_NAME)};
    void **const slots[] = {M3_SSHLIB_FUNCS(M3_DL_SLOT)};
#undef M3_DL_NAME
#undef M3_DL_SLOT
    m3_dl_open(&lib, names, slots, sizeof(names) / sizeof(names[0]));
}

int
m3_sshlib_load(struct m3_diag *d)
{
    pthread_once(&load_once, load);
    return m3_dl_result(&lib, d);
}
