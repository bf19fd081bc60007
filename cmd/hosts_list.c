/* hosts_list.c: `m3age hosts [list]`: each host of the registry with its key against hosts/
 * and known_hosts, and whether it has a post-quantum recipient (table or --json). */
#include "cmd/hosts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
json_str(const char *s)
{
    putchar('"');
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* json_opt: json_str, or null for the "-" the table prints for an absent value. */
static void
json_opt(const char *s)
{
    if (s == NULL || strcmp(s, "-") == 0)
        fputs("null", stdout);
    else
        json_str(s);
}

struct list_row {
    const char *host;
    char reg_fp[HOSTKEYS_FP_SIZE + 16];
    char file_fp[HOSTKEYS_FP_SIZE + 16];
    char kh_fp[HOSTKEYS_FP_SIZE + 16];
    const char *file; /* same, differs, missing, bad */
    const char *kh;   /* same, differs, - */
    const char *pq;   /* yes (HOST-pq bound, its secrets list it), partly (some list HOST), no */
    const char *status;
};

static bool
list_row(struct hosts_ctx *c, const char *host, struct list_row *r)
{
    struct hostkey reg = {0}, file = {0}, other = {0};
    struct m3_diag d;
    char *path;
    bool have_reg, have_file, ok = true;
    int rc;

    memset(r, 0, sizeof(*r));
    r->host = host;
    m3_diag_clear(&d);
    rc = hostkeys_repo_binding(&c->repo, host, &reg, &d);
    have_reg = rc == 0;
    snprintf(r->reg_fp, sizeof(r->reg_fp), "%s",
             have_reg             ? reg.fp
             : rc == M3_ENOTFOUND ? "-"
                                  : "(not a key)");
    path = hostkeys_host_pub_path(c->repo.hostsdir, host);
    rc = path ? hostkeys_read_file(path, &file, &d) : M3_ENOMEM;
    free(path);
    have_file = rc == 0;
    snprintf(r->file_fp, sizeof(r->file_fp), "%s", have_file ? file.fp : "-");
    r->file = rc == M3_ENOTFOUND           ? "missing"
              : !have_file                 ? "bad"
              : !have_reg                  ? "present"
              : hostkey_equal(&reg, &file) ? "same"
                                           : "differs";
    r->kh = "-";
    snprintf(r->kh_fp, sizeof(r->kh_fp), "-");
    if (have_reg || have_file) {
        const struct hostkey *want = have_reg ? &reg : &file;

        switch (hosts_known_hosts_check(c, host, want, &other)) {
        case KH_SAME:
            r->kh = "same";
            snprintf(r->kh_fp, sizeof(r->kh_fp), "%s", want->fp);
            break;
        case KH_DIFFERS:
            r->kh = "differs";
            snprintf(r->kh_fp, sizeof(r->kh_fp), "%s", other.fp);
            break;
        case KH_ABSENT:
            break;
        }
    }
    {
        const char *p = hostkeys_repo_pq_binding(&c->repo, host);
        r->pq = p == NULL || strncmp(p, "age1pq1", 7) != 0 ? "no"
                : hostkeys_repo_uses_host(&c->repo, host)  ? "partly"
                                                           : "yes";
    }
    if (!have_reg) {
        r->status = "not in registry";
        ok = false;
    } else if (strcmp(r->file, "differs") == 0 || strcmp(r->file, "bad") == 0 ||
               strcmp(r->kh, "differs") == 0) {
        r->status = "DISAGREE";
        ok = false;
    } else {
        r->status = "ok";
    }
    hostkey_clear(&reg);
    hostkey_clear(&file);
    hostkey_clear(&other);
    return ok;
}

int
hosts_list(struct hosts_ctx *c)
{
    char **found = NULL;
    const char **hosts = NULL;
    size_t nfound = 0, nhosts = 0;
    struct list_row *rows = NULL;
    struct m3_diag d;
    bool all_ok = true;
    int rc = M3_EXIT_USAGE;

    m3_diag_clear(&d);
    if (c->o->nargs > 0) {
        hosts = (const char **)c->o->args;
        nhosts = (size_t)c->o->nargs;
    } else {
        if (hostkeys_repo_hosts(&c->repo, &found, &nfound, &d) != 0) {
            m3_diag_error(d.code, &d);
            return M3_EXIT_USAGE;
        }
        if ((hosts = calloc(nfound + c->repo.reg->nkeybinds + 1, sizeof(*hosts))) == NULL)
            goto out;
        for (size_t i = 0; i < nfound; i++)
            hosts[nhosts++] = found[i];
        /* --all: also every registry binding that holds one SSH key (users included). */
        for (size_t i = 0; c->o->all && i < c->repo.reg->nkeybinds; i++) {
            const struct reg_keybind *b = &c->repo.reg->keybinds[i];
            bool dup = false;

            if (b->is_list || b->nvalues != 1 || strncmp(b->values[0], "ssh-", 4) != 0)
                continue;
            for (size_t j = 0; j < nfound && !dup; j++)
                dup = strcmp(found[j], b->name) == 0;
            if (!dup)
                hosts[nhosts++] = b->name;
        }
    }
    if (nhosts > 0 && (rows = calloc(nhosts, sizeof(*rows))) == NULL)
        goto out;
    for (size_t i = 0; i < nhosts; i++)
        if (!list_row(c, hosts[i], &rows[i]))
            all_ok = false;
    if (c->o->json) {
        printf("[");
        for (size_t i = 0; i < nhosts; i++) {
            const struct list_row *r = &rows[i];

            printf("%s{\"host\":", i ? "," : "");
            json_str(r->host);
            printf(",\"registry_fingerprint\":");
            json_opt(r->reg_fp);
            printf(",\"file\":");
            json_str(r->file);
            printf(",\"file_fingerprint\":");
            json_opt(r->file_fp);
            printf(",\"known_hosts\":");
            json_opt(r->kh);
            printf(",\"known_hosts_fingerprint\":");
            json_opt(r->kh_fp);
            printf(",\"post_quantum\":");
            json_str(r->pq);
            printf(",\"status\":");
            json_str(r->status);
            printf("}");
        }
        printf("]\n");
    } else {
        size_t npq = 0;

        printf("%-14s %-51s %-8s %-11s %s\n", "HOST", "REGISTRY KEY", "FILE", "KNOWN_HOSTS",
               "STATUS");
        for (size_t i = 0; i < nhosts; i++) {
            const struct list_row *r = &rows[i];

            printf("%-14s %-51s %-8s %-11s %s\n", m3_shown(r->host), r->reg_fp, r->file, r->kh,
                   r->status);
            if (strcmp(r->pq, "no") != 0)
                printf("%14s   post-quantum identity: %s-pq%s\n", "", m3_shown(r->host),
                       strcmp(r->pq, "yes") == 0
                           ? ""
                           : " (some secrets still list the SSH key: run 'm3age hosts sync --pq')");
            npq += strcmp(r->pq, "no") != 0;
            if (strcmp(r->file, "differs") == 0 || strcmp(r->file, "present") == 0)
                printf("%14s   hosts/%s/ssh_host_ed25519_key.pub has %s\n", "", m3_shown(r->host),
                       r->file_fp);
            if (strcmp(r->kh, "differs") == 0)
                printf("%14s   known_hosts has %s\n", "", r->kh_fp);
        }
        if (npq > 0) /* a classical fleet's listing stays as it was */
            printf("post-quantum identities: %zu of %zu host%s%s\n", npq, nhosts,
                   nhosts == 1 ? "" : "s",
                   npq < nhosts ? " (the others decrypt with their classical SSH host key; see "
                                  "m3age.hostPqIdentity)"
                                : "");
        if (!all_ok)
            m3_hint("'m3age hosts sync' updates the registry from hosts/; "
                    "'m3age hosts add HOST' adds a missing host");
    }
    rc = all_ok ? M3_EXIT_OK : M3_EXIT_NEGATIVE;
out:
    free(rows);
    if (c->o->nargs == 0)
        free(hosts);
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    return rc;
}
