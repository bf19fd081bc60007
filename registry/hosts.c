/* hosts.c: which secret files each host's modules use, found syntactically (no module
 * evaluation): every binding whose attribute path reads ...age.secrets.NAME.file, in any
 * nesting of sets (`age.secrets = { NAME = { file = ...; }; }`), under functions, lets,
 * withs, ifs and applications such as lib.mkIf. */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry/syntax.h"

#define MAX_PATH_ELEMS 32
/* How deep folders under hosts/<host>/ are scanned: a host's modules sit a few folders
 * down; a cloned repository can hold thousands of nested folders, and each level is one
 * scan_dir frame (two PATH_MAX buffers). */
#define MAX_DIR_DEPTH 64

struct scan {
    const struct reg_file *f;
    const char *module_rel;
    const char *span_name; /* the name spans point to (owned by the caller) */
    struct reg_host *h;
    int rc;
};

static char *
node_text(const struct reg_node *n)
{
    size_t off = reg_node_off(n), end = reg_node_end(n);
    char *s = malloc(end - off + 1);

    if (s != NULL) {
        memcpy(s, n->file->src + off, end - off);
        s[end - off] = '\0';
    }
    return s;
}

static const struct reg_node *
strip(const struct reg_node *n)
{
    while (n->kind == N_PAREN)
        n = n->a;
    return n;
}

/* elem_name: a static attribute name, or "*" for a dynamic one (malloc'd). */
static char *
elem_name(const struct reg_node *a)
{
    size_t len;
    const char *s;
    char *out;

    if (a->kind == N_ATTR_ID) {
        s = reg_tok_text(a->file, a->tok, &len);
    } else if (a->kind == N_STR && a->nitems == 1 && a->items[0]->kind == N_STRLIT) {
        s = reg_tok_text(a->file, a->items[0]->tok, &len);
        if ((out = malloc(len + 1)) == NULL)
            return NULL;
        out[reg_decode_str_part(s, len, 0, out)] = '\0';
        return out;
    } else {
        s = "*";
        len = 1;
    }
    if ((out = malloc(len + 1)) != NULL) {
        memcpy(out, s, len);
        out[len] = '\0';
    }
    return out;
}

/* is_root_ref: `self`, `inputs.self`, `inputs.X` (a flake input taken as this repository),
 * optionally followed by `.outPath`. */
static int
is_root_ref(const struct reg_node *n)
{
    size_t len;
    const char *s;

    n = strip(n);
    if (n->kind == N_VAR) {
        s = reg_tok_text(n->file, n->tok, &len);
        return len == 4 && memcmp(s, "self", 4) == 0;
    }
    if (n->kind == N_SELECT && n->c == NULL && strip(n->a)->kind == N_VAR) {
        s = reg_tok_text(n->file, strip(n->a)->tok, &len);
        if (len == 4 && memcmp(s, "self", 4) == 0)
            return n->b->nitems == 1;
        return len == 6 && memcmp(s, "inputs", 6) == 0 && n->b->nitems <= 2;
    }
    return 0;
}

/* literal: the decoded text of a string made only of literal parts, or NULL. */
static char *
literal(const struct reg_node *n, size_t from)
{
    size_t i, cap = 1, o = 0, len;
    char *out;

    n = strip(n);
    if (n->kind != N_STR)
        return NULL;
    for (i = from; i < n->nitems; i++) {
        if (n->items[i]->kind != N_STRLIT)
            return NULL;
        reg_tok_text(n->file, n->items[i]->tok, &len);
        cap += len;
    }
    if ((out = malloc(cap)) == NULL)
        return NULL;
    for (i = from; i < n->nitems; i++) {
        const char *s = reg_tok_text(n->file, n->items[i]->tok, &len);
        o += reg_decode_str_part(s, len, 0, out + o);
    }
    if (memchr(out, '\0', o) != NULL) {
        /* no file is named with a NUL byte ("\0" in the string, or the byte itself) */
        free(out);
        return NULL;
    }
    out[o] = '\0';
    return out;
}

/* normalise: base (a repository-relative folder, may be "") joined with rel, without "."
 * and ".."; NULL when it leaves the repository or names its root (no file). */
static char *
normalise(const char *base, const char *rel)
{
    size_t n = strlen(base) + strlen(rel) + 2, o = 0;
    char *in = malloc(n), *out = malloc(n), *tok, *save = NULL;

    if (in == NULL || out == NULL) {
        free(in);
        free(out);
        return NULL;
    }
    snprintf(in, n, "%s/%s", base, rel);
    out[0] = '\0';
    for (tok = strtok_r(in, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            if (o == 0) {
                free(in);
                free(out);
                return NULL;
            }
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            out[o] = '\0';
            continue;
        }
        o += (size_t)sprintf(out + o, "%s%s", o ? "/" : "", tok);
    }
    free(in);
    if (o == 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* resolve: the repository-relative file a value names, or NULL. */
static char *
resolve(const struct scan *s, const struct reg_node *v)
{
    char dir[PATH_MAX], *lit, *r = NULL, *slash;
    size_t len;
    const char *t;

    snprintf(dir, sizeof(dir), "%s", s->module_rel);
    slash = strrchr(dir, '/');
    if (slash != NULL)
        *slash = '\0';
    else
        dir[0] = '\0';
    v = strip(v);
    if (v->kind == N_PATH) {
        t = reg_tok_text(v->file, v->tok, &len);
        if (t[0] == '/')
            return NULL;
        lit = malloc(len + 1);
        if (lit == NULL)
            return NULL;
        memcpy(lit, t, len);
        lit[len] = '\0';
        r = normalise(dir, lit);
        free(lit);
        return r;
    }
    if (v->kind == N_STR && v->nitems >= 2 && v->items[0]->kind == N_INTERP &&
        is_root_ref(v->items[0]->a)) {
        if ((lit = literal(v, 1)) == NULL)
            return NULL;
        r = normalise("", lit);
        free(lit);
        return r;
    }
    if (v->kind == N_BINOP && v->flag == TK_PLUS && (lit = literal(v->b, 0)) != NULL) {
        const struct reg_node *l = strip(v->a);
        if (is_root_ref(l)) {
            r = normalise("", lit);
        } else if (l->kind == N_PATH) {
            char *base = resolve(s, l);
            if (base != NULL)
                r = normalise(base, lit);
            free(base);
        }
        free(lit);
        return r;
    }
    return NULL;
}

static void
record(struct scan *s, const char *secret, const struct reg_node *v)
{
    struct reg_host *h = s->h;
    char *file = resolve(s, v);
    struct reg_span sp;

    reg_node_span(v, &sp);
    sp.file = s->span_name;
    if (file != NULL) {
        struct reg_host_secret *x = realloc(h->secrets, (h->nsecrets + 1) * sizeof(*x));
        if (x == NULL)
            goto oom;
        h->secrets = x;
        x = &h->secrets[h->nsecrets];
        if ((x->secret = strdup(secret)) == NULL)
            goto oom;
        x->file = file;
        x->span = sp;
        h->nsecrets++;
    } else {
        struct reg_host_unresolved *u = realloc(h->unresolved, (h->nunresolved + 1) * sizeof(*u));
        if (u == NULL)
            goto oom;
        h->unresolved = u;
        u = &h->unresolved[h->nunresolved];
        if ((u->secret = strdup(secret)) == NULL || (u->text = node_text(v)) == NULL) {
            free(u->secret);
            goto oom;
        }
        u->span = sp;
        h->nunresolved++;
    }
    return;
oom:
    free(file);
    s->rc = M3_ENOMEM;
}

/* check: a binding with full path p[0..n) and value v. */
static void
check(struct scan *s, char **p, size_t n, const struct reg_node *v)
{
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if (strcmp(p[i], "age") != 0 || strcmp(p[i + 1], "secrets") != 0)
            continue;
        if (n == i + 4 && strcmp(p[i + 3], "file") == 0)
            record(s, p[i + 2], v);
        return;
    }
}

static void walk(struct scan *s, const struct reg_node *n, char **p, size_t np);

static void
walk_set(struct scan *s, const struct reg_node *set, char **p, size_t np)
{
    size_t i, k;

    for (i = 0; i < set->nitems && s->rc == 0; i++) {
        const struct reg_node *b = set->items[i];
        char *full[MAX_PATH_ELEMS];
        size_t nfull = np;
        if (b->kind != N_BIND)
            continue;
        if (np > 0)
            memcpy(full, p, np * sizeof(*p));
        for (k = 0; k < b->a->nitems && nfull < MAX_PATH_ELEMS; k++) {
            if ((full[nfull] = elem_name(b->a->items[k])) == NULL) {
                s->rc = M3_ENOMEM;
                break;
            }
            nfull++;
        }
        if (s->rc == 0) {
            check(s, full, nfull, b->b);
            walk(s, b->b, full, nfull);
        }
        for (k = np; k < nfull; k++)
            free(full[k]);
    }
}

static void
walk(struct scan *s, const struct reg_node *n, char **p, size_t np)
{
    struct reg_node *fixed[3];
    size_t i;

    if (s->rc != 0)
        return;
    reg_node_fixed(n, fixed);
    switch (n->kind) {
    case N_SET:
        walk_set(s, n, p, np);
        return;
    case N_LET:
        walk(s, n->a, p, np);
        return;
    case N_STR:
    case N_IND_STR:
    case N_ATTRPATH:
    case N_SELECT:
    case N_FORMALS:
        return;
    default:
        break;
    }
    for (i = 0; i < 3; i++)
        if (fixed[i] != NULL)
            walk(s, fixed[i], p, np);
    for (i = 0; i < reg_node_nitems(n); i++)
        walk(s, n->items[i], p, np);
}

int
reg_scan_module(const struct reg_file *f, const char *module_rel, struct reg_host *h,
                struct m3_diag *d)
{
    struct scan s = {.f = f, .module_rel = module_rel, .span_name = f->name, .h = h};

    walk(&s, f->root, NULL, 0);
    if (s.rc != 0)
        return m3_diag_set(d, s.rc, "out of memory");
    return 0;
}

/* ---- the filesystem walk ---- */

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* list_dir: the sorted entry names of dir (without . and ..). */
static int
list_dir(const char *dir, char ***names, size_t *n)
{
    DIR *dp = opendir(dir);
    struct dirent *de;
    char **v = NULL, **nv;

    *n = 0;
    if (dp == NULL)
        return M3_ENOTFOUND;
    while ((de = readdir(dp)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if ((nv = realloc(v, (*n + 1) * sizeof(*v))) == NULL ||
            (nv[*n] = strdup(de->d_name)) == NULL) {
            if (nv != NULL)
                v = nv;
            closedir(dp);
            for (size_t i = 0; i < *n; i++)
                free(v[i]);
            free(v);
            return M3_ENOMEM;
        }
        v = nv;
        (*n)++;
    }
    closedir(dp);
    if (*n > 0)
        qsort(v, *n, sizeof(*v), name_cmp);
    *names = v;
    return 0;
}

static void
free_names(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static int
scan_dir(const char *root, const char *rel, struct reg_hosts *hs, struct reg_host *h,
         unsigned depth, struct m3_diag *d)
{
    char path[PATH_MAX], sub[PATH_MAX], **names = NULL;
    size_t n = 0, i;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    if ((rc = list_dir(path, &names, &n)) != 0)
        return rc == M3_ENOMEM ? m3_diag_set(d, rc, "out of memory") : 0;
    for (i = 0; i < n && rc == 0; i++) {
        struct stat st;
        size_t len = strlen(names[i]);
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", rel, names[i]) >= sizeof(sub) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", root, sub) >= sizeof(path) ||
            lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DIR_DEPTH)
                rc = m3_diag_set(d, M3_EINVAL, "%s: folders nested too deeply (more than %d)", sub,
                                 MAX_DIR_DEPTH);
            else
                rc = scan_dir(root, sub, hs, h, depth + 1, d);
        } else if (S_ISREG(st.st_mode) && len > 4 && strcmp(names[i] + len - 4, ".nix") == 0) {
            struct reg_file *f = NULL;
            char *buf = NULL, **files;
            size_t blen, before = h->nsecrets, ubefore = h->nunresolved, k;
            if ((rc = reg_read_file(path, &buf, &blen, d)) != 0)
                break;
            rc = reg_parse(sub, buf, blen, &f, d);
            free(buf);
            if (rc != 0)
                break;
            if ((files = realloc(hs->files, (hs->nfiles + 1) * sizeof(*files))) == NULL ||
                (files[hs->nfiles] = strdup(sub)) == NULL) {
                if (files != NULL)
                    hs->files = files;
                reg_file_free(f);
                rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
                break;
            }
            hs->files = files;
            hs->nfiles++;
            rc = reg_scan_module(f, sub, h, d);
            for (k = before; k < h->nsecrets; k++)
                h->secrets[k].span.file = hs->files[hs->nfiles - 1];
            for (k = ubefore; k < h->nunresolved; k++)
                h->unresolved[k].span.file = hs->files[hs->nfiles - 1];
            reg_file_free(f);
        }
    }
    free_names(names, n);
    return rc;
}

static int
secret_cmp(const void *x, const void *y)
{
    const struct reg_host_secret *a = x, *b = y;
    int r = strcmp(a->file, b->file);

    return r != 0 ? r : strcmp(a->secret, b->secret);
}

int
reg_hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d)
{
    struct reg_hosts *hs = calloc(1, sizeof(*hs));
    char path[PATH_MAX], **names = NULL;
    size_t n = 0, i;
    int rc;

    *out = NULL;
    if (hs == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    snprintf(path, sizeof(path), "%s/hosts", root);
    if ((rc = list_dir(path, &names, &n)) != 0) {
        reg_hosts_free(hs);
        if (rc == M3_ENOTFOUND)
            return m3_diag_set(d, rc, "no hosts/ folder in '%s'", root);
        return m3_diag_set(d, rc, "out of memory");
    }
    for (i = 0; i < n; i++) {
        struct stat st;
        char rel[PATH_MAX];
        struct reg_host *h;
        if ((size_t)snprintf(rel, sizeof(rel), "hosts/%s", names[i]) >= sizeof(rel) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path) ||
            stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        h = realloc(hs->hosts, (hs->nhosts + 1) * sizeof(*h));
        if (h == NULL) {
            rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
            break;
        }
        hs->hosts = h;
        h = &hs->hosts[hs->nhosts++];
        memset(h, 0, sizeof(*h));
        if ((h->name = strdup(names[i])) == NULL) {
            rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
            break;
        }
        if ((rc = scan_dir(root, rel, hs, h, 1, d)) != 0)
            break;
        if (h->nsecrets > 1)
            qsort(h->secrets, h->nsecrets, sizeof(*h->secrets), secret_cmp);
    }
    free_names(names, n);
    if (rc != 0) {
        reg_hosts_free(hs);
        return rc;
    }
    *out = hs;
    return 0;
}

void
reg_hosts_free(struct reg_hosts *hs)
{
    size_t i, k;

    if (hs == NULL)
        return;
    for (i = 0; i < hs->nhosts; i++) {
        struct reg_host *h = &hs->hosts[i];
        for (k = 0; k < h->nsecrets; k++) {
            free(h->secrets[k].secret);
            free(h->secrets[k].file);
        }
        for (k = 0; k < h->nunresolved; k++) {
            free(h->unresolved[k].secret);
            free(h->unresolved[k].text);
        }
        free(h->secrets);
        free(h->unresolved);
        free(h->name);
    }
    free(hs->hosts);
    for (i = 0; i < hs->nfiles; i++)
        free(hs->files[i]);
    free(hs->files);
    free(hs);
}
