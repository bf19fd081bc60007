/* hostsrekey.c: the rekey step of `m3age hosts`. */
#include "cmd/hostsrekey.h"
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "cmd/repo.h"

#include <stdlib.h>

int
hosts_rekey(const char *rules, const char *const *names, size_t n, const struct m3_list *idfiles)
{
    struct secrets_rekey_opts o = {0};
    struct keys_identities ids = {0};
    struct secrets_repo *repo = NULL;
    struct secrets_rekey *k = NULL;
    const struct reg_entry **es = NULL;
    size_t nes = 0, loaded = 0;
    struct m3_diag d;
    int rc = -1, r;

    if (n == 0)
        return 0;
    /* Reopened from the file just written: the entries and recipients are the new ones. */
    if ((repo = m3_repo_open(rules)) == NULL)
        goto out;
    if ((es = calloc(n, sizeof(*es))) == NULL) {
        m3_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const struct reg_entry *e = reg_registry_find(repo->reg, names[i]);

        if (e != NULL)
            es[nes++] = e;
    }
    if (nes == 0) {
        rc = 0;
        goto out;
    }
    if (m3_repo_identities(idfiles, &ids, &loaded) != 0)
        goto out;
    if (loaded == 0) {
        m3_error("cannot rekey: no identity to decrypt the secrets with");
        m3_hint("pass -i IDENTITY (or add ~/.ssh/id_ed25519), or run 'm3age rekey' later");
        goto out;
    }
    o.jobs = m3_threads();
    m3_diag_clear(&d);
    r = secrets_rekey_run(repo, es, nes, &ids, &o, &k, &d);
    if (r != 0 && r != M3_EPAYLOAD) {
        m3_error("rekey: %s", d.msg[0] ? d.msg : m3_strerror(r));
        m3_diag_hint_print(&d);
        goto out;
    }
    for (size_t i = 0; i < k->n; i++) {
        const struct secrets_rekey_item *it = &k->items[i];

        if (it->state == SECRETS_ITEM_REKEYED)
            printf("  rekeyed %s\n", m3_shown(it->path));
        else if (it->state == SECRETS_ITEM_FAILED)
            m3_error("%s: %s", it->path, it->msg);
    }
    if (k->held > 0) {
        m3_error("no secret was rekeyed: %zu file(s) could not be decrypted", k->failed);
        m3_hint("fix them, then run 'm3age rekey' (the registry is already updated)");
    }
    printf("%zu rekeyed, %zu already up to date, %zu failed\n", k->rekeyed, k->up_to_date,
           k->failed);
    rc = k->failed > 0 ? -1 : 0;
out:
    secrets_rekey_free(k);
    free(es);
    keys_identities_clear(&ids);
    secrets_repo_free(repo);
    return rc;
}
