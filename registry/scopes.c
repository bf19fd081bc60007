/* scopes.c: what makes a scope: attribute sets (plain and rec), lets, and the call of a
 * function, which binds its argument or its formals. Each gathers its definitions (split
 * attribute paths such as `a.b = 1; a.c = 2;`, inherits, dynamic names), sorts them by
 * name and builds one set of thunks, so that a value is evaluated only when read.
 *
 * It is apart from eval.c because building a scope is its own set of rules, those of Nix
 * 2.8: split paths merge into one set, a name defined twice is an error, inherited names
 * in rec sets and lets come from the enclosing scope, and a name a function does not take
 * is refused unless it has `...`. Variables are looked up in eval.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/evaluator.h"

/* ---- attribute sets ---- */

struct def {
    const char **names; /* attribute path, evaluated */
    size_t *lens;
    size_t nnames;
    const struct reg_node **pos;    /* node naming each element */
    const struct reg_node *value;   /* value expression (N_BIND), or NULL */
    const struct reg_node *inherit; /* N_INHERIT, with name = names[last] */
    const struct reg_node *attr;    /* the inherited attribute node */
    struct reg_val *from;           /* inherit (e) */
    size_t seq;
};

struct defs {
    struct def *v;
    size_t n, cap;
    size_t hint; /* expected count, for the first allocation */
};

static struct def *
def_add(struct reg_ctx *c, struct defs *ds)
{
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : ds->hint ? ds->hint : 2;
        struct def *p = reg_alloc_raw(c, cap * sizeof(*p)); /* def_add zeroes each */
        if (ds->n)
            memcpy(p, ds->v, ds->n * sizeof(*p));
        ds->v = p;
        ds->cap = cap;
    }
    memset(&ds->v[ds->n], 0, sizeof(ds->v[0]));
    ds->v[ds->n].seq = ds->n;
    return &ds->v[ds->n++];
}

/* reg_attr_name: the name an attribute-path element stands for; NULL for a dynamic null. */
const char *
reg_attr_name(struct reg_ctx *c, const struct reg_node *a, struct reg_env *env, size_t *len)
{
    struct reg_val *v;
    char *s;

    if (a->kind == N_ATTR_ID) {
        const char *t = reg_tok_text(a->file, a->tok, len);
        return reg_arena_strndup(c->arena, t, *len);
    }
    if (a->kind == N_STR && a->nitems == 1 && a->items[0]->kind == N_STRLIT) {
        /* "secrets/wifi.age": the literal itself, decoded, without a value */
        size_t n;
        const char *t = reg_tok_text(a->file, a->items[0]->tok, &n);
        s = reg_alloc_raw(c, n + 1);
        *len = reg_decode_lit(c, a->items[0], t, n, 0, s);
        s[*len] = '\0';
        return s;
    }
    v = a->kind == N_INTERP ? reg_eval(c, a->a, env) : reg_eval(c, a, env);
    reg_force(c, v, a);
    if (v->t == V_NULL && a->kind == N_INTERP)
        return NULL;
    if (v->t != V_STR)
        reg_throw(c, M3_EEVAL, a, "value is %s while a string was expected", reg_type_name(v));
    s = (char *)v->str.s;
    *len = v->str.n;
    return s;
}

/* literal: whether a string node is one Nix's parser makes a plain string of ("...", or an
 * indented string of one literal run). */
static int
literal(const struct reg_node *s)
{
    size_t i;

    if (s->kind == N_IND_STR)
        return s->nitems == 1 && s->items[0]->kind == N_STRLIT;
    if (s->kind != N_STR)
        return 0;
    for (i = 0; i < s->nitems; i++)
        if (s->items[i]->kind != N_STRLIT)
            return 0;
    return 1;
}

int
reg_attr_is_static(const struct reg_node *a)
{
    if (a->kind == N_ATTR_ID)
        return 1;
    if (a->kind == N_INTERP)
        a = reg_unparen(a->a);
    return literal(a);
}

const char *
reg_attr_static(struct reg_ctx *c, const struct reg_node *a, size_t *len)
{
    if (a->kind == N_ATTR_ID)
        return reg_tok_text(a->file, a->tok, len);
    if (a->kind == N_STR && a->nitems == 1 && a->items[0]->kind == N_STRLIT) {
        /* "secrets/wifi.age": the token itself when it has nothing to decode (no escape,
         * no carriage return) */
        const char *t = reg_tok_text(a->file, a->items[0]->tok, len);
        if (memchr(t, '\\', *len) == NULL && memchr(t, '\r', *len) == NULL &&
            memchr(t, '\0', *len) == NULL)
            return t;
    }
    if (!reg_attr_is_static(a))
        return NULL;
    return reg_attr_name(c, a->kind == N_INTERP ? reg_unparen(a->a) : a, NULL, len);
}

static void
collect_binds(struct reg_ctx *c, struct defs *ds, const struct reg_node *set, struct reg_env *env,
              struct reg_env *inner, const char **prefix, size_t *plens,
              const struct reg_node **ppos, size_t np)
{
    size_t i, k;

    for (i = 0; i < set->nitems; i++) {
        const struct reg_node *b = set->items[i];
        if (b->kind == N_BIND) {
            const struct reg_node *path = b->a;
            size_t total = np + path->nitems, len;
            struct def *d;
            /* one allocation for the three arrays */
            char *mem = reg_alloc(c, total * (sizeof(char *) + sizeof(size_t) + sizeof(void *)));
            const char **names = (const char **)mem;
            size_t *lens = (size_t *)(mem + total * sizeof(char *));
            const struct reg_node **pos =
                (const struct reg_node **)(mem + total * (sizeof(char *) + sizeof(size_t)));
            int skip = 0;
            for (k = 0; k < np; k++) {
                names[k] = prefix[k];
                lens[k] = plens[k];
                pos[k] = ppos[k];
            }
            for (k = 0; k < path->nitems; k++) {
                names[np + k] = reg_attr_name(c, path->items[k], inner, &len);
                if (names[np + k] == NULL) {
                    skip = 1;
                    break;
                }
                lens[np + k] = len;
                pos[np + k] = path->items[k];
            }
            if (skip)
                continue;
            d = def_add(c, ds);
            d->names = names;
            d->lens = lens;
            d->pos = pos;
            d->nnames = total;
            d->value = b->b;
        } else {
            struct reg_val *from = NULL;
            if (b->a != NULL)
                from = reg_thunk(c, b->a, inner);
            for (k = 0; k < b->nitems; k++) {
                struct def *d;
                size_t len;
                const char *name = reg_attr_name(c, b->items[k], inner, &len);
                d = def_add(c, ds);
                d->names = reg_alloc(c, (np + 1) * sizeof(*d->names));
                d->lens = reg_alloc(c, (np + 1) * sizeof(*d->lens));
                d->pos = reg_alloc(c, (np + 1) * sizeof(*d->pos));
                if (np > 0) {
                    memcpy(d->names, prefix, np * sizeof(*prefix));
                    memcpy(d->lens, plens, np * sizeof(*plens));
                    memcpy(d->pos, ppos, np * sizeof(*ppos));
                }
                d->names[np] = name;
                d->lens[np] = len;
                d->pos[np] = b->items[k];
                d->nnames = np + 1;
                d->inherit = b;
                d->attr = b->items[k];
                d->from = from;
            }
        }
    }
    (void)env;
}

static int
def_cmp(const void *x, const void *y, void *depth)
{
    size_t sort_depth = *(size_t *)depth;
    const struct def *a = x, *b = y;
    int r = reg_name_cmp(a->names[sort_depth], a->lens[sort_depth], b->names[sort_depth],
                         b->lens[sort_depth]);

    if (r != 0)
        return r;
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* sort_defs: ds[0..n) in def_cmp order at depth k (a total order: seq breaks ties). A merge
 * sort through arena scratch rather than qsort_r: glibc's qsort asks the kernel for the
 * machine's memory size (sysinfo) and mallocs a buffer on every large call, and its code is
 * pages that a one-shot evaluation would otherwise never touch. */
static void
merge_defs(struct def *ds, struct def *tmp, size_t n, size_t *k)
{
    size_t i, j, h = n / 2, o = 0;

    if (n <= 8) {
        for (i = 1; i < n; i++) {
            struct def x = ds[i];
            for (j = i; j > 0 && def_cmp(&ds[j - 1], &x, k) > 0; j--)
                ds[j] = ds[j - 1];
            ds[j] = x;
        }
        return;
    }
    merge_defs(ds, tmp, h, k);
    merge_defs(ds + h, tmp, n - h, k);
    if (def_cmp(&ds[h - 1], &ds[h], k) < 0)
        return; /* already in order */
    for (i = 0, j = h; i < h && j < n;)
        tmp[o++] = def_cmp(&ds[i], &ds[j], k) <= 0 ? ds[i++] : ds[j++];
    while (i < h)
        tmp[o++] = ds[i++];
    memcpy(ds, tmp, o * sizeof(*ds)); /* the rest, ds[j..n), is in place */
}

static void
sort_defs(struct reg_ctx *c, struct def *ds, size_t n, size_t k)
{
    if (n > 1)
        merge_defs(ds, reg_alloc_raw(c, n * sizeof(*ds)), n, &k);
}

static void
dup_error(struct reg_ctx *c, const struct def *d, size_t k, const struct def *first)
{
    unsigned line, col;
    const struct reg_node *p = first->pos[k];
    char path[200];
    size_t i, o = 0;

    for (i = 0; i <= k && o < sizeof(path) - 1; i++)
        o += (size_t)snprintf(path + o, sizeof(path) - o, "%s%.*s", i ? "." : "", (int)d->lens[i],
                              d->names[i]);
    reg_linecol(p->file, reg_node_off(p), &line, &col);
    reg_throw(c, M3_EEVAL, d->pos[k], "attribute '%s' already defined at %s:%u:%u", path,
              p->file->name, line, col);
}

/* dynamic_dup: the n > 1 definitions ds[0..n) of one name at depth k, in file order, may
 * not give it with ${ }: Nix adds such names one by one once the set's other names are in,
 * and a name that is there already is an error, never merged. */
static void
dynamic_dup(struct reg_ctx *c, const struct def *ds, size_t n, size_t k)
{
    const struct def *first = NULL, *dyn = NULL;
    size_t m;
    unsigned line, col;

    for (m = 0; m < n && first == NULL; m++)
        if (reg_attr_is_static(ds[m].pos[k]))
            first = &ds[m];
    for (m = 0; m < n && dyn == NULL; m++)
        if (!reg_attr_is_static(ds[m].pos[k])) {
            if (first == NULL)
                first = &ds[m]; /* no static one: the second dynamic one is the error */
            else
                dyn = &ds[m];
        }
    if (dyn == NULL)
        return;
    reg_linecol(first->pos[k]->file, reg_node_off(first->pos[k]), &line, &col);
    reg_throw(c, M3_EEVAL, dyn->pos[k], "dynamic attribute '%.*s' already defined at %s:%u:%u",
              (int)(dyn->lens[k] > 150 ? 150 : dyn->lens[k]), dyn->names[k],
              first->pos[k]->file->name, line, col);
}

/* build: the set made of ds[0..n) (all sharing names[0..k)), values in env `inner`,
 * inherited names from `outer`. */
static struct reg_set *
build(struct reg_ctx *c, struct def *ds, size_t n, size_t k, struct reg_env *inner,
      struct reg_env *outer)
{
    size_t i, j, groups = 0, g;
    struct reg_set *s;

    for (i = 1; i < n && def_cmp(&ds[i - 1], &ds[i], &k) < 0; i++)
        ;
    if (i < n)
        sort_defs(c, ds, n, k);
    for (i = 0; i < n; i = j) {
        for (j = i + 1; j < n && reg_name_cmp(ds[i].names[k], ds[i].lens[k], ds[j].names[k],
                                              ds[j].lens[k]) == 0;
             j++)
            ;
        groups++;
    }
    s = reg_new_set(c, groups);
    for (i = 0, g = 0; i < n; i = j, g++) {
        struct reg_attr *a = &s->a[g];
        for (j = i + 1; j < n && reg_name_cmp(ds[i].names[k], ds[i].lens[k], ds[j].names[k],
                                              ds[j].lens[k]) == 0;
             j++)
            ;
        a->name = ds[i].names[k];
        a->len = ds[i].lens[k];
        a->pos = ds[i].pos[k];
        if (j == i + 1 && ds[i].nnames == k + 1) {
            struct def *d = &ds[i];
            if (d->value != NULL) {
                a->v = reg_thunk(c, d->value, inner);
            } else if (d->from != NULL) {
                a->v = reg_new(c, V_THUNK);
                a->v->th.node = d->attr;
                a->v->th.env = inner;
                a->v->th.from = d->from;
                a->v->th.name = d->names[k];
                a->v->th.len = d->lens[k];
            } else {
                a->v = reg_lookup(c, outer, d->names[k], d->lens[k], d->attr, 1);
                if (a->v == NULL) {
                    a->v = reg_new(c, V_THUNK);
                    a->v->th.node = d->attr;
                    a->v->th.env = outer;
                    a->v->th.name = d->names[k];
                    a->v->th.len = d->lens[k];
                }
            }
            continue;
        }
        if (j == i + 1) {
            /* one definition of a longer path ("a.age".publicKeys = ...): its own set */
            struct reg_val *v = reg_new(c, V_SET);
            v->set = build(c, &ds[i], 1, k + 1, inner, outer);
            v->src = ds[i].pos[k];
            a->v = v;
            continue;
        }
        /* several definitions: all must be nested paths or set literals, merged (in their
         * order in the file, ds[i..j) being sorted by it within a name) as Nix's parser
         * merges them: into the first one, so that the whole set is recursive when that
         * one is a `rec { }`, and not otherwise. Names given by ${ } never merge. */
        {
            struct defs sub = {0};
            size_t m;
            const struct def *first = &ds[i];
            const struct reg_node *lit;
            struct reg_env *vin = inner;
            struct reg_val *v;
            dynamic_dup(c, ds + i, j - i, k);
            lit = first->nnames == k + 1 && first->value != NULL ? reg_unparen(first->value) : NULL;
            if (lit != NULL && lit->kind == N_SET && lit->flag) {
                vin = reg_alloc(c, sizeof(*vin));
                vin->up = inner;
                vin->building = 1;
            }
            for (m = i; m < j; m++) {
                struct def *d = &ds[m];
                if (d->nnames > k + 1) {
                    struct def *nd = def_add(c, &sub);
                    size_t seq = nd->seq;
                    *nd = *d;
                    nd->seq = seq;
                } else if (d->value != NULL && (lit = reg_unparen(d->value))->kind == N_SET) {
                    collect_binds(c, &sub, lit, inner, vin, d->names, d->lens, d->pos, k + 1);
                } else {
                    dup_error(c, m == i ? &ds[i + 1] : d, k, first);
                }
            }
            v = reg_new(c, V_SET);
            /* values in the merged set's scope; `inherit x;` from the scope around it */
            v->set = build(c, sub.v, sub.n, k + 1, vin, inner);
            v->src = first->pos[k];
            for (m = i; m < j; m++) /* the literals' names are checked: built with the others */
                if (ds[m].nnames == k + 1 && ds[m].value != NULL)
                    reg_built(c, reg_unparen(ds[m].value));
            if (vin != inner) {
                vin->vars = v->set;
                vin->building = 0;
            }
            a->v = v;
        }
    }
    return s;
}

void
reg_built(struct reg_ctx *c, const struct reg_node *n)
{
    struct reg_loaded *l = reg_loaded_of(c, n->file);

    if (l->built == NULL)
        l->built = reg_alloc(c, l->f->nbinders / 8 + 1);
    l->built[n->tok / 8] |= (unsigned char)(1u << (n->tok % 8));
}

struct reg_val *
reg_eval_set(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env, int rec,
             struct reg_env **envout)
{
    struct defs ds = {0};
    struct reg_env *inner = env;
    struct reg_val *v = reg_new(c, V_SET);

    if (rec) {
        inner = reg_alloc(c, sizeof(*inner));
        inner->up = env;
        inner->building = 1;
    }
    ds.hint = n->nitems;
    collect_binds(c, &ds, n, env, inner, NULL, NULL, NULL, 0);
    v->set = build(c, ds.v, ds.n, 0, inner, env);
    v->src = n;
    reg_built(c, n); /* built without an error: its names are as Nix's parser wants them */
    if (rec) {
        inner->vars = v->set;
        inner->building = 0;
    }
    if (envout != NULL)
        *envout = inner;
    return v;
}

/* ---- application ---- */

void
reg_apply(struct reg_ctx *c, struct reg_val *f, struct reg_val *arg, struct reg_val *out,
          const struct reg_node *at)
{
    const struct reg_node *lam, *fm;
    struct reg_env *env;
    struct reg_val *r;
    size_t i, n = 0;

    reg_force(c, f, at);
    if (f->t == V_PRIM) {
        struct reg_val nf = *f;
        nf.prim.args[nf.prim.nargs++] = arg;
        if (nf.prim.nargs == nf.prim.p->arity) {
            c->cur_prim = nf.prim.p;
            nf.prim.p->fn(c, nf.prim.args, out, at);
            return;
        }
        *out = nf;
        return;
    }
    if (f->t != V_LAMBDA)
        reg_throw(c, M3_EEVAL, at, "attempt to call something which is not a function but %s",
                  reg_type_name(f));
    lam = f->th.node;
    env = reg_alloc(c, sizeof(*env));
    env->up = f->th.env;
    if (lam->a == NULL) {
        size_t len;
        env->vars = reg_new_set(c, 1);
        env->vars->a[0].name = reg_tok_text(lam->file, lam->tok, &len);
        env->vars->a[0].name = reg_arena_strndup(c->arena, env->vars->a[0].name, len);
        env->vars->a[0].len = len;
        env->vars->a[0].v = arg;
    } else {
        struct defs ds = {0};
        const struct reg_node *formals = lam->a;
        reg_force(c, arg, at);
        if (arg->t != V_SET)
            reg_throw(c, M3_EEVAL, at, "value is %s while a set was expected", reg_type_name(arg));
        if (!formals->flag) {
            for (i = 0; i < arg->set->n; i++) {
                int found = 0;
                for (size_t k = 0; k < formals->nitems && !found; k++) {
                    size_t len;
                    const char *nm = reg_tok_text(lam->file, formals->items[k]->tok, &len);
                    found = reg_name_cmp(nm, len, arg->set->a[i].name, arg->set->a[i].len) == 0;
                }
                if (!found)
                    reg_throw(c, M3_EEVAL, at, "function called with unexpected argument '%s'",
                              arg->set->a[i].name);
            }
        }
        env->building = 1;
        for (i = 0; i < formals->nitems; i++) {
            struct def *d = def_add(c, &ds);
            fm = formals->items[i];
            d->names = reg_alloc(c, sizeof(*d->names));
            d->lens = reg_alloc(c, sizeof(*d->lens));
            d->pos = reg_alloc(c, sizeof(*d->pos));
            d->names[0] = reg_tok_text(lam->file, fm->tok, &d->lens[0]);
            d->names[0] = reg_arena_strndup(c->arena, d->names[0], d->lens[0]);
            d->pos[0] = fm;
            d->nnames = 1;
            d->value = fm->a;
        }
        if (reg_lambda_named(lam)) { /* args@{ ... } or { ... }@args */
            struct def *d = def_add(c, &ds);
            d->names = reg_alloc(c, sizeof(*d->names));
            d->lens = reg_alloc(c, sizeof(*d->lens));
            d->pos = reg_alloc(c, sizeof(*d->pos));
            d->names[0] = reg_tok_text(lam->file, lam->tok, &d->lens[0]);
            d->names[0] = reg_arena_strndup(c->arena, d->names[0], d->lens[0]);
            d->pos[0] = lam;
            d->nnames = 1;
        }
        sort_defs(c, ds.v, ds.n, 0);
        env->vars = reg_new_set(c, ds.n);
        for (i = 0; i < ds.n; i++) {
            struct reg_attr *a = &env->vars->a[n++];
            const struct reg_attr *given = reg_set_get(arg->set, ds.v[i].names[0], ds.v[i].lens[0]);
            if (i > 0 && reg_name_cmp(ds.v[i].names[0], ds.v[i].lens[0], ds.v[i - 1].names[0],
                                      ds.v[i - 1].lens[0]) == 0)
                reg_throw(c, M3_EEVAL, ds.v[i].pos[0], "duplicate formal function argument '%s'",
                          ds.v[i].names[0]);
            a->name = ds.v[i].names[0];
            a->len = ds.v[i].lens[0];
            if (ds.v[i].pos[0] == lam)
                a->v = arg;
            else if (given != NULL)
                a->v = given->v;
            else if (ds.v[i].value != NULL)
                a->v = reg_thunk(c, ds.v[i].value, env);
            else
                reg_throw(c, M3_EEVAL, at, "function called without required argument '%s'",
                          a->name);
        }
        env->building = 0;
        reg_built(c, formals);
    }
    if (reg_too_deep(c))
        reg_throw(c, M3_EEVAL, at, "stack overflow (possible infinite recursion)");
    r = reg_eval(c, lam->b, env);
    c->depth--;
    *out = *r;
}
