/* modscan.c: which secret files one module uses, found syntactically (no module
 * evaluation): every binding whose attribute path reads ...age.secrets.NAME.file, in any
 * nesting of sets (`age.secrets = { NAME = { file = ...; }; }`), under functions, lets,
 * withs, ifs and applications such as lib.mkIf (see reg_scan_module).
 *
 * It is apart from hosts.c, which decides which modules a host has, because it reads one
 * syntax tree and touches no file: the same walk serves a module alone, a module reached
 * by the import graph (its `imports` are handed to hosts.c) and flake.nix (its bindings
 * are handed to hosts.c, which collects the hosts' module lists). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/hosts.h"

#define MAX_PATH_ELEMS 32

char *
reg_scan_node_text(const struct reg_node *n)
{
    size_t off = reg_node_off(n), end = reg_node_end(n);
    char *s = malloc(end - off + 1);

    if (s != NULL) {
        memcpy(s, n->file->src + off, end - off);
        s[end - off] = '\0';
    }
    return s;
}

const struct reg_node *
reg_scan_strip(const struct reg_node *n)
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

/* reg_scan_is_root_ref: `self`, `inputs.self`, `inputs.X` (a flake input taken as this
 * repository), optionally followed by `.outPath`. */
int
reg_scan_is_root_ref(const struct reg_node *n)
{
    size_t len;
    const char *s;

    n = reg_scan_strip(n);
    if (n->kind == N_VAR) {
        s = reg_tok_text(n->file, n->tok, &len);
        return len == 4 && memcmp(s, "self", 4) == 0;
    }
    if (n->kind == N_SELECT && n->c == NULL && reg_scan_strip(n->a)->kind == N_VAR) {
        s = reg_tok_text(n->file, reg_scan_strip(n->a)->tok, &len);
        if (len == 4 && memcmp(s, "self", 4) == 0)
            return n->b->nitems == 1;
        return len == 6 && memcmp(s, "inputs", 6) == 0 && n->b->nitems <= 2;
    }
    return 0;
}

/* subst_of: the host name an interpolation stands for (`${name}` of a helper taking the host
 * name in a flake list), or NULL. */
static const char *
subst_of(const struct reg_scan *sc, const struct reg_node *interp)
{
    const struct reg_node *v = reg_scan_strip(interp->a);
    size_t len;
    const char *t;

    if (sc == NULL || sc->subst == NULL || v->kind != N_VAR)
        return NULL;
    t = reg_tok_text(v->file, v->tok, &len);
    for (size_t i = 0; i < sc->nparams; i++)
        if (sc->params[i].len == len && memcmp(sc->params[i].s, t, len) == 0)
            return sc->subst;
    return NULL;
}

/* literal: the decoded text of a string made only of literal parts (and, with sc, the
 * interpolations subst_of knows), or NULL. */
static char *
literal(const struct reg_scan *sc, const struct reg_node *n, size_t from)
{
    size_t i, cap = 1, o = 0, len;
    char *out;

    n = reg_scan_strip(n);
    if (n->kind != N_STR)
        return NULL;
    for (i = from; i < n->nitems; i++) {
        const char *sub = n->items[i]->kind == N_INTERP ? subst_of(sc, n->items[i]) : NULL;
        if (n->items[i]->kind != N_STRLIT && sub == NULL)
            return NULL;
        if (sub != NULL)
            len = strlen(sub);
        else
            reg_tok_text(n->file, n->items[i]->tok, &len);
        cap += len;
    }
    if ((out = malloc(cap)) == NULL)
        return NULL;
    for (i = from; i < n->nitems; i++) {
        const char *s = reg_tok_text(n->file, n->items[i]->tok, &len);
        if (n->items[i]->kind == N_INTERP) {
            s = subst_of(sc, n->items[i]);
            memcpy(out + o, s, strlen(s));
            o += strlen(s);
            continue;
        }
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

/* resolve_path_interp: ./hosts/${name} in a flake list, the parameter replaced by the host. */
static char *
resolve_path_interp(const struct reg_scan *s, const struct reg_node *v, const char *dir)
{
    char buf[PATH_MAX];
    size_t o = 0, len;

    for (size_t i = 0; i < v->nitems; i++) {
        const char *t;
        if (v->items[i]->kind == N_INTERP) {
            if ((t = subst_of(s, v->items[i])) == NULL)
                return NULL;
            len = strlen(t);
        } else {
            t = reg_tok_text(v->file, v->items[i]->tok, &len);
        }
        if (o + len >= sizeof(buf) || memchr(t, '\0', len) != NULL)
            return NULL;
        memcpy(buf + o, t, len);
        o += len;
    }
    buf[o] = '\0';
    return o > 0 && buf[0] != '/' ? normalise(dir, buf) : NULL;
}

/* reg_scan_resolve: the repository-relative file a value names, or NULL. */
char *
reg_scan_resolve(const struct reg_scan *s, const struct reg_node *v)
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
    v = reg_scan_strip(v);
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
    if (v->kind == N_PATH_INTERP)
        return resolve_path_interp(s, v, dir);
    if (v->kind == N_STR && v->nitems >= 2 && v->items[0]->kind == N_INTERP &&
        reg_scan_is_root_ref(v->items[0]->a)) {
        if ((lit = literal(s, v, 1)) == NULL)
            return NULL;
        r = normalise("", lit);
        free(lit);
        return r;
    }
    if (v->kind == N_BINOP && v->flag == TK_PLUS && (lit = literal(s, v->b, 0)) != NULL) {
        const struct reg_node *l = reg_scan_strip(v->a);
        if (reg_scan_is_root_ref(l)) {
            r = normalise("", lit);
        } else if (l->kind == N_PATH) {
            char *base = reg_scan_resolve(s, l);
            if (base != NULL)
                r = normalise(base, lit);
            free(base);
        }
        free(lit);
        return r;
    }
    return NULL;
}

/* is_input_ref: inputs.X (X not self), the root of another flake input. */
static bool
is_input_ref(const struct reg_node *n)
{
    size_t len;
    const char *t;

    n = reg_scan_strip(n);
    if (n->kind != N_SELECT || n->c != NULL || reg_scan_strip(n->a)->kind != N_VAR ||
        n->b->items[0]->kind != N_ATTR_ID)
        return false;
    t = reg_tok_text(n->file, reg_scan_strip(n->a)->tok, &len);
    if (len != 6 || memcmp(t, "inputs", 6) != 0)
        return false;
    t = reg_tok_text(n->file, n->b->items[0]->tok, &len);
    return !(len == 4 && memcmp(t, "self", 4) == 0);
}

static bool
from_input(const struct reg_node *v)
{
    v = reg_scan_strip(v);
    if (v->kind == N_STR && v->nitems >= 1 && v->items[0]->kind == N_INTERP)
        return is_input_ref(v->items[0]->a);
    return v->kind == N_BINOP && v->flag == TK_PLUS && is_input_ref(v->a);
}

static void
record(struct reg_scan *s, const char *secret, const struct reg_node *v)
{
    struct reg_host *h = s->h;
    char *file = reg_scan_resolve(s, v);
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
        x->from_input = from_input(v);
        h->nsecrets++;
    } else {
        struct reg_host_unresolved *u = realloc(h->unresolved, (h->nunresolved + 1) * sizeof(*u));
        if (u == NULL)
            goto oom;
        h->unresolved = u;
        u = &h->unresolved[h->nunresolved];
        if ((u->secret = strdup(secret)) == NULL || (u->text = reg_scan_node_text(v)) == NULL) {
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
check(struct reg_scan *s, char **p, size_t n, const struct reg_node *v)
{
    size_t i;

    if (s->flake) {
        reg_scan_flake_binding(s, p, n, v);
        return;
    }
    if (s->g != NULL && n == 1 && strcmp(p[0], "imports") == 0)
        reg_scan_imports(s, v);
    for (i = 0; i + 1 < n; i++) {
        if (strcmp(p[i], "age") != 0 || strcmp(p[i + 1], "secrets") != 0)
            continue;
        if (n == i + 4 && strcmp(p[i + 3], "file") == 0)
            record(s, p[i + 2], v);
        return;
    }
}

/* bind_named_is: binding b's attribute path starts with the plain name `name`. */
static bool
bind_named_is(const struct reg_node *b, const char *name)
{
    const struct reg_node *a = b->a->items[0];
    size_t len;
    const char *t;

    if (a->kind != N_ATTR_ID)
        return false;
    t = reg_tok_text(a->file, a->tok, &len);
    return len == strlen(name) && memcmp(t, name, len) == 0;
}

/* bind_named: set's binding whose attribute path starts with the plain name `name`, or NULL;
 * *whole set when that name is the whole path. */
static const struct reg_node *
bind_named(const struct reg_node *set, const char *name, bool *whole)
{
    for (size_t i = 0; i < set->nitems; i++) {
        const struct reg_node *b = set->items[i];
        if (b->kind != N_BIND || b->a->nitems == 0 || !bind_named_is(b, name))
            continue;
        if (whole != NULL)
            *whole = b->a->nitems == 1;
        return b;
    }
    return NULL;
}

/* pair_name: the secret a `{ name = N; value = ...; }` set under age.secrets defines (the
 * shape builtins.listToAttrs and lib.nameValuePair take): N's text when it is a plain string,
 * else "${N}" as written (malloc'd). */
static char *
pair_name(const struct reg_node *n)
{
    char *t, *out;

    if (n->kind == N_STR && n->nitems == 1 && n->items[0]->kind == N_STRLIT)
        return elem_name(n);
    if ((t = reg_scan_node_text(n)) == NULL)
        return NULL;
    if ((out = malloc(strlen(t) + 4)) != NULL)
        sprintf(out, "${%s}", t);
    free(t);
    return out;
}

/* walk_bind: binding b of a set reached by path p[0..np): checked and walked with the path
 * p + its attribute path from element `from` on. */
static void
walk_bind(struct reg_scan *s, const struct reg_node *b, char **p, size_t np, size_t from)
{
    char *full[MAX_PATH_ELEMS];
    size_t nfull = np, k;

    if (np > 0)
        memcpy(full, p, np * sizeof(*p));
    for (k = from; k < b->a->nitems && nfull < MAX_PATH_ELEMS; k++) {
        if ((full[nfull] = elem_name(b->a->items[k])) == NULL) {
            s->rc = M3_ENOMEM;
            break;
        }
        nfull++;
    }
    if (s->rc == 0) {
        check(s, full, nfull, b->b);
        reg_scan_walk(s, b->b, full, nfull);
    }
    for (k = np; k < nfull; k++)
        free(full[k]);
}

/* walk_pair: a name/value set met where age.secrets' attributes are computed
 * (`age.secrets = builtins.listToAttrs (map (n: { name = n; value.file = ...; }) names)`):
 * its value's bindings are those of the secret it names, not of a secret called "value".
 * False when set has not that shape. */
static bool
walk_pair(struct reg_scan *s, const struct reg_node *set, char **p, size_t np)
{
    const struct reg_node *nb, *vb;
    bool whole = false;
    char *pre[MAX_PATH_ELEMS];

    if (np < 2 || np + 1 >= MAX_PATH_ELEMS || strcmp(p[np - 2], "age") != 0 ||
        strcmp(p[np - 1], "secrets") != 0 || (nb = bind_named(set, "name", &whole)) == NULL ||
        !whole || bind_named(set, "value", NULL) == NULL)
        return false;
    memcpy(pre, p, np * sizeof(*p));
    if ((pre[np] = pair_name(nb->b)) == NULL) {
        s->rc = M3_ENOMEM;
        return true;
    }
    /* `value = { file = ...; }` or `value.file = ...;` (several value.X bindings too) */
    for (size_t i = 0; i < set->nitems && s->rc == 0; i++)
        if ((vb = set->items[i]) != nb && vb->kind == N_BIND && vb->a->nitems > 0 &&
            bind_named_is(vb, "value"))
            walk_bind(s, vb, pre, np + 1, 1);
    free(pre[np]);
    return true;
}

static void
walk_set(struct reg_scan *s, const struct reg_node *set, char **p, size_t np)
{
    if (!s->flake && walk_pair(s, set, p, np))
        return;
    for (size_t i = 0; i < set->nitems && s->rc == 0; i++)
        if (set->items[i]->kind == N_BIND)
            walk_bind(s, set->items[i], p, np, 0);
}

static void
add_param(struct reg_scan *s, const struct reg_file *f, uint32_t tok)
{
    if (s->nparams < MAX_PARAMS) {
        s->params[s->nparams].s = reg_tok_text(f, tok, &s->params[s->nparams].len);
        s->nparams++;
    }
}

/* walk_lambda: flake.nix: a lambda's names may be a helper's host name (`mkHost = name:`). */
static void
walk_lambda(struct reg_scan *s, const struct reg_node *n, char **p, size_t np)
{
    size_t saved = s->nparams;

    s->lambdas++;
    if (s->lambdas > 1) {
        if (reg_lambda_named(n))
            add_param(s, n->file, n->tok);
        for (size_t i = 0; n->a != NULL && i < n->a->nitems; i++)
            if (n->a->items[i]->kind == N_FORMAL)
                add_param(s, n->file, n->a->items[i]->tok);
    }
    reg_scan_walk(s, n->b, p, np);
    s->nparams = saved;
    s->lambdas--;
}

void
reg_scan_walk(struct reg_scan *s, const struct reg_node *n, char **p, size_t np)
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
        if (s->flake)
            walk_set(s, n, p, np); /* let mkHost = name: ...; in */
        reg_scan_walk(s, n->a, p, np);
        return;
    case N_LAMBDA:
        if (s->flake) {
            walk_lambda(s, n, p, np);
            return;
        }
        break;
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
            reg_scan_walk(s, fixed[i], p, np);
    for (i = 0; i < reg_node_nitems(n); i++)
        reg_scan_walk(s, n->items[i], p, np);
}

int
reg_scan_module(const struct reg_file *f, const char *module_rel, struct reg_host *h,
                struct m3_diag *d)
{
    struct reg_scan s = {.f = f, .module_rel = module_rel, .span_name = f->name, .h = h};

    reg_scan_walk(&s, f->root, NULL, 0);
    if (s.rc != 0)
        return m3_diag_set(d, s.rc, "out of memory");
    return 0;
}
