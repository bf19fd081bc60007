/* hosts_sync.c: `m3age hosts sync`: the hosts' keys (or, with --pq, their post-quantum
 * recipients) from hosts/, --from, known_hosts or a scan into the registry, and the rekey
 * that follows. */
#include "cmd/hosts.h"
#include "secrets/diff.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum sync_result { SYNC_SAME, SYNC_CHANGED, SYNC_REFUSED, SYNC_MISSING, SYNC_ERROR };

static enum sync_result
sync_host(struct hosts_ctx *c, const char *host, bool named, char ***affected, size_t *naffected)
{
    char **copy = NULL;
    struct hostkey cur = {0}, src = {0};
    struct m3_diag d;
    char origin[PATH_MAX + 32];
    enum sync_result res = SYNC_ERROR;
    const char **names = NULL;
    size_t n = 0;
    int rc;

    m3_diag_clear(&d);
    rc = hostkeys_repo_binding(&c->repo, host, &cur, &d);
    if (rc == M3_ENOTFOUND) {
        m3_error("%s: not in the registry (%s has no binding '%s')", host, c->repo.rules, host);
        m3_hint("add it with 'm3age hosts add %s'", host);
        res = named ? SYNC_ERROR : SYNC_MISSING;
        goto out;
    }
    if (rc != 0) {
        m3_diag_error(d.code, &d);
        goto out;
    }
    rc = hosts_source_key(c, host, &src, origin, sizeof(origin), !named);
    if (rc == M3_ENOTFOUND && !named) {
        printf("%s: no key in %s, skipped\n", m3_shown(host),
               c->o->known_hosts ? "known_hosts"
               : c->o->from      ? m3_shown(c->o->from)
                                 : "its hosts/ folder");
        res = SYNC_SAME;
        goto out;
    }
    if (rc != 0)
        goto out;
    if (hostkey_equal(&cur, &src)) {
        printf("%s: up to date (%s)\n", m3_shown(host), cur.fp);
        res = SYNC_SAME;
        goto out;
    }
    if (!hosts_tofu_ok(c, host, &src)) {
        res = SYNC_REFUSED;
        goto out;
    }
    m3_warn("%s: HOST KEY CHANGED: the registry has %s, %s has %s", host, cur.fp, origin, src.fp);
    if ((rc = hostkeys_repo_secrets_with(&c->repo, &cur, &names, &n)) != 0 ||
        (copy = hosts_strv_dup(names, n)) == NULL) {
        m3_error("out of memory");
        goto out;
    }
    if ((rc = hostkeys_repo_set_key(&c->repo, host, &src, &d)) != 0) {
        m3_diag_error(rc, &d);
        if (rc == M3_EUNSUPPORTED)
            m3_hint("edit the binding of '%s' by hand, or make it a plain string", host);
        goto out;
    }
    printf("%s: %s %s -> %s (%s)\n", m3_shown(host), c->o->dry_run ? "would change" : "changed",
           cur.fp, src.fp, m3_shown(origin));
    *affected = copy;
    *naffected = n;
    copy = NULL;
    res = SYNC_CHANGED;
out:
    hosts_strv_free(copy, n);
    free(names);
    hostkey_clear(&cur);
    hostkey_clear(&src);
    return res;
}

/* pq_source: the host's post-quantum recipient from the chosen source (malloc'd into *out).
 * Errors are printed unless the source just has none and quiet_missing. */
static int
pq_source(struct hosts_ctx *c, const char *host, char **out, char *origin, size_t cap,
          bool quiet_missing)
{
    struct m3_diag d;
    char *path = NULL;
    int rc;

    m3_diag_clear(&d);
    if (c->o->scan) {
        /* the recipient is a file on the host: reading it needs a login, which only the
         * operator's ssh has (its config, agent and known_hosts); nothing else runs there */
        char timeout[48], *text = NULL;
        const char *argv[12];
        size_t len = 0, na = 0;
        int status = 0;

        argv[na++] = "ssh";
        /* the config the SSH-key scan honours ($HOME's, which ssh itself would not read
         * when HOME is not the passwd entry's) */
        if (c->o->ssh_config != NULL && access(c->o->ssh_config, R_OK) == 0) {
            argv[na++] = "-F";
            argv[na++] = c->o->ssh_config;
        }
        argv[na++] = "-o";
        argv[na++] = "BatchMode=yes";
        argv[na++] = "-o";
        argv[na++] = timeout;
        argv[na++] = "--";
        argv[na++] = host;
        argv[na++] = "cat";
        argv[na++] = HOSTKEYS_PQ_REMOTE;
        argv[na] = NULL;

        snprintf(timeout, sizeof(timeout), "ConnectTimeout=%ld",
                 c->o->timeout > 0 ? c->o->timeout : (long)HOSTKEYS_DEFAULT_TIMEOUT);
        snprintf(origin, cap, "ssh %s cat %s", host, HOSTKEYS_PQ_REMOTE);
        rc = secrets_run_capture(argv, true, &text, &len, &status, &d);
        if (rc != 0 || status != 0) {
            m3_error("%s: cannot read %s over ssh (%s)", host, HOSTKEYS_PQ_REMOTE,
                     rc != 0         ? d.msg
                     : status == 255 ? "ssh failed to connect or log in"
                                     : "no such file on the host?");
            m3_hint("enable m3age.hostPqIdentity in %s's NixOS configuration and deploy it, "
                    "or check 'ssh %s cat %s'",
                    host, host, HOSTKEYS_PQ_REMOTE);
            free(text);
            return rc != 0 ? rc : M3_EIO;
        }
        rc = hostkeys_pq_parse(text != NULL ? text : "", out, &d);
        free(text);
        if (rc != 0) {
            m3_error("%s: %s: %s", host, origin, d.msg);
            m3_diag_hint_print(&d);
        }
        return rc;
    }
    if (c->o->from != NULL)
        rc = asprintf(&path, "%s/%s-pq.pub", c->o->from, host) < 0 ? M3_ENOMEM : 0;
    else
        rc = asprintf(&path, "%s/%s/%s", c->repo.hostsdir, host, HOSTKEYS_PQ_FILE) < 0 ? M3_ENOMEM
                                                                                       : 0;
    if (rc != 0) {
        m3_error("out of memory");
        return rc;
    }
    snprintf(origin, cap, "%s", hosts_rel(c, path));
    rc = hostkeys_pq_read_file(path, out, &d);
    if (rc != 0 && !(rc == M3_ENOTFOUND && quiet_missing)) {
        m3_error("%s", d.msg[0] == '/' ? hosts_rel(c, d.msg) : d.msg);
        m3_diag_hint_print(&d);
    }
    if (rc == M3_ENOTFOUND && !quiet_missing)
        m3_hint("enable m3age.hostPqIdentity in %s's NixOS configuration, deploy, and copy its "
                "%s here (or use --scan)",
                host, HOSTKEYS_PQ_REMOTE);
    free(path);
    return rc;
}

/* short_rcpt: "age1pq1abcdefgh...wxyz" for messages (a recipient is ~2000 characters). */
static void
short_rcpt(const char *r, char *buf, size_t cap)
{
    size_t n = strlen(r);
    snprintf(buf, cap, "%.16s...%s", r, n > 8 ? r + n - 8 : "");
}

static enum sync_result
sync_host_pq(struct hosts_ctx *c, const char *host, bool named, char ***affected, size_t *naffected)
{
    char origin[PATH_MAX + 64], *src = NULL, shown[40], pqname[300];
    const char **names = NULL, *cur;
    struct hostkey ssh = {0};
    struct m3_diag d;
    enum sync_result res = SYNC_ERROR;
    size_t n = 0;
    int rc;

    m3_diag_clear(&d);
    hostkeys_pq_name(host, pqname, sizeof(pqname));
    if ((rc = hostkeys_repo_binding(&c->repo, host, &ssh, &d)) == M3_ENOTFOUND) {
        m3_error("%s: not in the registry (%s has no binding '%s')", host, c->repo.rules, host);
        m3_hint("add it with 'm3age hosts add %s' first", host);
        return named ? SYNC_ERROR : SYNC_MISSING;
    }
    hostkey_clear(&ssh);
    rc = pq_source(c, host, &src, origin, sizeof(origin), !named);
    if (rc == M3_ENOTFOUND && !named) {
        printf("%s: no post-quantum recipient in %s, skipped\n", m3_shown(host),
               c->o->from ? m3_shown(c->o->from) : "its hosts/ folder");
        return SYNC_SAME;
    }
    if (rc != 0)
        return SYNC_ERROR;
    short_rcpt(src, shown, sizeof(shown));
    cur = hostkeys_repo_pq_binding(&c->repo, host);
    if (cur != NULL && strcmp(cur, src) == 0 && !hostkeys_repo_uses_host(&c->repo, host)) {
        printf("%s: post-quantum, up to date (%s)\n", m3_shown(host), shown);
        res = SYNC_SAME;
        goto out;
    }
    if (cur != NULL && strcmp(cur, src) != 0)
        m3_warn("%s: POST-QUANTUM IDENTITY CHANGED: the registry's %s is not %s's", host, pqname,
                origin);
    if ((rc = hostkeys_repo_set_pq(&c->repo, host, src, &d)) != 0) {
        m3_diag_error(rc, &d);
        if (rc == M3_EUNSUPPORTED)
            m3_hint("list %s instead of %s in the entries by hand", pqname, host);
        goto out;
    }
    if ((rc = hostkeys_repo_secrets_with_text(&c->repo, src, &names, &n)) != 0 ||
        (*affected = hosts_strv_dup(names, n)) == NULL) {
        m3_error("out of memory");
        goto out;
    }
    *naffected = n;
    printf("%s: %s %s = %s (%s); %zu secret%s list%s it\n", m3_shown(host),
           c->o->dry_run ? "would bind" : "bound", pqname, shown, m3_shown(origin), n,
           n == 1 ? "" : "s", n == 1 ? "s" : "");
    res = SYNC_CHANGED;
out:
    free(names);
    free(src);
    return res;
}

struct host_affected {
    const char *host;
    char **names;
    size_t n;
};

static void
affected_free(struct host_affected *a, size_t n)
{
    for (size_t i = 0; a != NULL && i < n; i++)
        hosts_strv_free(a[i].names, a[i].n);
    free(a);
}

int
hosts_sync(struct hosts_ctx *c)
{
    char **found = NULL;
    const char **hosts;
    size_t nhosts, nfound = 0, nchanged = 0;
    struct host_affected *aff = NULL;
    struct m3_diag d;
    bool errors = false, refused = false, missing = false, named = c->o->nargs > 0;
    int rc;

    m3_diag_clear(&d);
    if (named) {
        hosts = (const char **)c->o->args;
        nhosts = (size_t)c->o->nargs;
    } else {
        if (hostkeys_repo_hosts(&c->repo, &found, &nfound, &d) != 0) {
            m3_diag_error(d.code, &d);
            return M3_EXIT_USAGE;
        }
        if (nfound == 0) {
            m3_error("no host folders in %s", c->repo.hostsdir);
            m3_hint("name the hosts: 'm3age hosts sync HOST...'");
            return M3_EXIT_USAGE;
        }
        hosts = (const char **)found;
        nhosts = nfound;
    }
    if ((aff = calloc(nhosts, sizeof(*aff))) == NULL) {
        rc = M3_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < nhosts; i++) {
        char **names = NULL;
        size_t n = 0;

        if (!hostkeys_valid_host_name(hosts[i])) {
            m3_error("'%s' is not a host name", hosts[i]);
            errors = true;
            continue;
        }
        switch (c->o->pq ? sync_host_pq(c, hosts[i], named, &names, &n)
                         : sync_host(c, hosts[i], named, &names, &n)) {
        case SYNC_SAME:
            break;
        case SYNC_CHANGED:
            nchanged++;
            aff[i].host = hosts[i];
            aff[i].names = names;
            aff[i].n = n;
            break;
        case SYNC_REFUSED:
            refused = true;
            break;
        case SYNC_MISSING:
            missing = true;
            break;
        case SYNC_ERROR:
            errors = true;
            break;
        }
    }
    if (nchanged > 0 && !c->o->dry_run) {
        size_t nsecrets = 0;
        for (size_t i = 0; i < nhosts; i++)
            nsecrets += aff[i].n;
        if (!hosts_rekey_ready(c, nsecrets, c->o->rekey, "leaving out --rekey")) {
            rc = M3_EXIT_USAGE;
            goto out;
        }
        if (hostkeys_repo_write(&c->repo, &d) != 0) {
            m3_diag_error(d.code, &d);
            rc = M3_EXIT_USAGE;
            goto out;
        }
        printf("updated %s (%zu host key%s)\n", m3_shown(hosts_rel(c, c->repo.rules)), nchanged,
               nchanged == 1 ? "" : "s");
    }
    for (size_t i = 0; i < nhosts; i++)
        if (aff[i].host != NULL && hosts_rekey_after(c, aff[i].host, (const char **)aff[i].names,
                                                     aff[i].n, c->o->rekey) != 0)
            errors = true;
    if (errors)
        rc = M3_EXIT_USAGE;
    else if (refused || missing || (c->o->dry_run && nchanged > 0))
        rc = M3_EXIT_NEGATIVE;
    else
        rc = M3_EXIT_OK;
out:
    affected_free(aff, aff ? nhosts : 0);
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    return rc;
}
