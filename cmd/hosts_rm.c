/* hosts_rm.c: `m3age hosts rm HOST`: a host out of the registry and its lists, and the
 * rekey of the secrets it could read. */
#include "cmd/hosts.h"
#include "libage/ssh.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
hosts_rm(struct hosts_ctx *c)
{
    const char *host;
    struct hostkey cur = {0};
    struct m3_diag d;
    char tag[AGE_SSH_TAG_LEN + 1];
    const char **names = NULL;
    char **copy = NULL;
    size_t n = 0;
    int rc = M3_EXIT_USAGE;

    m3_diag_clear(&d);
    if (c->o->nargs != 1)
        return hosts_usage_error("hosts rm takes one HOST");
    if (c->o->from || c->o->known_hosts || c->o->scan || c->o->nlists > 0)
        return hosts_usage_error("hosts rm takes no key source and no --to");
    host = c->o->args[0];
    if (hostkeys_repo_binding(&c->repo, host, &cur, &d) != 0) {
        m3_diag_error(d.code, &d);
        if (d.code == M3_ENOTFOUND)
            m3_hint("'m3age hosts' lists the hosts the registry knows");
        goto out;
    }
    if (hostkeys_repo_secrets_with(&c->repo, &cur, &names, &n) != 0)
        goto out;
    /* The names live in the registry that the edit replaces. */
    if ((copy = hosts_strv_dup(names, n)) == NULL)
        goto out;
    /* and the secrets of its post-quantum identity (HOST-pq), which go with it */
    if (hostkeys_repo_pq_binding(&c->repo, host) != NULL) {
        const char **pqn = NULL;
        size_t npq = 0;
        if (hostkeys_repo_secrets_with_text(&c->repo, hostkeys_repo_pq_binding(&c->repo, host),
                                            &pqn, &npq) != 0)
            goto out;
        for (size_t i = 0; i < npq; i++) {
            bool dup = false;
            char **nv;
            for (size_t j = 0; j < n && !dup; j++)
                dup = strcmp(copy[j], pqn[i]) == 0;
            if (dup)
                continue;
            if ((nv = realloc(copy, (n + 2) * sizeof(*nv))) == NULL) {
                free(pqn);
                goto out;
            }
            copy = nv;
            if ((copy[n] = strdup(pqn[i])) == NULL) {
                free(pqn);
                goto out;
            }
            copy[++n] = NULL;
        }
        free(pqn);
    }
    if (hostkeys_repo_rm_host(&c->repo, host, &d) != 0) {
        m3_diag_error(d.code, &d);
        goto out;
    }
    if (!hosts_rekey_ready(c, n, !c->o->no_rekey, "--no-rekey"))
        goto out;
    if (!c->o->dry_run && hostkeys_repo_write(&c->repo, &d) != 0) {
        m3_diag_error(d.code, &d);
        goto out;
    }
    /* The tag too: audit and check name a key left in a header by it, and it is not the start
     * of the fingerprint (another hash of the same key). */
    age_ssh_tag_string(cur.wire, cur.wire_len, tag);
    printf("%s: %s %s key %s (tag %s in age headers) from %s (%zu secret%s)\n", m3_shown(host),
           c->o->dry_run ? "would remove" : "removed", cur.type, cur.fp, tag,
           m3_shown(hosts_rel(c, c->repo.rules)), n, n == 1 ? "" : "s");
    if (n > 0 && !c->o->dry_run)
        m3_info("note: older versions of %s secret%s in git history stay readable with %s's key;"
                " rotate the secret values if it is not trusted any more",
                n == 1 ? "that" : "those", n == 1 ? "" : "s", host);
    rc = hosts_rekey_after(c, host, (const char **)copy, n, !c->o->no_rekey) != 0 ? M3_EXIT_USAGE
         : c->o->dry_run                                                          ? M3_EXIT_NEGATIVE
                                                                                  : M3_EXIT_OK;
out:
    hosts_strv_free(copy, n);
    free(names);
    hostkey_clear(&cur);
    return rc;
}
