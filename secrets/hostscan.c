/* hostscan.c: the age.secrets.NAME.file values of each host's modules, found by walking the
 * syntax tree (NixOS modules are functions of their arguments, so they are read, not
 * evaluated). */
#include "secrets/hostscan.h"
#include "registry/syntax.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_COMPS 16

struct scan {
    struct reg_hosts *hs;
    struct reg_host *h;
    const struct reg_file *f;
    const char *module_rel; /* "hosts/m3-ares/default.nix" */
    const char *file_copy;  /* the module path kept in hs->files, for spans */
};

static char *
xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* attr_name: the static name of an attribute path element, or NULL (dynamic). */
static char *
attr_name(const struct reg_file *f, const struct reg_node *n)
{
    size_t len;
    const char *t;

    if (n->kind == N_ATTR_ID) {
        t = reg_tok_text(f, n->tok, &len);
        return xstrndup(t, len);
    }
    if (n->kind == N_STR && n->nitems == 1 && n->items[0]->kind == N_STRLIT) {
        t = reg_tok_text(f, n->items[0]->tok, &len);
        char *out = malloc(len + 1);
        if (out != NULL)
            out[reg_decode_str_part(t, len, 0, out)] = '\0';
        return out;
    }
    if (n->kind == N_STR && n->nitems == 0)
        return strdup("");
    return strdup("\x01"); /* dynamic: matches nothing */
}

/* normalize: joins dir and rel ("a/b" + "../c" -> "a/c"); NULL when it leaves the root. */
static char *
normalize(const char *dir, const char *rel)
{
    size_t cap = strlen(dir) + strlen(rel) + 2, n = 0;
    char *in = malloc(cap), *out = malloc(cap), *save = NULL, *tok;

    if (in == NULL || out == NULL)
        goto fail;
    snprintf(in, cap, "%s/%s", dir, rel);
    out[0] = '\0';
    for (tok = strtok_r(in, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            if (n == 0)
                goto fail;
            char *slash = strrchr(out, '/');
            n = slash ? (size_t)(slash - out) : 0;
            out[n] = '\0';
            continue;
        }
        n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "/" : "", tok);
    }
    free(in);
    return out;
fail:
    free(in);
    free(out);
    return NULL;
}

static bool
is_root_ref(const struct reg_file *f, const struct reg_node *n)
{
    size_t len;
    const char *t;

    if (n->kind == N_VAR) {
        t = reg_tok_text(f, n->tok, &len);
        return len == 4 && memcmp(t, "self", 4) == 0;
    }
    if (n->kind == N_SELECT && n->a != NULL && n->a->kind == N_VAR && n->c == NULL) {
        t = reg_tok_text(f, n->a->tok, &len);
        return len == 6 && memcmp(t, "inputs", 6) == 0;
    }
    return false;
}

/* resolve: the repository-relative path a file value names, or NULL. */
static char *
resolve(const struct scan *s, const struct reg_node *v)
{
    const struct reg_file *f = s->f;
    const struct reg_node *lit = NULL;
    size_t len;
    const char *t;
    char *dir, *res, *rel;

    while (v->kind == N_PAREN)
        v = v->a;
    if (v->kind == N_PATH) {
        t = reg_tok_text(f, v->tok, &len);
        if (len == 0 || t[0] == '/')
            return NULL;
        dir = strdup(s->module_rel);
        rel = xstrndup(t, len);
        if (dir == NULL || rel == NULL) {
            free(dir);
            free(rel);
            return NULL;
        }
        char *slash = strrchr(dir, '/');
        if (slash != NULL)
            *slash = '\0';
        res = normalize(dir, rel);
        free(dir);
        free(rel);
        return res;
    }
    /* "${self}/x" and "${inputs.X}/x" */
    if (v->kind == N_STR && v->nitems == 2 && v->items[0]->kind == N_INTERP &&
        is_root_ref(f, v->items[0]->a) && v->items[1]->kind == N_STRLIT)
        lit = v->items[1];
    /* self + "/x" */
    if (v->kind == N_BINOP && v->flag == TK_PLUS && is_root_ref(f, v->a) && v->b->kind == N_STR &&
        v->b->nitems == 1 && v->b->items[0]->kind == N_STRLIT)
        lit = v->b->items[0];
    if (lit == NULL)
        return NULL;
    t = reg_tok_text(f, lit->tok, &len);
    if ((rel = malloc(len + 1)) == NULL)
        return NULL;
    rel[reg_decode_str_part(t, len, 0, rel)] = '\0';
    res = rel[0] == '/' ? normalize("", rel + 1) : NULL;
    free(rel);
    return res;
}

static int
record(struct scan *s, const char *secret, const struct reg_node *v)
{
    struct reg_host *h = s->h;
    struct reg_span sp;
    char *file = resolve(s, v);

    reg_node_span(v, &sp);
    sp.file = s->file_copy;
    if (file != NULL) {
        void *p = realloc(h->secrets, (h->nsecrets + 1) * sizeof(*h->secrets));
        if (p == NULL)
            goto nomem;
        h->secrets = p;
        h->secrets[h->nsecrets] = (struct reg_host_secret){strdup(secret), file, sp};
        if (h->secrets[h->nsecrets].secret == NULL)
            goto nomem;
        h->nsecrets++;
        return 0;
    }
    void *p = realloc(h->unresolved, (h->nunresolved + 1) * sizeof(*h->unresolved));
    if (p == NULL)
        return M3_ENOMEM;
    h->unresolved = p;
    size_t len = reg_node_end(v) - reg_node_off(v);
    size_t tlen;
    const char *src = reg_file_text(s->f, &tlen);
    h->unresolved[h->nunresolved] =
        (struct reg_host_unresolved){strdup(secret), xstrndup(src + reg_node_off(v), len), sp};
    if (h->unresolved[h->nunresolved].secret == NULL || h->unresolved[h->nunresolved].text == NULL)
        return M3_ENOMEM;
    h->nunresolved++;
    return 0;
nomem:
    free(file);
    return M3_ENOMEM;
}

static int walk(struct scan *s, const struct reg_node *n, char **comps, size_t nc);

/* match: comps is [config.]age.secrets.NAME.file */
static const char *
secret_of(char **comps, size_t nc)
{
    size_t i = (nc > 0 && strcmp(comps[0], "config") == 0) ? 1 : 0;

    if (nc - i == 4 && strcmp(comps[i], "age") == 0 && strcmp(comps[i + 1], "secrets") == 0 &&
        strcmp(comps[i + 3], "file") == 0)
        return comps[i + 2];
    return NULL;
}

static int
walk_set(struct scan *s, const struct reg_node *set, char **comps, size_t nc)
{
    int rc = 0;

    for (size_t i = 0; i < set->nitems && rc == 0; i++) {
        const struct reg_node *b = set->items[i];
        size_t k = nc, j;
        if (b->kind != N_BIND || b->a == NULL)
            continue;
        for (j = 0; j < b->a->nitems && k < MAX_COMPS; j++) {
            if ((comps[k] = attr_name(s->f, b->a->items[j])) == NULL) {
                rc = M3_ENOMEM;
                break;
            }
            k++;
        }
        if (rc == 0 && j == b->a->nitems) {
            const char *secret = secret_of(comps, k);
            rc = secret != NULL ? record(s, secret, b->b) : walk(s, b->b, comps, k);
        }
        for (j = nc; j < k; j++)
            free(comps[j]);
    }
    return rc;
}

static int
walk(struct scan *s, const struct reg_node *n, char **comps, size_t nc)
{
    int rc = 0;

    if (n == NULL)
        return 0;
    switch (n->kind) {
    case N_SET:
        return walk_set(s, n, comps, nc);
    case N_LET:
        return walk(s, n->a, comps, nc);
    case N_LIST:
        for (size_t i = 0; i < n->nitems && rc == 0; i++)
            rc = walk(s, n->items[i], comps, nc);
        return rc;
    case N_LAMBDA:
        return walk(s, n->b, comps, nc);
    case N_FILE:
    case N_PAREN:
        return walk(s, n->a, comps, nc);
    case N_WITH:
    case N_ASSERT:
        return walk(s, n->b, comps, nc);
    case N_IF:
        if ((rc = walk(s, n->b, comps, nc)) != 0)
            return rc;
        return walk(s, n->c, comps, nc);
    case N_APP: /* mkIf cond { ... }, mkMerge [ ... ] */
        if ((rc = walk(s, n->a, comps, nc)) != 0)
            return rc;
        return walk(s, n->b, comps, nc);
    case N_BINOP: /* a // b */
        if (n->flag != TK_UPDATE)
            return 0;
        if ((rc = walk(s, n->a, comps, nc)) != 0)
            return rc;
        return walk(s, n->b, comps, nc);
    default:
        return 0;
    }
}

static int
strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_nix: appends the *.nix files under dir (relative path rel) to *v, recursively. */
static int
list_nix(const char *dir, const char *rel, char ***v, size_t *n)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    int rc = 0;

    if (dp == NULL)
        return M3_EIO;
    while (rc == 0 && (de = readdir(dp)) != NULL) {
        char path[4096], sub[4096];
        struct stat st;
        size_t len = strlen(de->d_name);
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        snprintf(sub, sizeof(sub), "%s/%s", rel, de->d_name);
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            rc = list_nix(path, sub, v, n);
        } else if (S_ISREG(st.st_mode) && len > 4 && strcmp(de->d_name + len - 4, ".nix") == 0) {
            char **nv = realloc(*v, (*n + 1) * sizeof(**v));
            if (nv == NULL || (nv[*n] = strdup(sub)) == NULL) {
                if (nv != NULL)
                    *v = nv;
                rc = M3_ENOMEM;
                break;
            }
            *v = nv;
            (*n)++;
        }
    }
    closedir(dp);
    return rc;
}

static int
secret_cmp(const void *a, const void *b)
{
    const struct reg_host_secret *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->secret, y->secret);
}

static int
scan_host(const char *root, struct reg_hosts *hs, struct reg_host *h, struct m3_diag *d)
{
    char dir[4096], rel[4096];
    char **mods = NULL;
    size_t nmods = 0;
    int rc;

    snprintf(dir, sizeof(dir), "%s/hosts/%s", root, h->name);
    snprintf(rel, sizeof(rel), "hosts/%s", h->name);
    if ((rc = list_nix(dir, rel, &mods, &nmods)) != 0) {
        m3_diag_set(d, rc, "%s: cannot list the host's modules", rel);
        goto out;
    }
    qsort(mods, nmods, sizeof(*mods), strp_cmp);
    for (size_t i = 0; i < nmods && rc == 0; i++) {
        char path[8192], *buf = NULL, *comps[MAX_COMPS];
        size_t len;
        struct reg_file *f = NULL;
        snprintf(path, sizeof(path), "%s/%s", root, mods[i]);
        if ((rc = reg_read_file(path, &buf, &len, d)) != 0)
            break;
        rc = reg_parse(mods[i], buf, len, &f, d);
        free(buf);
        if (rc != 0)
            break;
        char **nf = realloc(hs->files, (hs->nfiles + 1) * sizeof(*hs->files));
        if (nf == NULL) {
            reg_file_free(f);
            rc = M3_ENOMEM;
            break;
        }
        hs->files = nf;
        hs->files[hs->nfiles] = mods[i];
        mods[i] = NULL;
        struct scan s = {hs, h, f, hs->files[hs->nfiles], hs->files[hs->nfiles]};
        hs->nfiles++;
        rc = walk(&s, f->root, comps, 0);
        reg_file_free(f);
    }
    if (rc == 0 && h->nsecrets > 1)
        qsort(h->secrets, h->nsecrets, sizeof(*h->secrets), secret_cmp);
out:
    for (size_t i = 0; i < nmods; i++)
        free(mods[i]);
    free(mods);
    return rc;
}

int
secrets_hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d)
{
    struct reg_hosts *hs = calloc(1, sizeof(*hs));
    char dir[4096];
    char **names = NULL;
    size_t nnames = 0;
    struct dirent *de;
    DIR *dp = NULL;
    int rc = 0;

    *out = NULL;
    if (hs == NULL)
        return M3_ENOMEM;
    snprintf(dir, sizeof(dir), "%s/hosts", root);
    if ((dp = opendir(dir)) == NULL) {
        rc =
            m3_diag_set(d, errno == ENOENT ? M3_ENOTFOUND : M3_EIO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    while ((de = readdir(dp)) != NULL) {
        char path[8192];
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        char **nv = realloc(names, (nnames + 1) * sizeof(*names));
        if (nv == NULL || (nv[nnames] = strdup(de->d_name)) == NULL) {
            if (nv != NULL)
                names = nv;
            rc = M3_ENOMEM;
            goto out;
        }
        names = nv;
        nnames++;
    }
    qsort(names, nnames, sizeof(*names), strp_cmp);
    if (nnames > 0 && (hs->hosts = calloc(nnames, sizeof(*hs->hosts))) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < nnames && rc == 0; i++) {
        hs->hosts[i].name = names[i];
        names[i] = NULL;
        hs->nhosts++;
        rc = scan_host(root, hs, &hs->hosts[i], d);
    }
out:
    if (dp != NULL)
        closedir(dp);
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
    free(names);
    if (rc != 0)
        secrets_hosts_free(hs);
    else
        *out = hs;
    return rc;
}

void
secrets_hosts_free(struct reg_hosts *hs)
{
    if (hs == NULL)
        return;
    for (size_t i = 0; i < hs->nhosts; i++) {
        struct reg_host *h = &hs->hosts[i];
        for (size_t j = 0; j < h->nsecrets; j++) {
            free(h->secrets[j].secret);
            free(h->secrets[j].file);
        }
        for (size_t j = 0; j < h->nunresolved; j++) {
            free(h->unresolved[j].secret);
            free(h->unresolved[j].text);
        }
        free(h->secrets);
        free(h->unresolved);
        free(h->name);
    }
    for (size_t i = 0; i < hs->nfiles; i++)
        free(hs->files[i]);
    free(hs->files);
    free(hs->hosts);
    free(hs);
}
