/* nixhosts.c: Nix's answer to which secret files each host uses (cmd/ evaluates the flake's
 * nixosConfigurations), mapped back to the repository and put into the static scan. */
#include <stdlib.h>
#include <string.h>

#include "registry/hosts.h"
#include "registry/registry.h"

#define STORE_DIR "/nix/store/"

void
reg_nix_hosts_clear(struct reg_nix_hosts *h)
{
    for (size_t i = 0; i < h->nhosts; i++) {
        struct reg_nix_host *x = &h->hosts[i];
        for (size_t j = 0; j < x->n; j++) {
            free(x->v[j].secret);
            free(x->v[j].value);
            free(x->v[j].module);
        }
        free(x->v);
        free(x->name);
    }
    free(h->hosts);
    free(h->source);
    memset(h, 0, sizeof(*h));
}

/* under_source: the part of path inside the flake's source (a pointer into path), or NULL. */
static const char *
under_source(const char *path, const char *source)
{
    size_t n = source != NULL ? strlen(source) : 0;

    if (n > 0 && strncmp(path, source, n) == 0 && path[n] == '/' && path[n + 1] != '\0')
        return path + n + 1;
    return NULL;
}

/* in_other_input: the part of path inside a store path that is not the flake's source
 * (another input's source), or NULL. */
static const char *
in_other_input(const char *path)
{
    const char *p;

    if (strncmp(path, STORE_DIR, sizeof(STORE_DIR) - 1) != 0)
        return NULL;
    p = strchr(path + sizeof(STORE_DIR) - 1, '/');
    return p != NULL && p[1] != '\0' ? p + 1 : NULL;
}

/* set_secret: s as Nix's value v says. */
static int
set_secret(struct reg_hosts *hs, const char *source, const struct reg_nix_secret *v,
           struct reg_host_secret *s)
{
    const char *rel = under_source(v->value, source), *mod = NULL;

    memset(s, 0, sizeof(*s));
    if (rel == NULL && (rel = in_other_input(v->value)) != NULL)
        s->from_input = true;
    if (rel == NULL)
        rel = v->value; /* a string that is no path of the flake: kept as written */
    if (v->module != NULL)
        mod = under_source(v->module, source);
    if ((s->secret = strdup(v->secret)) == NULL || (s->file = strdup(rel)) == NULL ||
        (s->span.file = reg_hosts_intern(hs, mod != NULL ? mod : "")) == NULL)
        return M3_ENOMEM;
    return 0;
}

/* drop_unfollowed: the imports of host that the static scan could not follow (NULL: those
 * of several hosts): Nix followed them. */
static void
drop_unfollowed(struct reg_hosts *hs, const char *host)
{
    size_t o = 0;

    for (size_t i = 0; i < hs->nunfollowed; i++) {
        struct reg_host_unfollowed *u = &hs->unfollowed[i];
        if (host == NULL ? u->host == NULL : u->host != NULL && strcmp(u->host, host) == 0) {
            free(u->host);
            free(u->text);
            free(u->why);
            continue;
        }
        hs->unfollowed[o++] = *u;
    }
    hs->nunfollowed = o;
}

static int
apply_host(struct reg_hosts *hs, const char *source, const struct reg_nix_host *x)
{
    struct reg_host *h = NULL;
    int rc;

    if ((rc = reg_hosts_add_host(hs, x->name)) != 0)
        return rc;
    for (size_t i = 0; i < hs->nhosts && h == NULL; i++)
        if (strcmp(hs->hosts[i].name, x->name) == 0)
            h = &hs->hosts[i];
    reg_hosts_clear_host(h);
    h->from_nix = true;
    if (x->n > 0) {
        struct reg_host_secret *v = realloc(h->secrets, x->n * sizeof(*v));
        if (v == NULL)
            return M3_ENOMEM;
        h->secrets = v;
    }
    for (size_t j = 0; j < x->n; j++) {
        if (x->v[j].value[0] == '\0')
            continue; /* no file: agenix refuses the configuration, nothing to check here */
        rc = set_secret(hs, source, &x->v[j], &h->secrets[h->nsecrets]);
        if (rc != 0) {
            free(h->secrets[h->nsecrets].secret);
            free(h->secrets[h->nsecrets].file);
            return rc;
        }
        h->nsecrets++;
    }
    if (h->nsecrets > 1)
        qsort(h->secrets, h->nsecrets, sizeof(*h->secrets), reg_host_secret_cmp);
    drop_unfollowed(hs, x->name);
    return 0;
}

int
reg_hosts_apply_nix(struct reg_hosts *hs, const struct reg_nix_hosts *nx, struct m3_diag *d)
{
    bool all = true;

    for (size_t i = 0; i < nx->nhosts; i++)
        if (nx->hosts[i].ok && apply_host(hs, nx->source, &nx->hosts[i]) != 0)
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if (hs->nhosts > 1)
        qsort(hs->hosts, hs->nhosts, sizeof(*hs->hosts), reg_host_cmp);
    for (size_t i = 0; i < hs->nhosts; i++)
        all &= hs->hosts[i].from_nix;
    if (all)
        drop_unfollowed(hs, NULL);
    return 0;
}
