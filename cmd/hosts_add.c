/* hosts_add.c: `m3age hosts add HOST [KEY]`: a host and its key into the registry (and
 * into --to LISTs), and the rekey that follows. */
#include "cmd/hosts.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
hosts_add(struct hosts_ctx *c)
{
    const char *host, *keyarg = NULL;
    struct hostkey k = {0}, cur = {0};
    struct m3_diag d;
    char origin[PATH_MAX + 32];
    const char **names = NULL;
    size_t n = 0;
    bool had;
    int rc = M3_EXIT_USAGE;

    m3_diag_clear(&d);
    if (c->o->nargs < 1 || c->o->nargs > 2)
        return hosts_usage_error("hosts add takes HOST and optionally KEY");
    host = c->o->args[0];
    if (c->o->nargs == 2)
        keyarg = c->o->args[1];
    if (keyarg != NULL && c->o->scan)
        return hosts_usage_error("give KEY or --scan, not both");
    if (c->o->from != NULL || c->o->known_hosts)
        return hosts_usage_error("hosts add reads KEY, its hosts/ file or --scan");
    if (!hostkeys_valid_host_name(host)) {
        m3_error("'%s' is not a host name (letters, digits, '-', '_', '.')", host);
        return M3_EXIT_USAGE;
    }
    if (keyarg != NULL && strncmp(keyarg, "ssh-", 4) == 0 && strchr(keyarg, ' ') != NULL) {
        snprintf(origin, sizeof(origin), "the command line");
        if (hostkey_parse(keyarg, &k, &d) != 0) {
            m3_error("%s: %s", host, d.msg);
            m3_diag_hint_print(&d);
            goto out;
        }
    } else if (keyarg != NULL) {
        snprintf(origin, sizeof(origin), "%s", keyarg);
        if (hostkeys_read_file(keyarg, &k, &d) != 0) {
            m3_diag_error(d.code, &d);
            goto out;
        }
    } else if (hosts_source_key(c, host, &k, origin, sizeof(origin), false) != 0) {
        if (!c->o->scan)
            m3_hint("give the key: 'm3age hosts add %s \"ssh-ed25519 AAAA...\"' or --scan", host);
        goto out;
    }
    if (!hosts_tofu_ok(c, host, &k)) {
        rc = M3_EXIT_NEGATIVE;
        goto out;
    }
    rc = hostkeys_repo_binding(&c->repo, host, &cur, &d);
    had = rc == 0;
    if (rc != 0 && rc != M3_ENOTFOUND) {
        m3_diag_error(d.code, &d);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    if (had && !hostkey_equal(&cur, &k)) {
        m3_error("%s is already in the registry with %s (%s has %s)", host, cur.fp, origin, k.fp);
        m3_hint("to replace its key, run 'm3age hosts sync %s'", host);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    rc = M3_EXIT_USAGE;
    if (!had && hostkeys_repo_set_key(&c->repo, host, &k, &d) != 0) {
        m3_diag_error(d.code, &d);
        goto out;
    }
    for (size_t i = 0; i < c->o->nlists; i++)
        if (hostkeys_repo_add_to_list(&c->repo, c->o->lists[i], host, &d) != 0) {
            m3_diag_error(d.code, &d);
            goto out;
        }
    if (!had)
        printf("%s: %s %s (%s, from %s)\n", m3_shown(host), c->o->dry_run ? "would add" : "added",
               k.fp, k.type, m3_shown(origin));
    else if (c->o->nlists == 0)
        printf("%s: already in the registry with this key (%s)\n", m3_shown(host), k.fp);
    for (size_t i = 0; i < c->o->nlists; i++)
        printf("%s: %s list '%s'\n", m3_shown(host), c->o->dry_run ? "would join" : "joined",
               m3_shown(c->o->lists[i]));
    if (had && c->o->nlists == 0) {
        /* Nothing changed: no recipient of any secret is new, so nothing is stale. */
        rc = M3_EXIT_OK;
        goto out;
    }
    if (hostkeys_repo_secrets_with(&c->repo, &k, &names, &n) != 0)
        goto out;
    if (!hosts_rekey_ready(c, n, c->o->rekey, "leaving out --rekey"))
        goto out;
    if (!c->o->dry_run && hostkeys_repo_write(&c->repo, &d) != 0) {
        m3_diag_error(d.code, &d);
        goto out;
    }
    if (n > 0)
        printf("%s: %s a recipient of %zu secret%s\n", m3_shown(host),
               c->o->dry_run ? "would be" : "is now", n, n == 1 ? "" : "s");
    rc = hosts_rekey_after(c, host, names, n, c->o->rekey) != 0 ? M3_EXIT_USAGE
         : c->o->dry_run && (!had || c->o->nlists > 0)          ? M3_EXIT_NEGATIVE
                                                                : M3_EXIT_OK;
out:
    free(names);
    hostkey_clear(&k);
    hostkey_clear(&cur);
    return rc;
}
