/* hostsrekey.c: the rekey step of `m3age hosts`. */
#include "cmd/hostsrekey.h"
#include "cmd/cmd.h"

#include <stdlib.h>

int
hosts_rekey_ids_add(struct hosts_rekey_ids *ids, const char *path)
{
    const char **v = reallocarray(ids->v, ids->n + 1, sizeof(*v));

    if (v == NULL) {
        m3_error("out of memory");
        return -1;
    }
    v[ids->n++] = path;
    ids->v = v;
    return 0;
}

void
hosts_rekey_ids_free(struct hosts_rekey_ids *ids)
{
    free(ids->v);
    ids->v = NULL;
    ids->n = 0;
}

int
hosts_rekey(const char *rules, const char *const *names, size_t n,
            const struct hosts_rekey_ids *ids)
{
    (void)rules;
    (void)names;
    (void)ids;
    m3_error("--rekey: re-encryption is not available in this build (%zu secrets to rekey)", n);
    m3_hint("run 'm3age rekey' once it is, or re-encrypt them with agenix -r");
    return -1;
}
