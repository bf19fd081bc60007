/* hosts.c: which modules each host has, and so which secrets it uses: the files of its
 * folder hosts/<host>/, the modules lists flake.nix gives it under nixosConfigurations, and
 * what their `imports` reach (see reg_hosts_scan). modscan.c finds the secrets and the
 * imports in each module; this file owns the graph: it reads flake.nix, follows imports
 * breadth first within the repository (bounded in depth and count, each file parsed once),
 * walks the host folders, and says what it did not follow and why. Those three stay in one
 * file because they fill one private structure, struct reg_graph (the module cache, the
 * queue of the host being scanned, flake.nix's lists); split, it would become shared. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry/hosts.h"

#define MAX_IMPORT_DEPTH 32
#define MAX_MODULES 4096
/* How deep folders under hosts/<host>/ are scanned: a host's modules sit a few folders
 * down; a cloned repository can hold thousands of nested folders, and each level is one
 * scan_dir frame (two PATH_MAX buffers). */
#define MAX_DIR_DEPTH 64

struct queued {
    const char *rel; /* interned in hs->files */
    unsigned depth;
    bool fatal; /* a file of the host's folder: one that does not parse fails the scan */
};

/* a modules list of flake.nix, for one host or (host NULL) for every host without one */
struct flake_list {
    const struct reg_node *v;
    char *host;
    struct reg_scan_param params[MAX_PARAMS];
    size_t nparams;
};

struct module {
    const char *rel;    /* interned */
    struct reg_file *f; /* NULL: it did not parse */
    char *err;          /* why, when f is NULL */
    char *hint;         /* the parser's guess at the fix of err (NULL: none) */
};

struct reg_graph {
    const char *root;
    char real[PATH_MAX]; /* root's real path */
    struct reg_hosts *hs;
    struct m3_diag *d;
    struct module *mods;
    size_t nmods;
    /* the host being scanned */
    struct queued *q;
    size_t nq, qhead;
    bool *reached; /* per host: a file of its folder is imported by another host */
    /* flake.nix */
    struct reg_file *flake;
    const char *flake_rel;
    struct flake_list *lists;
    size_t nlists;
    char **named; /* hosts nixosConfigurations names */
    size_t nnamed;
};

/* intern: the copy of rel in hs->files (spans point there), added if new; NULL: no memory. */
static const char *
intern(struct reg_hosts *hs, const char *rel)
{
    char **files;

    for (size_t i = 0; i < hs->nfiles; i++)
        if (strcmp(hs->files[i], rel) == 0)
            return hs->files[i];
    if ((files = realloc(hs->files, (hs->nfiles + 1) * sizeof(*files))) == NULL)
        return NULL;
    hs->files = files;
    if ((files[hs->nfiles] = strdup(rel)) == NULL)
        return NULL;
    return files[hs->nfiles++];
}

/* unfollowed: notes that n (in s's module) cannot be followed; once per place and reason, its
 * host dropped when several hosts meet it. */
static void
unfollowed(struct reg_scan *s, const struct reg_node *n, const char *why)
{
    struct reg_hosts *hs = s->g->hs;
    struct reg_host_unfollowed *u;
    struct reg_span sp;
    const char *host = s->h != NULL ? s->h->name : NULL;

    reg_node_span(n, &sp);
    sp.file = s->span_name;
    for (size_t i = 0; i < hs->nunfollowed; i++) {
        u = &hs->unfollowed[i];
        if (u->span.file == sp.file && u->span.off == sp.off && strcmp(u->why, why) == 0) {
            if (u->host != NULL && (host == NULL || strcmp(u->host, host) != 0)) {
                free(u->host);
                u->host = NULL;
            }
            return;
        }
    }
    if ((u = realloc(hs->unfollowed, (hs->nunfollowed + 1) * sizeof(*u))) == NULL) {
        s->rc = M3_ENOMEM;
        return;
    }
    hs->unfollowed = u;
    u = &u[hs->nunfollowed];
    u->span = sp;
    u->host = host ? strdup(host) : NULL;
    u->text = reg_scan_node_text(n);
    u->why = strdup(why);
    if ((host && u->host == NULL) || u->text == NULL || u->why == NULL) {
        free(u->host);
        free(u->text);
        free(u->why);
        s->rc = M3_ENOMEM;
        return;
    }
    /* one line in messages */
    for (char *c = u->text; *c; c++)
        if (*c == '\n' || *c == '\t' || *c == '\r')
            *c = ' ';
    if (strlen(u->text) > 120)
        strcpy(u->text + 117, "...");
    hs->nunfollowed++;
}

/* module_path: the repository-relative real path of the module rel names (a folder: its
 * default.nix), or NULL with *why set: missing, or outside the repository by a symlink. */
static char *
module_path(const struct reg_graph *g, const char *rel, const char **why)
{
    char full[PATH_MAX * 2], real[PATH_MAX];
    struct stat st;
    size_t rl = strlen(g->real);

    snprintf(full, sizeof(full), "%s/%s", g->real, rel);
    if (realpath(full, real) == NULL) {
        *why = "no such file in the repository";
        return NULL;
    }
    if (strncmp(real, g->real, rl) != 0 || real[rl] != '/') {
        *why = "outside the repository (a symlink): not read";
        return NULL;
    }
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(full, sizeof(full), "%s/default.nix", real);
        if (realpath(full, real) == NULL) {
            *why = "a folder without default.nix";
            return NULL;
        }
        if (strncmp(real, g->real, rl) != 0 || real[rl] != '/') {
            *why = "outside the repository (a symlink): not read";
            return NULL;
        }
    }
    if (stat(real, &st) != 0 || !S_ISREG(st.st_mode)) {
        *why = "not a regular file";
        return NULL;
    }
    *why = NULL;
    return strdup(real + rl + 1);
}

static int
enqueue(struct reg_graph *g, const char *rel, unsigned depth, bool fatal)
{
    struct queued *q;
    const char *name = intern(g->hs, rel);

    if (name == NULL || (q = realloc(g->q, (g->nq + 1) * sizeof(*q))) == NULL)
        return M3_ENOMEM;
    g->q = q;
    g->q[g->nq++] = (struct queued){name, depth, fatal};
    return 0;
}

/* follow: the module the node n names, imported from s's module. */
static void
follow(struct reg_scan *s, const struct reg_node *n)
{
    const char *why = "a computed import (write it as a path)";
    char *rel = reg_scan_resolve(s, n), *path = NULL;

    if (rel == NULL && reg_scan_strip(n)->kind == N_PATH)
        why = "outside the repository: not read";
    else if (rel != NULL && s->depth + 1 > MAX_IMPORT_DEPTH)
        why = "more than 32 imports deep: not followed";
    else if (rel != NULL && (path = module_path(s->g, rel, &why)) != NULL &&
             enqueue(s->g, path, s->depth + 1, false) != 0)
        s->rc = M3_ENOMEM;
    if (path == NULL && s->rc == 0)
        unfollowed(s, n, why);
    free(rel);
    free(path);
}

/* var_named: n is the variable or attribute path ending in name (import, lib.optionals). */
static bool
var_named(const struct reg_node *n, const char *name)
{
    size_t len, nl = strlen(name);
    const char *t;

    n = reg_scan_strip(n);
    if (n->kind == N_VAR)
        t = reg_tok_text(n->file, n->tok, &len);
    else if (n->kind == N_SELECT && n->c == NULL &&
             n->b->items[n->b->nitems - 1]->kind == N_ATTR_ID)
        t = reg_tok_text(n->file, n->b->items[n->b->nitems - 1]->tok, &len);
    else
        return false;
    return len == nl && memcmp(t, name, nl) == 0;
}

/* root_var: the variable an attribute path starts from (inputs, self, agenix), or NULL. */
static const struct reg_node *
root_var(const struct reg_node *n)
{
    n = reg_scan_strip(n);
    while (n->kind == N_SELECT)
        n = reg_scan_strip(n->a);
    return n->kind == N_VAR ? n : NULL;
}

static void
import_item(struct reg_scan *s, const struct reg_node *it)
{
    const struct reg_node *n = reg_scan_strip(it), *r;

    switch (n->kind) {
    case N_SET:
    case N_LAMBDA:
    case N_LET:
        /* an inline module: a module's own walk sees it; a flake list's is walked here */
        if (s->inline_walk)
            reg_scan_walk(s, n, NULL, 0);
        return;
    case N_SELECT:
    case N_VAR:
        /* a module of another flake (inputs.agenix.nixosModules.default, agenix.nixosModules.age):
         * nothing of this repository; self.nixosModules.X is, and is not followed */
        r = root_var(n);
        if (r != NULL &&
            (reg_scan_is_root_ref(n->kind == N_SELECT ? n->a : n) || var_named(r, "self")))
            unfollowed(s, n, "a module of this flake by name: not followed");
        else if (n->kind == N_VAR)
            unfollowed(s, n, "a module given by a variable: not followed");
        return;
    case N_APP:
        /* import ./x.nix, import ./x.nix { args }: the module is the file */
        while (n->kind == N_APP) {
            if (var_named(n->a, "import")) {
                follow(s, n->b);
                return;
            }
            n = reg_scan_strip(n->a);
        }
        unfollowed(s, it, "a computed import (write it as a path)");
        return;
    default:
        follow(s, n);
    }
}

/* reg_scan_imports: the value of `imports` (or of a flake list): lists, ++, lib.optional(s). */
void
reg_scan_imports(struct reg_scan *s, const struct reg_node *v)
{
    v = reg_scan_strip(v);
    if (s->rc != 0)
        return;
    if (v->kind == N_LIST) {
        for (size_t i = 0; i < v->nitems && s->rc == 0; i++)
            import_item(s, v->items[i]);
    } else if (v->kind == N_BINOP && v->flag == TK_CONCAT) {
        reg_scan_imports(s, v->a);
        reg_scan_imports(s, v->b);
    } else if (v->kind == N_APP && (var_named(v->a, "optionals") || var_named(v->a, "mkIf") ||
                                    (reg_scan_strip(v->a)->kind == N_APP &&
                                     (var_named(reg_scan_strip(v->a)->a, "optionals") ||
                                      var_named(reg_scan_strip(v->a)->a, "mkIf"))))) {
        reg_scan_imports(s, v->b); /* conditional: taken as imported (the safe side) */
    } else if (v->kind == N_APP && reg_scan_strip(v->a)->kind == N_APP &&
               var_named(reg_scan_strip(v->a)->a, "optional")) {
        import_item(s, v->b);
    } else {
        unfollowed(s, v, "a computed list of imports (write it as a list of paths)");
    }
}

static bool
ends_configurations(const char *e)
{
    size_t n = strlen(e);
    return n > 14 && strcmp(e + n - 14, "Configurations") == 0;
}

/* reg_scan_flake_binding: in flake.nix, `nixosConfigurations.H = ...` names host H; a `modules`
 * list under nixosConfigurations.H is H's, one in a helper lambda (or under nixosConfigurations
 * without a host name: genAttrs, mapAttrs) is every other host's. */
void
reg_scan_flake_binding(struct reg_scan *s, char **p, size_t n, const struct reg_node *v)
{
    struct reg_graph *g = s->g;
    size_t k;
    const char *host = NULL;

    for (k = 0; k < n && strcmp(p[k], "nixosConfigurations") != 0; k++)
        ;
    /* nixosConfigurations.H = ...; nixosConfigurations.H.modules (through nixosSystem's
     * argument); not nixosConfigurations.modules (genAttrs hosts (name: ...{ modules }) */
    if (k + 2 < n || (k + 2 == n && strcmp(p[n - 1], "modules") != 0))
        host = strcmp(p[k + 1], "*") != 0 ? p[k + 1] : NULL;
    if (host != NULL && n == k + 2) {
        char **nv = realloc(g->named, (g->nnamed + 1) * sizeof(*nv));
        if (nv == NULL || (nv[g->nnamed] = strdup(host)) == NULL) {
            if (nv != NULL)
                g->named = nv;
            s->rc = M3_ENOMEM;
            return;
        }
        g->named = nv;
        g->nnamed++;
    }
    if (strcmp(p[n - 1], "modules") != 0)
        return;
    if (k == n) {
        /* outside nixosConfigurations: only a helper's list (lambda inside outputs), and
         * not darwinConfigurations, homeConfigurations... */
        if (s->lambdas < 2)
            return;
        for (size_t i = 0; i + 1 < n; i++)
            if (ends_configurations(p[i]))
                return;
    }
    struct flake_list *l = realloc(g->lists, (g->nlists + 1) * sizeof(*l));
    if (l == NULL) {
        s->rc = M3_ENOMEM;
        return;
    }
    g->lists = l;
    l = &l[g->nlists];
    memset(l, 0, sizeof(*l));
    l->v = v;
    if (host != NULL && (l->host = strdup(host)) == NULL) {
        s->rc = M3_ENOMEM;
        return;
    }
    memcpy(l->params, s->params, sizeof(l->params));
    l->nparams = s->nparams;
    g->nlists++;
}

/* read_flake: flake.nix's lists and host names (a flake.nix that does not parse: a note). */
static int
read_flake(struct reg_graph *g)
{
    const char *why;
    char *rel = module_path(g, "flake.nix", &why), *buf = NULL, full[PATH_MAX * 2];
    size_t len;
    struct m3_diag d = {0};
    int rc = 0;

    if (rel == NULL || strcmp(rel, "flake.nix") != 0) {
        free(rel);
        return 0;
    }
    free(rel);
    if ((g->flake_rel = intern(g->hs, "flake.nix")) == NULL)
        return M3_ENOMEM;
    snprintf(full, sizeof(full), "%s/flake.nix", g->real);
    if (reg_read_file(full, &buf, &len, &d) != 0 ||
        reg_parse(g->flake_rel, buf, len, &g->flake, &d) != 0) {
        struct reg_host_unfollowed *u =
            realloc(g->hs->unfollowed, (g->hs->nunfollowed + 1) * sizeof(*u));
        free(buf);
        if (u == NULL)
            return M3_ENOMEM;
        g->hs->unfollowed = u;
        u = &u[g->hs->nunfollowed];
        memset(u, 0, sizeof(*u));
        u->span.file = g->flake_rel;
        u->text = strdup("flake.nix");
        char msg[sizeof(d.msg) + 64];
        snprintf(msg, sizeof(msg), "its modules lists are not read: %s",
                 d.msg[0] ? d.msg : "cannot be read");
        u->why = strdup(msg);
        if (u->text == NULL || u->why == NULL) {
            free(u->text);
            free(u->why);
            return M3_ENOMEM;
        }
        g->hs->nunfollowed++;
        return 0;
    }
    free(buf);
    struct reg_scan s = {.f = g->flake,
                         .module_rel = g->flake_rel,
                         .span_name = g->flake_rel,
                         .g = g,
                         .flake = true};
    reg_scan_walk(&s, g->flake->root, NULL, 0);
    rc = s.rc;
    return rc != 0 ? m3_diag_set(g->d, rc, "out of memory") : 0;
}

/* module_of: the parsed module rel (read once for all hosts); NULL with *err when it does not
 * parse or cannot be read. */
static int
module_of(struct reg_graph *g, const char *rel, struct module **out)
{
    char full[PATH_MAX * 2], *buf = NULL;
    size_t len;
    struct m3_diag d = {0};
    struct module *m;
    int rc;

    for (size_t i = 0; i < g->nmods; i++)
        if (g->mods[i].rel == rel) {
            *out = &g->mods[i];
            return 0;
        }
    if (g->nmods >= MAX_MODULES) {
        *out = NULL;
        return 0;
    }
    if ((m = realloc(g->mods, (g->nmods + 1) * sizeof(*m))) == NULL)
        return M3_ENOMEM;
    g->mods = m;
    m = &m[g->nmods++];
    memset(m, 0, sizeof(*m));
    m->rel = rel;
    snprintf(full, sizeof(full), "%s/%s", g->real, rel);
    rc = reg_read_file(full, &buf, &len, &d);
    if (rc == 0)
        rc = reg_parse(rel, buf, len, &m->f, &d);
    free(buf);
    if (rc == M3_ENOMEM)
        return rc;
    if (rc != 0 && (m->err = strdup(d.msg[0] ? d.msg : m3_strerror(rc))) == NULL)
        return M3_ENOMEM;
    if (rc != 0 && d.hint[0] != '\0' && (m->hint = strdup(d.hint)) == NULL)
        return M3_ENOMEM;
    *out = m;
    return 0;
}

/* mark_reached: rel is under hosts/X/ for a host X other than h: X's folder is imported. */
static void
mark_reached(struct reg_graph *g, const struct reg_host *h, const char *rel)
{
    const char *x = rel + 6, *slash;

    if (strncmp(rel, "hosts/", 6) != 0 || (slash = strchr(x, '/')) == NULL)
        return;
    for (size_t i = 0; i < g->hs->nhosts; i++) {
        const char *name = g->hs->hosts[i].name;
        if (strlen(name) == (size_t)(slash - x) && strncmp(name, x, (size_t)(slash - x)) == 0 &&
            strcmp(name, h->name) != 0)
            g->reached[i] = true;
    }
}

/* scan_host: h's folder, its flake lists, then what their imports reach (breadth first). */
static int
scan_host(struct reg_graph *g, struct reg_host *h)
{
    bool own = false;
    int rc = 0;

    for (size_t i = 0; i < g->nlists; i++)
        own |= g->lists[i].host != NULL && strcmp(g->lists[i].host, h->name) == 0;
    for (size_t i = 0; i < g->nlists && rc == 0; i++) {
        const struct flake_list *l = &g->lists[i];
        if (l->host != NULL ? strcmp(l->host, h->name) != 0 : own)
            continue;
        struct reg_scan s = {.f = g->flake,
                             .module_rel = g->flake_rel,
                             .span_name = g->flake_rel,
                             .h = h,
                             .g = g,
                             .inline_walk = true,
                             .subst = h->name,
                             .nparams = l->nparams};
        memcpy(s.params, l->params, sizeof(s.params));
        reg_scan_imports(&s, l->v);
        rc = s.rc;
    }
    while (rc == 0 && g->qhead < g->nq) {
        struct queued q = g->q[g->qhead++];
        struct module *m = NULL;
        bool seen = false;
        for (size_t i = 0; i + 1 < g->qhead && !seen; i++)
            seen = g->q[i].rel == q.rel;
        if (seen)
            continue;
        if (q.depth > 0)
            mark_reached(g, h, q.rel);
        if ((rc = module_of(g, q.rel, &m)) != 0)
            break;
        struct reg_scan s = {
            .module_rel = q.rel, .span_name = q.rel, .h = h, .g = g, .depth = q.depth};
        if (m == NULL || m->f == NULL) {
            if (q.fatal && m != NULL) {
                rc = m3_diag_set(g->d, M3_ESYNTAX, "%s", m->err);
                if (m->hint != NULL)
                    m3_diag_hint(g->d, "%s", m->hint);
                break;
            }
            struct reg_host_unfollowed *u;
            char why[sizeof(((struct m3_diag *)0)->msg) + 32];
            snprintf(why, sizeof(why), "%s%s", m ? "not followed: " : "",
                     m ? m->err : "more than 4096 modules: not read");
            bool dup = false;
            for (size_t i = 0; i < g->hs->nunfollowed && !dup; i++)
                dup = g->hs->unfollowed[i].span.file == q.rel &&
                      strcmp(g->hs->unfollowed[i].why, why) == 0;
            if (dup)
                continue;
            if ((u = realloc(g->hs->unfollowed, (g->hs->nunfollowed + 1) * sizeof(*u))) == NULL)
                return m3_diag_set(g->d, M3_ENOMEM, "out of memory");
            g->hs->unfollowed = u;
            u = &u[g->hs->nunfollowed];
            memset(u, 0, sizeof(*u));
            u->span.file = q.rel;
            u->text = strdup(q.rel);
            u->why = strdup(why);
            if (u->text == NULL || u->why == NULL) {
                free(u->text);
                free(u->why);
                return m3_diag_set(g->d, M3_ENOMEM, "out of memory");
            }
            g->hs->nunfollowed++;
            continue;
        }
        s.f = m->f;
        reg_scan_walk(&s, m->f->root, NULL, 0);
        if ((rc = s.rc) != 0)
            rc = m3_diag_set(g->d, rc, "out of memory");
    }
    free(g->q);
    g->q = NULL;
    g->nq = g->qhead = 0;
    return rc;
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

/* scan_dir: queues every .nix file under rel (symlinks not followed), in name order. */
static int
scan_dir(struct reg_graph *g, const char *rel, unsigned depth)
{
    char path[PATH_MAX], sub[PATH_MAX], **names = NULL;
    size_t n = 0, i;
    int rc;

    snprintf(path, sizeof(path), "%s/%s", g->root, rel);
    if ((rc = list_dir(path, &names, &n)) != 0)
        return rc == M3_ENOMEM ? m3_diag_set(g->d, rc, "out of memory") : 0;
    for (i = 0; i < n && rc == 0; i++) {
        struct stat st;
        size_t len = strlen(names[i]);
        if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", rel, names[i]) >= sizeof(sub) ||
            (size_t)snprintf(path, sizeof(path), "%s/%s", g->root, sub) >= sizeof(path) ||
            lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth >= MAX_DIR_DEPTH)
                rc = m3_diag_set(g->d, M3_EINVAL, "%s: folders nested too deeply (more than %d)",
                                 sub, MAX_DIR_DEPTH);
            else
                rc = scan_dir(g, sub, depth + 1);
        } else if (S_ISREG(st.st_mode) && len > 4 && strcmp(names[i] + len - 4, ".nix") == 0 &&
                   enqueue(g, sub, 0, true) != 0)
            rc = m3_diag_set(g->d, M3_ENOMEM, "out of memory");
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

void
reg_hosts_clear_host(struct reg_host *h)
{
    for (size_t k = 0; k < h->nsecrets; k++) {
        free(h->secrets[k].secret);
        free(h->secrets[k].file);
    }
    for (size_t k = 0; k < h->nunresolved; k++) {
        free(h->unresolved[k].secret);
        free(h->unresolved[k].text);
    }
    free(h->secrets);
    free(h->unresolved);
    h->secrets = NULL;
    h->unresolved = NULL;
    h->nsecrets = h->nunresolved = 0;
}

void
reg_hosts_free_host(struct reg_host *h)
{
    reg_hosts_clear_host(h);
    free(h->name);
}

/* drop_reached: a folder under hosts/ that other hosts import (hosts/common) is not a host,
 * unless flake.nix names it in nixosConfigurations. */
static void
drop_reached(struct reg_graph *g)
{
    struct reg_hosts *hs = g->hs;
    size_t o = 0;

    for (size_t i = 0; i < hs->nhosts; i++) {
        struct reg_host *h = &hs->hosts[i];
        bool named = false;
        for (size_t k = 0; k < g->nnamed && !named; k++)
            named = strcmp(g->named[k], h->name) == 0;
        if (g->reached[i] && !named) {
            reg_hosts_free_host(h);
            continue;
        }
        hs->hosts[o++] = *h;
    }
    hs->nhosts = o;
}

static void
graph_clear(struct reg_graph *g)
{
    for (size_t i = 0; i < g->nmods; i++) {
        reg_file_free(g->mods[i].f);
        free(g->mods[i].err);
        free(g->mods[i].hint);
    }
    free(g->mods);
    for (size_t i = 0; i < g->nlists; i++)
        free(g->lists[i].host);
    free(g->lists);
    for (size_t i = 0; i < g->nnamed; i++)
        free(g->named[i]);
    free(g->named);
    free(g->reached);
    free(g->q);
    reg_file_free(g->flake);
}

static int
host_cmp(const void *x, const void *y)
{
    return strcmp(((const struct reg_host *)x)->name, ((const struct reg_host *)y)->name);
}

/* add_host: a host named name, unless there is one. */
static int
add_host(struct reg_hosts *hs, const char *name)
{
    struct reg_host *h;

    for (size_t i = 0; i < hs->nhosts; i++)
        if (strcmp(hs->hosts[i].name, name) == 0)
            return 0;
    if ((h = realloc(hs->hosts, (hs->nhosts + 1) * sizeof(*h))) == NULL)
        return M3_ENOMEM;
    hs->hosts = h;
    h = &hs->hosts[hs->nhosts];
    memset(h, 0, sizeof(*h));
    if ((h->name = strdup(name)) == NULL)
        return M3_ENOMEM;
    hs->nhosts++;
    return 0;
}

const char *
reg_hosts_intern(struct reg_hosts *hs, const char *rel)
{
    return intern(hs, rel);
}

int
reg_hosts_add_host(struct reg_hosts *hs, const char *name)
{
    return add_host(hs, name);
}

int
reg_host_cmp(const void *x, const void *y)
{
    return host_cmp(x, y);
}

int
reg_host_secret_cmp(const void *x, const void *y)
{
    return secret_cmp(x, y);
}

static struct reg_host_eval host_eval;

void
reg_set_host_eval(const struct reg_host_eval *he)
{
    if (he == NULL)
        memset(&host_eval, 0, sizeof(host_eval));
    else
        host_eval = *he;
}

/* with_nix: the static scan hs (NULL: none was possible, static_rc says why) with Nix's
 * answer put in; no answer leaves the scan as it was. */
static int
with_nix(const char *root, struct reg_hosts **hs, int static_rc, struct m3_diag *d)
{
    struct reg_nix_hosts nx = {0};
    struct m3_diag nd = {0};
    int rc;

    if ((rc = host_eval.eval(host_eval.ctx, root, &nx, &nd)) == M3_ENOTFOUND)
        return static_rc;
    if (rc != 0) {
        if (d != NULL)
            *d = nd;
        return rc;
    }
    if (*hs == NULL && (*hs = calloc(1, sizeof(**hs))) == NULL)
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
    else
        rc = reg_hosts_apply_nix(*hs, &nx, d);
    reg_nix_hosts_clear(&nx);
    if (rc == 0 && (*hs)->nhosts == 0 && static_rc != 0)
        return static_rc;
    return rc;
}

static int hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d);

int
reg_hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d)
{
    struct m3_diag sd = {0};
    int rc;

    if (host_eval.eval == NULL)
        return hosts_scan(root, out, d);
    rc = hosts_scan(root, out, &sd);
    if (rc != 0 && rc != M3_ENOTFOUND) {
        if (d != NULL)
            *d = sd;
        return rc;
    }
    if ((rc = with_nix(root, out, rc, d)) != 0) {
        if (rc == M3_ENOTFOUND && d != NULL)
            *d = sd;
        reg_hosts_free(*out);
        *out = NULL;
    }
    return rc;
}

static int
hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d)
{
    struct reg_hosts *hs = calloc(1, sizeof(*hs));
    struct reg_graph g = {.root = root, .hs = hs, .d = d};
    char path[PATH_MAX], **names = NULL;
    size_t n = 0, i;
    int rc = 0;

    *out = NULL;
    if (hs == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if (realpath(root, g.real) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", root, strerror(errno));
        goto out;
    }
    if ((rc = read_flake(&g)) != 0)
        goto out;
    snprintf(path, sizeof(path), "%s/hosts", root);
    if ((rc = list_dir(path, &names, &n)) == M3_ENOMEM) {
        rc = m3_diag_set(d, rc, "out of memory");
        goto out;
    }
    if (rc == M3_ENOTFOUND && g.nnamed == 0) {
        rc = m3_diag_set(d, rc, "no hosts/ folder in '%s'", root);
        goto out;
    }
    rc = 0;
    for (i = 0; i < n && rc == 0; i++) {
        struct stat st;
        if ((size_t)snprintf(path, sizeof(path), "%s/hosts/%s", root, names[i]) >= sizeof(path) ||
            stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            continue;
        rc = add_host(hs, names[i]);
    }
    /* a host flake.nix names without a folder (hosts/m3-atlas.nix, machines/...) */
    for (i = 0; i < g.nnamed && rc == 0; i++)
        if (g.named[i][0] != '.' && strchr(g.named[i], '/') == NULL)
            rc = add_host(hs, g.named[i]);
    if (rc != 0) {
        rc = m3_diag_set(d, rc, "out of memory");
        goto out;
    }
    if (hs->nhosts > 1)
        qsort(hs->hosts, hs->nhosts, sizeof(*hs->hosts), host_cmp);
    if ((g.reached = calloc(hs->nhosts + 1, sizeof(*g.reached))) == NULL) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    for (i = 0; i < hs->nhosts && rc == 0; i++) {
        struct reg_host *h = &hs->hosts[i];
        char rel[PATH_MAX];
        snprintf(rel, sizeof(rel), "hosts/%s", h->name);
        if ((rc = scan_dir(&g, rel, 1)) != 0 || (rc = scan_host(&g, h)) != 0)
            break;
        if (h->nsecrets > 1)
            qsort(h->secrets, h->nsecrets, sizeof(*h->secrets), secret_cmp);
    }
    if (rc == 0)
        drop_reached(&g);
out:
    free_names(names, n);
    graph_clear(&g);
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
    size_t i;

    if (hs == NULL)
        return;
    for (i = 0; i < hs->nhosts; i++)
        reg_hosts_free_host(&hs->hosts[i]);
    for (i = 0; i < hs->nunfollowed; i++) {
        free(hs->unfollowed[i].host);
        free(hs->unfollowed[i].text);
        free(hs->unfollowed[i].why);
    }
    free(hs->unfollowed);
    free(hs->hosts);
    for (i = 0; i < hs->nfiles; i++)
        free(hs->files[i]);
    free(hs->files);
    free(hs);
}
