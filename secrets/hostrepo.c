/* hostrepo.c: the registry side of host keys: the `let` binding named after each host, the
 * lists of hosts, and the secrets a host key can read. Edits go through the registry's
 * format-preserving writers and are re-evaluated before they are kept. */
#include "secrets/hostkeys.h"
#include "keys/keys.h"
#include "libage/internal.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static bool
is_dir(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int
reload(struct hostkeys_repo *repo, const char *text, size_t len, struct m3_diag *d)
{
    struct reg_file *f = NULL;
    struct reg_registry *r = NULL;
    int rc;

    if ((rc = reg_parse(repo->rules, text, len, &f, d)) != 0)
        return rc;
    if ((rc = reg_registry_load(f, &repo->opts, &r, d)) != 0 ||
        (rc = reg_check_names(r, repo->dir, d)) != 0) {
        reg_registry_free(r);
        reg_file_free(f);
        return rc;
    }
    reg_registry_free(repo->reg);
    reg_file_free(repo->file);
    repo->file = f;
    repo->reg = r;
    return 0;
}

int
hostkeys_repo_open(const char *rules, struct hostkeys_repo *repo, struct m3_diag *d)
{
    char dir[PATH_MAX], *buf = NULL, *p;
    size_t len;
    int rc;

    memset(repo, 0, sizeof(*repo));
    if ((repo->rules = strdup(rules)) == NULL)
        return M3_ENOMEM;
    if ((rc = reg_read_file(rules, &buf, &len, d)) != 0)
        goto out;
    if (realpath(rules, dir) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", rules, strerror(errno));
        goto out;
    }
    if ((p = strrchr(dir, '/')) != NULL)
        *(p == dir ? p + 1 : p) = '\0';
    if ((repo->dir = strdup(dir)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    /* the root a possibly hostile clone is confined to, for reads and secret names */
    if ((rc = reg_trust_root(repo->dir, &repo->root, d)) != 0)
        goto out;
    if ((rc = reg_reader_fs(repo->root, &repo->reader)) != 0) {
        m3_diag_set(d, rc, "%s: cannot open the repository root", repo->root);
        goto out;
    }
    repo->opts.reader = &repo->reader;
    repo->opts.base_dir = repo->dir;
    /* agenix layouts keep secrets.nix at the root or in secrets/; hosts/ is next to it or at
     * the repository root. */
    if (asprintf(&repo->hostsdir, "%s/hosts", repo->dir) < 0) {
        repo->hostsdir = NULL;
        rc = M3_ENOMEM;
        goto out;
    }
    if (!is_dir(repo->hostsdir)) {
        free(repo->hostsdir);
        if (asprintf(&repo->hostsdir, "%s/hosts", repo->root) < 0) {
            repo->hostsdir = NULL;
            rc = M3_ENOMEM;
            goto out;
        }
    }
    rc = reload(repo, buf, len, d);
out:
    free(buf);
    if (rc != 0)
        hostkeys_repo_close(repo);
    return rc;
}

void
hostkeys_repo_close(struct hostkeys_repo *repo)
{
    reg_registry_free(repo->reg);
    reg_file_free(repo->file);
    if (repo->opts.reader != NULL)
        reg_reader_fs_free(&repo->reader);
    free(repo->rules);
    free(repo->root);
    free(repo->dir);
    free(repo->hostsdir);
    memset(repo, 0, sizeof(*repo));
}

int
hostkeys_repo_binding(const struct hostkeys_repo *repo, const char *host, struct hostkey *out,
                      struct m3_diag *d)
{
    const struct reg_keybind *b = reg_registry_keybind(repo->reg, host);
    int rc;

    if (b == NULL)
        return m3_diag_set(d, M3_ENOTFOUND, "%s: no binding '%s' in the top 'let'", repo->rules,
                           host);
    if (b->is_list || b->nvalues != 1)
        return m3_diag_set(d, M3_EUNSUPPORTED, "%s:%u:%u: '%s' is a list, not a host key",
                           repo->rules, b->span.line, b->span.col, host);
    if ((rc = hostkey_parse(b->values[0], out, d)) != 0) {
        struct m3_diag inner = d != NULL ? *d : (struct m3_diag){0};

        m3_diag_set(d, rc, "%s:%u:%u: '%s': %s", repo->rules, b->value_span.line, b->value_span.col,
                    host, inner.msg);
    }
    return rc;
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
hostkeys_repo_hosts(const struct hostkeys_repo *repo, char ***names, size_t *n, struct m3_diag *d)
{
    DIR *dir;
    struct dirent *e;
    char **v = NULL, path[PATH_MAX];
    size_t nv = 0, cap = 0;
    int rc = 0;

    *names = NULL;
    *n = 0;
    if ((dir = opendir(repo->hostsdir)) == NULL) {
        if (errno == ENOENT)
            return 0;
        return m3_diag_set(d, M3_EIO, "%s: %s", repo->hostsdir, strerror(errno));
    }
    while ((e = readdir(dir)) != NULL) {
        struct stat st;
        bool pub, mod;

        if (!hostkeys_valid_host_name(e->d_name))
            continue;
        snprintf(path, sizeof(path), "%s/%s/ssh_host_ed25519_key.pub", repo->hostsdir, e->d_name);
        pub = stat(path, &st) == 0;
        snprintf(path, sizeof(path), "%s/%s/default.nix", repo->hostsdir, e->d_name);
        mod = stat(path, &st) == 0;
        if (!pub && !mod)
            continue;
        if (nv == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nvv = reallocarray(v, nc, sizeof(*v));

            if (nvv == NULL) {
                rc = M3_ENOMEM;
                goto out;
            }
            v = nvv;
            cap = nc;
        }
        if ((v[nv] = strdup(e->d_name)) == NULL) {
            rc = M3_ENOMEM;
            goto out;
        }
        nv++;
    }
    if (nv > 0)
        qsort(v, nv, sizeof(*v), name_cmp);
    *names = v;
    *n = nv;
    v = NULL;
    nv = 0;
out:
    for (size_t i = 0; i < nv; i++)
        free(v[i]);
    free(v);
    closedir(dir);
    return rc;
}

int
hostkeys_repo_set_key(struct hostkeys_repo *repo, const char *host, const struct hostkey *key,
                      struct m3_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    if ((rc = reg_edit_set_key(repo->file, repo->reg, &repo->opts, host, key->line, &text, &len,
                               d)) != 0)
        return rc;
    if ((rc = reload(repo, text, len, d)) == 0)
        repo->dirty = true;
    free(text);
    return rc;
}

/* list_insert: where and what to insert to append `host` to the list literal text[0..len)
 * (which starts with '[' and ends with ']'): on its own line with the last element's
 * indentation when the list spans lines, else after a space. */
static int
list_insert(const char *src, size_t off, size_t len, const char *host, size_t *at, char **ins)
{
    const char *open = src + off, *close = src + off + len - 1;
    const char *p = close - 1, *ls;
    bool multiline;

    if (len < 2 || *open != '[' || *close != ']')
        return M3_EUNSUPPORTED;
    while (p > open && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p--;
    multiline = memchr(p + 1, '\n', (size_t)(close - p - 1)) != NULL;
    *at = (size_t)(p + 1 - src);
    if (!multiline)
        return asprintf(ins, " %s", host) < 0 ? M3_ENOMEM : 0;
    /* The indentation of the last element's line, or of the line after '[' plus two. */
    ls = p;
    while (ls > src && ls[-1] != '\n')
        ls--;
    if (p == open) {
        const char *q = ls;
        size_t ind = 0;

        while (q[ind] == ' ' || q[ind] == '\t')
            ind++;
        return asprintf(ins, "\n%.*s  %s", (int)ind, q, host) < 0 ? M3_ENOMEM : 0;
    }
    {
        size_t ind = 0;

        while (ls[ind] == ' ' || ls[ind] == '\t')
            ind++;
        return asprintf(ins, "\n%.*s%s", (int)ind, ls, host) < 0 ? M3_ENOMEM : 0;
    }
}

int
hostkeys_repo_add_to_list(struct hostkeys_repo *repo, const char *list, const char *host,
                          struct m3_diag *d)
{
    const struct reg_keybind *lb = reg_registry_keybind(repo->reg, list);
    const struct reg_keybind *hb = reg_registry_keybind(repo->reg, host);
    const struct reg_keybind *nb;
    struct hostkeys_repo probe;
    const char *src;
    char *ins = NULL, *text = NULL, *want = NULL;
    size_t srclen, at = 0, nvalues;
    int rc;

    if (lb == NULL)
        return m3_diag_set(d, M3_ENOTFOUND, "%s: no list '%s' in the top 'let'", repo->rules, list);
    if (!lb->is_list)
        return m3_diag_set(d, M3_EUNSUPPORTED, "%s:%u:%u: '%s' is not a list", repo->rules,
                           lb->span.line, lb->span.col, list);
    if (hb == NULL || hb->is_list || hb->nvalues != 1)
        return m3_diag_set(d, M3_EINVAL, "%s: '%s' is not bound to a key", repo->rules, host);
    for (size_t i = 0; i < lb->nvalues; i++)
        if (strcmp(lb->values[i], hb->values[0]) == 0)
            return m3_diag_set(d, M3_EINVAL, "%s:%u:%u: '%s' already holds %s's key", repo->rules,
                               lb->span.line, lb->span.col, list, host);
    src = reg_file_text(repo->file, &srclen);
    if (lb->value_span.off + lb->value_span.len > srclen ||
        (rc = list_insert(src, lb->value_span.off, lb->value_span.len, host, &at, &ins)) ==
            M3_EUNSUPPORTED)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s:%u:%u: read-only: '%s' is not a list literal ([ ... ])", repo->rules,
                           lb->value_span.line, lb->value_span.col, list);
    if (rc != 0)
        return rc;
    nvalues = lb->nvalues;
    if ((want = strdup(hb->values[0])) == NULL ||
        asprintf(&text, "%.*s%s%s", (int)at, src, ins, src + at) < 0) {
        text = NULL;
        rc = M3_ENOMEM;
        goto out;
    }
    /* Check the result before keeping it: the list is the old list plus the host's key. */
    probe = *repo;
    probe.file = NULL;
    probe.reg = NULL;
    if ((rc = reload(&probe, text, strlen(text), d)) != 0) {
        struct m3_diag inner = d != NULL ? *d : (struct m3_diag){0};

        m3_diag_set(d, M3_EEVAL, "%s: adding '%s' to '%s' would break the file: %s", repo->rules,
                    host, list, inner.msg);
        rc = M3_EEVAL;
        goto out;
    }
    nb = reg_registry_keybind(probe.reg, list);
    if (nb == NULL || nb->nvalues != nvalues + 1 || strcmp(nb->values[nvalues], want) != 0 ||
        probe.reg->nentries != repo->reg->nentries) {
        reg_registry_free(probe.reg);
        reg_file_free(probe.file);
        rc = m3_diag_set(d, M3_EEVAL, "%s: adding '%s' to '%s' did not give the intended list",
                         repo->rules, host, list);
        goto out;
    }
    reg_registry_free(repo->reg);
    reg_file_free(repo->file);
    repo->reg = probe.reg;
    repo->file = probe.file;
    repo->dirty = true;
out:
    free(ins);
    free(text);
    free(want);
    return rc;
}

int
hostkeys_repo_rm_host(struct hostkeys_repo *repo, const char *host, struct m3_diag *d)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    char pqname[300];

    if ((rc = reg_edit_rm_key(repo->file, repo->reg, &repo->opts, host, &text, &len, d)) != 0)
        return rc;
    if ((rc = reload(repo, text, len, d)) == 0)
        repo->dirty = true;
    free(text);
    text = NULL;
    /* its post-quantum identity goes with it: the secrets it reads list HOST-pq */
    hostkeys_pq_name(host, pqname, sizeof(pqname));
    if (rc == 0 && reg_registry_keybind(repo->reg, pqname) != NULL &&
        (rc = reg_edit_rm_key(repo->file, repo->reg, &repo->opts, pqname, &text, &len, d)) == 0)
        rc = reload(repo, text, len, d);
    free(text);
    return rc;
}

/* secrets_matching: the names of the registry entries one of whose keys match(KEY, ctx)
 * accepts (see hostkeys_repo_secrets_with). */
static int
secrets_matching(const struct hostkeys_repo *repo, bool (*match)(const char *, const void *),
                 const void *ctx, const char ***names, size_t *n)
{
    const char **v;
    size_t nv = 0;

    *names = NULL;
    *n = 0;
    if (repo->reg->nentries == 0)
        return 0;
    if ((v = calloc(repo->reg->nentries, sizeof(*v))) == NULL)
        return M3_ENOMEM;
    for (size_t i = 0; i < repo->reg->nentries; i++) {
        const struct reg_entry *e = &repo->reg->entries[i];
        for (size_t j = 0; j < e->nkeys; j++)
            if (match(e->keys[j], ctx)) {
                v[nv++] = e->name;
                break;
            }
    }
    *names = v;
    *n = nv;
    return 0;
}

/* same_key: text parses as the same key as *ctx (a struct hostkey). */
static bool
same_key(const char *text, const void *ctx)
{
    struct hostkey k = {0};
    bool same = hostkey_parse(text, &k, NULL) == 0 && hostkey_equal(&k, ctx);

    hostkey_clear(&k);
    return same;
}

int
hostkeys_repo_secrets_with(const struct hostkeys_repo *repo, const struct hostkey *key,
                           const char ***names, size_t *n)
{
    return secrets_matching(repo, same_key, key, names, n);
}

int
hostkeys_repo_write(struct hostkeys_repo *repo, struct m3_diag *d)
{
    const char *text;
    size_t len;
    int rc;

    if (!repo->dirty)
        return 0;
    text = reg_file_text(repo->file, &len);
    if ((rc = reg_write_atomic(repo->rules, text, len, d)) == 0)
        repo->dirty = false;
    return rc;
}

/* ---- post-quantum host identities ---------------------------------------------------- */

int
hostkeys_pq_parse(const char *text, char **out, struct m3_diag *d)
{
    struct age_recipient *r = NULL;
    char *found = NULL;
    const char *p = text;
    int rc;

    *out = NULL;
    while (*p != '\0') {
        size_t n = strcspn(p, "\n"), b = 0;
        while (b < n && (p[b] == ' ' || p[b] == '\t'))
            b++;
        while (n > b && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
            n--;
        if (n > b && p[b] != '#') {
            if (found != NULL) {
                free(found);
                return m3_diag_set(d, M3_EINVAL,
                                   "more than one line (expected one age1pq1 "
                                   "recipient)");
            }
            if ((found = strndup(p + b, n - b)) == NULL)
                return m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        p += strcspn(p, "\n");
        if (*p == '\n')
            p++;
    }
    if (found == NULL)
        return m3_diag_set(d, M3_EINVAL, "no recipient in it (expected one age1pq1 recipient)");
    if (strncmp(found, "age1pq1", 7) != 0) {
        free(found);
        return m3_diag_set(d, M3_EINVAL, "not an age1pq1 post-quantum recipient");
    }
    if ((rc = keys_recipient_parse(&r, found, d)) != 0) {
        free(found);
        return rc;
    }
    age_recipient_free(r);
    *out = found;
    return 0;
}

int
hostkeys_pq_read_file(const char *path, char **out, struct m3_diag *d)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    *out = NULL;
    if ((rc = keys_read_file(path, 64 * 1024, &buf, &len, d)) != 0 && errno == ENOENT)
        rc = M3_ENOTFOUND;
    if (rc == 0)
        rc = hostkeys_pq_parse(buf, out, d);
    if (rc != 0) {
        struct m3_diag inner = d != NULL ? *d : (struct m3_diag){0};
        m3_diag_set(d, rc, "%s: %s", path, inner.msg);
    }
    age_secret_free(buf);
    return rc;
}

void
hostkeys_pq_name(const char *host, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s-pq", host);
}

const char *
hostkeys_repo_pq_binding(const struct hostkeys_repo *repo, const char *host)
{
    char name[300];
    const struct reg_keybind *b;

    hostkeys_pq_name(host, name, sizeof(name));
    b = reg_registry_keybind(repo->reg, name);
    return b != NULL && !b->is_list && b->nvalues == 1 ? b->values[0] : NULL;
}

bool
hostkeys_repo_uses_host(const struct hostkeys_repo *repo, const char *host)
{
    const struct reg_keybind *b = reg_registry_keybind(repo->reg, host);

    if (b == NULL || b->is_list || b->nvalues != 1)
        return false;
    for (size_t i = 0; i < repo->reg->nentries; i++)
        for (size_t j = 0; j < repo->reg->entries[i].nkeys; j++)
            if (repo->reg->entries[i].key_spans[j].off == b->value_span.off &&
                repo->reg->entries[i].key_spans[j].file == b->value_span.file)
                return true;
    return false;
}

int
hostkeys_repo_set_pq(struct hostkeys_repo *repo, const char *host, const char *recipient,
                     struct m3_diag *d)
{
    char name[300], *text = NULL;
    size_t len = 0;
    int rc;

    hostkeys_pq_name(host, name, sizeof(name));
    if ((rc = reg_edit_set_key(repo->file, repo->reg, &repo->opts, name, recipient, &text, &len,
                               d)) != 0 ||
        (rc = reload(repo, text, len, d)) != 0)
        goto out;
    repo->dirty = true;
    free(text);
    text = NULL;
    if (hostkeys_repo_uses_host(repo, host) &&
        ((rc = reg_edit_rename_ref(repo->file, repo->reg, &repo->opts, host, name, &text, &len,
                                   d)) != 0 ||
         (rc = reload(repo, text, len, d)) != 0))
        goto out;
out:
    free(text);
    return rc;
}

/* same_text: text is exactly ctx (a string). */
static bool
same_text(const char *text, const void *ctx)
{
    return strcmp(text, ctx) == 0;
}

int
hostkeys_repo_secrets_with_text(const struct hostkeys_repo *repo, const char *key,
                                const char ***names, size_t *n)
{
    return secrets_matching(repo, same_text, key, names, n);
}
