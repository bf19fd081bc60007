/* dl.c: opening a shared library on first use (see dl.h). */
#include "libage/dl.h"

#include <dlfcn.h>
#include <stdio.h>

void
m3_dl_open(struct m3_dl *l, const char *const *names, void **const *slots, size_t n)
{
    void *h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);

    l->rc = M3_EUNSUPPORTED;
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(l->err, sizeof(l->err), "%s", e != NULL ? e : "unknown error");
        return;
    }
    for (size_t i = 0; i < n; i++)
        if ((*slots[i] = dlsym(h, names[i])) == NULL) {
            snprintf(l->err, sizeof(l->err), "it has no function %s", names[i]);
            return; /* the handle stays open: nothing else to release it for */
        }
    l->rc = 0;
}

int
m3_dl_result(const struct m3_dl *l, struct m3_diag *d)
{
    if (l->rc != 0)
        return m3_diag_set(d, l->rc, "cannot use %s (%s): %s", l->what, l->soname, l->err);
    return 0;
}
