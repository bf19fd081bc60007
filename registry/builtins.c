/* builtins.c: the builtins registries use, and named refusals for the impure ones. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/eval.h"

#define ARGS                                                                                       \
    struct reg_ctx *c, struct reg_val **args, struct reg_val *out, const struct reg_node *at

static struct reg_val *
force(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at)
{
    reg_force(c, v, at);
    return v;
}

static struct reg_val *
want(struct reg_ctx *c, struct reg_val *v, enum reg_vtype t, const struct reg_node *at)
{
    static const char *names[] = {
        [V_LIST] = "a list",    [V_SET] = "a set",      [V_STR] = "a string",
        [V_INT] = "an integer", [V_BOOL] = "a Boolean", [V_LAMBDA] = "a function"};

    reg_force(c, v, at);
    if (t == V_LAMBDA && v->t == V_PRIM)
        return v;
    if (v->t != t)
        reg_throw(c, M3_EEVAL, at, "value is %s while %s was expected", reg_type_name(v), names[t]);
    return v;
}

static struct reg_val **
newlist(struct reg_ctx *c, struct reg_val *out, size_t n)
{
    struct reg_val **items = reg_arena_alloc(c->arena, (n + 1) * sizeof(*items));

    if (items == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    out->t = V_LIST;
    out->src = NULL;
    out->list.v = items;
    out->list.n = n;
    return items;
}

static struct reg_val *
call(struct reg_ctx *c, struct reg_val *f, struct reg_val *x, const struct reg_node *at)
{
    struct reg_val *r = reg_new(c, V_NULL);

    reg_apply(c, f, x, r, at);
    return r;
}

/* lazy_call: the application f x, evaluated when forced (map, genList, mapAttrs). */
static struct reg_val *
lazy_call(struct reg_ctx *c, struct reg_val *f, struct reg_val *x, const struct reg_node *at)
{
    struct reg_val *t = reg_new(c, V_THUNK);

    t->th.node = at;
    t->th.from = f;
    t->th.arg = x;
    return t;
}

static void
b_map(ARGS)
{
    struct reg_val *l = want(c, args[1], V_LIST, at), **items;
    size_t i;

    items = newlist(c, out, l->list.n);
    for (i = 0; i < l->list.n; i++)
        items[i] = lazy_call(c, args[0], l->list.v[i], at);
}

static void
b_filter(ARGS)
{
    struct reg_val *l = want(c, args[1], V_LIST, at), **items, *r;
    size_t i, n = 0;

    items = newlist(c, out, l->list.n);
    for (i = 0; i < l->list.n; i++) {
        r = want(c, call(c, args[0], l->list.v[i], at), V_BOOL, at);
        if (r->b)
            items[n++] = l->list.v[i];
    }
    out->list.n = n;
}

static void
anyall(ARGS, int any)
{
    struct reg_val *l = want(c, args[1], V_LIST, at), *r;
    size_t i;

    out->t = V_BOOL;
    out->b = !any;
    for (i = 0; i < l->list.n; i++) {
        r = want(c, call(c, args[0], l->list.v[i], at), V_BOOL, at);
        if (r->b == any) {
            out->b = any;
            return;
        }
    }
}

static void
b_any(ARGS)
{
    anyall(c, args, out, at, 1);
}

static void
b_all(ARGS)
{
    anyall(c, args, out, at, 0);
}

static void
b_elem(ARGS)
{
    struct reg_val *l = want(c, args[1], V_LIST, at);
    size_t i;

    out->t = V_BOOL;
    out->b = 0;
    for (i = 0; i < l->list.n && !out->b; i++)
        out->b = reg_val_eq(c, args[0], l->list.v[i], at);
}

static void
concat(struct reg_ctx *c, struct reg_val *ls, struct reg_val *out, const struct reg_node *at)
{
    size_t i, n = 0, o = 0;
    struct reg_val **items;

    for (i = 0; i < ls->list.n; i++)
        n += want(c, ls->list.v[i], V_LIST, at)->list.n;
    items = newlist(c, out, n);
    for (i = 0; i < ls->list.n; i++) {
        memcpy(items + o, ls->list.v[i]->list.v, ls->list.v[i]->list.n * sizeof(*items));
        o += ls->list.v[i]->list.n;
    }
}

static void
b_concatLists(ARGS)
{
    concat(c, want(c, args[0], V_LIST, at), out, at);
}

static void
b_concatMap(ARGS)
{
    struct reg_val *l = want(c, args[1], V_LIST, at), tmp;
    size_t i;

    newlist(c, &tmp, l->list.n);
    for (i = 0; i < l->list.n; i++)
        tmp.list.v[i] = call(c, args[0], l->list.v[i], at);
    concat(c, &tmp, out, at);
}

static void
b_length(ARGS)
{
    struct reg_val *l = want(c, args[0], V_LIST, at);

    out->t = V_INT;
    out->i = (long long)l->list.n;
}

static void
b_head(ARGS)
{
    struct reg_val *l = want(c, args[0], V_LIST, at);

    if (l->list.n == 0)
        reg_throw(c, M3_EEVAL, at, "list index 0 is out of bounds");
    *out = *force(c, l->list.v[0], at);
}

static void
b_tail(ARGS)
{
    struct reg_val *l = want(c, args[0], V_LIST, at), **items;

    if (l->list.n == 0)
        reg_throw(c, M3_EEVAL, at, "'tail' called on an empty list");
    items = newlist(c, out, l->list.n - 1);
    memcpy(items, l->list.v + 1, (l->list.n - 1) * sizeof(*items));
}

static void
b_elemAt(ARGS)
{
    struct reg_val *l = want(c, args[0], V_LIST, at), *i = want(c, args[1], V_INT, at);

    if (i->i < 0 || (size_t)i->i >= l->list.n)
        reg_throw(c, M3_EEVAL, at, "list index %lld is out of bounds", i->i);
    *out = *force(c, l->list.v[i->i], at);
}

static void
b_attrNames(ARGS)
{
    struct reg_val *s = want(c, args[0], V_SET, at), **items;
    size_t i;

    items = newlist(c, out, s->set->n);
    for (i = 0; i < s->set->n; i++)
        items[i] = reg_new_str(c, s->set->a[i].name, s->set->a[i].len);
}

static void
b_attrValues(ARGS)
{
    struct reg_val *s = want(c, args[0], V_SET, at), **items;
    size_t i;

    items = newlist(c, out, s->set->n);
    for (i = 0; i < s->set->n; i++)
        items[i] = s->set->a[i].v;
}

static void
b_hasAttr(ARGS)
{
    struct reg_val *n = want(c, args[0], V_STR, at), *s = want(c, args[1], V_SET, at);

    out->t = V_BOOL;
    out->b = reg_set_get(s->set, n->str.s, n->str.n) != NULL;
}

static void
b_getAttr(ARGS)
{
    struct reg_val *n = want(c, args[0], V_STR, at), *s = want(c, args[1], V_SET, at);
    const struct reg_attr *a = reg_set_get(s->set, n->str.s, n->str.n);

    if (a == NULL)
        reg_throw(c, M3_EEVAL, at, "attribute '%s' missing", n->str.s);
    *out = *force(c, a->v, at);
}

static int
attr_cmp(const void *x, const void *y)
{
    const struct reg_attr *a = x, *b = y;

    return reg_name_cmp(a->name, a->len, b->name, b->len);
}

/* set_from: sorts attrs[0..n) keeping the first of equal names (listToAttrs' rule). */
static void
set_from(struct reg_ctx *c, struct reg_attr *attrs, size_t n, struct reg_val *out)
{
    struct reg_set *s = reg_new_set(c, n);
    size_t i, o = 0;

    for (i = 0; i < n; i++)
        attrs[i].pos = (const struct reg_node *)(uintptr_t)i; /* stable order key */
    qsort(attrs, n, sizeof(*attrs), attr_cmp);
    for (i = 0; i < n; i++) {
        if (o > 0 && attr_cmp(&s->a[o - 1], &attrs[i]) == 0) {
            if ((uintptr_t)attrs[i].pos < (uintptr_t)s->a[o - 1].pos)
                s->a[o - 1] = attrs[i];
            continue;
        }
        s->a[o++] = attrs[i];
    }
    for (i = 0; i < o; i++)
        s->a[i].pos = NULL;
    s->n = o;
    out->t = V_SET;
    out->src = NULL;
    out->set = s;
}

static void
b_listToAttrs(ARGS)
{
    struct reg_val *l = want(c, args[0], V_LIST, at);
    struct reg_attr *attrs = reg_arena_alloc(c->arena, (l->list.n + 1) * sizeof(*attrs));
    size_t i;

    for (i = 0; i < l->list.n; i++) {
        struct reg_val *e = want(c, l->list.v[i], V_SET, at), *n;
        const struct reg_attr *na = reg_set_get(e->set, "name", 4);
        const struct reg_attr *va = reg_set_get(e->set, "value", 5);
        if (na == NULL)
            reg_throw(c, M3_EEVAL, at, "attribute 'name' missing");
        if (va == NULL)
            reg_throw(c, M3_EEVAL, at, "attribute 'value' missing");
        n = want(c, na->v, V_STR, at);
        attrs[i].name = n->str.s;
        attrs[i].len = n->str.n;
        attrs[i].v = va->v;
    }
    set_from(c, attrs, l->list.n, out);
}

static void
b_toString(ARGS)
{
    char *s;
    size_t n;

    reg_coerce_str(c, args[0], at, 1, &s, &n);
    *out = *reg_new_str(c, s, n);
}

static const char *
path_arg(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at)
{
    reg_force(c, v, at);
    if ((v->t == V_PATH || v->t == V_STR) && v->str.n > 0 && v->str.s[0] == '/')
        return v->str.s;
    if (v->t == V_STR)
        reg_throw(c, M3_EEVAL, at, "the string '%s' is not an absolute path", v->str.s);
    reg_throw(c, M3_EEVAL, at, "value is %s while a path was expected", reg_type_name(v));
}

static void
b_readFile(ARGS)
{
    char *buf;
    size_t len;

    reg_read_path(c, path_arg(c, args[0], at), at, &buf, &len);
    if (memchr(buf, '\0', len) != NULL)
        reg_throw(c, M3_EEVAL, at, "the contents of '%s' contain a NUL byte", args[0]->str.s);
    out->t = V_STR;
    out->plain = 0;
    out->src = at;
    out->str.s = buf;
    out->str.n = len;
}

static void
b_fromJSON(ARGS)
{
    struct reg_val *s = want(c, args[0], V_STR, at);

    reg_from_json(c, s->str.s, s->str.n, out, at);
}

static void
b_pathExists(ARGS)
{
    reg_b_pathExists(c, path_arg(c, args[0], at), out, at);
}

static void
b_readDir(ARGS)
{
    reg_b_readDir(c, path_arg(c, args[0], at), out, at);
}

static void
b_readFileType(ARGS)
{
    reg_b_readFileType(c, path_arg(c, args[0], at), out, at);
}

static void
b_hashFile(ARGS)
{
    struct reg_val *algo = want(c, args[0], V_STR, at);

    reg_b_hashFile(c, algo->str.s, path_arg(c, args[1], at), out, at);
}

static void
b_import(ARGS)
{
    *out = *force(c, reg_import(c, path_arg(c, args[0], at), at), at);
}

static void
b_throw(ARGS)
{
    struct reg_val *m = want(c, args[0], V_STR, at);

    reg_throw(c, M3_EEVAL, at, "%s", m->str.s);
}

static void
b_abort(ARGS)
{
    struct reg_val *m = want(c, args[0], V_STR, at);

    reg_throw(c, M3_EEVAL, at, "evaluation aborted with the following error message: '%s'",
              m->str.s);
}

static void
b_isNull(ARGS)
{
    out->t = V_BOOL;
    out->b = force(c, args[0], at)->t == V_NULL;
}

static void
b_typeOf(ARGS)
{
    static const char *names[] = {
        [V_NULL] = "null",     [V_BOOL] = "bool",  [V_INT] = "int",   [V_FLOAT] = "float",
        [V_STR] = "string",    [V_PATH] = "path",  [V_LIST] = "list", [V_SET] = "set",
        [V_LAMBDA] = "lambda", [V_PRIM] = "lambda"};
    const char *n = names[force(c, args[0], at)->t];

    *out = *reg_new_str(c, n, strlen(n));
}

#define IS(fname, cond)                                                                            \
    static void fname(ARGS)                                                                        \
    {                                                                                              \
        struct reg_val *v = force(c, args[0], at);                                                 \
        out->t = V_BOOL;                                                                           \
        out->b = (cond);                                                                           \
    }
IS(b_isString, v->t == V_STR)
IS(b_isList, v->t == V_LIST)
IS(b_isAttrs, v->t == V_SET)
IS(b_isBool, v->t == V_BOOL)
IS(b_isInt, v->t == V_INT)
IS(b_isFloat, v->t == V_FLOAT)
IS(b_isPath, v->t == V_PATH)
IS(b_isFunction, v->t == V_LAMBDA || v->t == V_PRIM)

static void
b_removeAttrs(ARGS)
{
    struct reg_val *s = want(c, args[0], V_SET, at), *l = want(c, args[1], V_LIST, at);
    struct reg_set *r = reg_new_set(c, s->set->n);
    size_t i, k, o = 0;

    for (i = 0; i < s->set->n; i++) {
        int drop = 0;
        for (k = 0; k < l->list.n && !drop; k++) {
            struct reg_val *n = want(c, l->list.v[k], V_STR, at);
            drop = reg_name_cmp(n->str.s, n->str.n, s->set->a[i].name, s->set->a[i].len) == 0;
        }
        if (!drop)
            r->a[o++] = s->set->a[i];
    }
    r->n = o;
    out->t = V_SET;
    out->set = r;
}

static void
b_mapAttrs(ARGS)
{
    struct reg_val *s = want(c, args[1], V_SET, at);
    struct reg_set *r = reg_new_set(c, s->set->n);
    size_t i;

    for (i = 0; i < s->set->n; i++) {
        struct reg_val *partial = reg_new(c, V_NULL);
        r->a[i] = s->set->a[i];
        reg_apply(c, args[0], reg_new_str(c, s->set->a[i].name, s->set->a[i].len), partial, at);
        r->a[i].v = lazy_call(c, partial, s->set->a[i].v, at);
    }
    out->t = V_SET;
    out->set = r;
}

static void
b_catAttrs(ARGS)
{
    struct reg_val *n = want(c, args[0], V_STR, at), *l = want(c, args[1], V_LIST, at), **items;
    size_t i, o = 0;

    items = newlist(c, out, l->list.n);
    for (i = 0; i < l->list.n; i++) {
        const struct reg_attr *a =
            reg_set_get(want(c, l->list.v[i], V_SET, at)->set, n->str.s, n->str.n);
        if (a != NULL)
            items[o++] = a->v;
    }
    out->list.n = o;
}

static void
b_foldl(ARGS)
{
    struct reg_val *l = want(c, args[2], V_LIST, at), *acc = args[1];
    size_t i;

    for (i = 0; i < l->list.n; i++) {
        struct reg_val *partial = call(c, args[0], acc, at);
        acc = call(c, partial, l->list.v[i], at);
    }
    *out = *force(c, acc, at);
}

static void
b_concatStringsSep(ARGS)
{
    struct reg_val *sep = want(c, args[0], V_STR, at), *l = want(c, args[1], V_LIST, at);
    size_t i, n = 0, o = 0;
    char **parts = reg_arena_alloc(c->arena, (l->list.n + 1) * sizeof(*parts)), *r;
    size_t *lens = reg_arena_alloc(c->arena, (l->list.n + 1) * sizeof(*lens));

    for (i = 0; i < l->list.n; i++) {
        reg_coerce_str(c, l->list.v[i], at, 0, &parts[i], &lens[i]);
        n += lens[i] + (i ? sep->str.n : 0);
    }
    r = reg_arena_alloc(c->arena, n + 1);
    for (i = 0; i < l->list.n; i++) {
        if (i) {
            memcpy(r + o, sep->str.s, sep->str.n);
            o += sep->str.n;
        }
        memcpy(r + o, parts[i], lens[i]);
        o += lens[i];
    }
    out->t = V_STR;
    out->plain = 0;
    out->str.s = r;
    out->str.n = o;
}

static void
b_genList(ARGS)
{
    struct reg_val *n = want(c, args[1], V_INT, at), **items;
    long long i;

    if (n->i < 0)
        reg_throw(c, M3_EEVAL, at, "cannot create list of size %lld", n->i);
    items = newlist(c, out, (size_t)n->i);
    for (i = 0; i < n->i; i++) {
        struct reg_val *iv = reg_new(c, V_INT);
        iv->i = i;
        items[i] = lazy_call(c, args[0], iv, at);
    }
}

static void
b_stringLength(ARGS)
{
    struct reg_val *s = want(c, args[0], V_STR, at);

    out->t = V_INT;
    out->i = (long long)s->str.n;
}

static void
b_seq(ARGS)
{
    force(c, args[0], at);
    *out = *force(c, args[1], at);
}

static void
b_deepSeq(ARGS)
{
    reg_force_deep(c, args[0], at);
    *out = *force(c, args[1], at);
}

static void
b_trace(ARGS)
{
    force(c, args[0], at);
    *out = *force(c, args[1], at);
}

static void
b_baseNameOf(ARGS)
{
    char *s;
    size_t n, i;

    reg_coerce_str(c, args[0], at, 1, &s, &n);
    if (n > 0 && s[n - 1] == '/')
        n--;
    for (i = n; i > 0 && s[i - 1] != '/'; i--)
        ;
    *out = *reg_new_str(c, s + i, n - i);
}

/* b_substring: Nix 2.8 takes start and length as C ints (the integers truncated to 32 bits,
 * as in `builtins.substring 4294967297 1 "abc"` == "b"), coerces the string before it
 * checks the start, gives "" from a start at or past the end, and reads a negative length
 * as "to the end". */
static void
b_substring(ARGS)
{
    int32_t start = (int32_t)(uint32_t)want(c, args[0], V_INT, at)->i;
    int32_t len = (int32_t)(uint32_t)want(c, args[1], V_INT, at)->i;
    char *s;
    size_t n, k;

    reg_coerce_str(c, args[2], at, 0, &s, &n);
    if (start < 0)
        reg_throw(c, M3_EEVAL, at, "negative start position in 'substring'");
    if ((size_t)start >= n) {
        *out = *reg_new_str(c, "", 0);
        return;
    }
    k = n - (size_t)start;
    if (len >= 0 && (size_t)len < k)
        k = (size_t)len;
    *out = *reg_new_str(c, s + start, k);
}

/* replace: one pass of replaceStrings over s (n bytes) with the nf pairs from/to, into r
 * when it is non-NULL; the length of the result. At each position the first `from` that
 * matches wins; an empty one matches everywhere, the end included, and keeps the byte. */
static size_t
replace(struct reg_val **from, struct reg_val **to, size_t nf, const char *s, size_t n, char *r)
{
    size_t p = 0, o = 0, i;

    while (p <= n) {
        for (i = 0; i < nf; i++)
            if (from[i]->str.n <= n - p && memcmp(s + p, from[i]->str.s, from[i]->str.n) == 0)
                break;
        if (i < nf) {
            if (r != NULL)
                memcpy(r + o, to[i]->str.s, to[i]->str.n);
            o += to[i]->str.n;
        }
        if (i < nf && from[i]->str.n > 0) {
            p += from[i]->str.n;
            continue;
        }
        if (p < n) {
            if (r != NULL)
                r[o] = s[p];
            o++;
        }
        p++;
    }
    return o;
}

/* b_replaceStrings: Nix 2.8's order: both lists, their lengths, every `from`, every `to`,
 * then the string (strings only: no coercion). */
static void
b_replaceStrings(ARGS)
{
    struct reg_val *from = want(c, args[0], V_LIST, at), *to = want(c, args[1], V_LIST, at), *s;
    size_t i, n, nf = from->list.n, room = 0;
    char *r;

    if (nf != to->list.n)
        reg_throw(c, M3_EEVAL, at,
                  "'from' and 'to' arguments to 'replaceStrings' have different lengths");
    for (i = 0; i < nf; i++)
        want(c, from->list.v[i], V_STR, at);
    for (i = 0; i < nf; i++) {
        want(c, to->list.v[i], V_STR, at);
        room = to->list.v[i]->str.n > room ? to->list.v[i]->str.n : room;
    }
    s = want(c, args[2], V_STR, at);
    /* the result is at most (n + 1) * (room + 1) bytes: refuse what cannot be counted */
    if (room > 0 && s->str.n + 1 > (SIZE_MAX / 2) / (room + 1))
        reg_throw(c, M3_ENOMEM, at, "out of memory");
    n = replace(from->list.v, to->list.v, nf, s->str.s, s->str.n, NULL);
    if ((r = reg_arena_alloc_raw(c->arena, n + 1)) == NULL)
        reg_throw(c, M3_ENOMEM, at, "out of memory");
    replace(from->list.v, to->list.v, nf, s->str.s, s->str.n, r);
    r[n] = '\0';
    out->t = V_STR;
    out->plain = 0;
    out->str.s = r;
    out->str.n = n;
}

/* Nix 2.8's builtins that this evaluator refuses, each with the reason given to the user.
 * constant: a value rather than a function; global: also bound without `builtins.`. */
static const struct refusal {
    const char *name;
    const char *why;
    int constant, global;
} refused[] = {
    {"add", "not implemented", 0, 0},
    {"addErrorContext", "not implemented", 0, 0},
    {"appendContext", "not implemented", 0, 0},
    {"bitAnd", "not implemented", 0, 0},
    {"bitOr", "not implemented", 0, 0},
    {"bitXor", "not implemented", 0, 0},
    {"ceil", "not implemented", 0, 0},
    {"compareVersions", "not implemented", 0, 0},
    {"currentSystem", "it depends on the machine", 1, 0},
    {"currentTime", "it depends on the clock", 1, 0},
    {"derivation", "it needs the Nix store", 0, 1},
    {"derivationStrict", "it needs the Nix store", 0, 1},
    {"dirOf", "not implemented", 0, 1},
    {"div", "not implemented", 0, 0},
    {"fetchGit", "it fetches from the network", 0, 1},
    {"fetchMercurial", "it fetches from the network", 0, 1},
    {"fetchTarball", "it fetches from the network", 0, 1},
    {"fetchTree", "it fetches from the network", 0, 1},
    {"fetchurl", "it fetches from the network", 0, 0},
    {"filterSource", "it copies files to the Nix store", 0, 0},
    {"findFile", "it searches NIX_PATH", 0, 0},
    {"floor", "not implemented", 0, 0},
    {"fromTOML", "not implemented", 0, 1},
    {"functionArgs", "not implemented", 0, 0},
    {"genericClosure", "not implemented", 0, 0},
    {"getContext", "not implemented", 0, 0},
    {"getEnv", "it depends on the environment", 0, 0},
    {"groupBy", "not implemented", 0, 0},
    {"hasContext", "not implemented", 0, 0},
    {"hashString", "not implemented", 0, 0},
    {"intersectAttrs", "not implemented", 0, 0},
    {"langVersion", "not implemented", 1, 0},
    {"lessThan", "not implemented", 0, 0},
    {"match", "not implemented", 0, 0},
    {"mul", "not implemented", 0, 0},
    {"nixPath", "it depends on NIX_PATH", 1, 0},
    {"nixVersion", "it depends on the Nix version", 1, 0},
    {"parseDrvName", "not implemented", 0, 0},
    {"partition", "not implemented", 0, 0},
    {"path", "it copies files to the Nix store", 0, 0},
    {"placeholder", "it needs the Nix store", 0, 1},
    {"scopedImport", "not implemented", 0, 1},
    {"sort", "not implemented", 0, 0},
    {"split", "not implemented", 0, 0},
    {"splitVersion", "not implemented", 0, 0},
    {"storeDir", "it needs the Nix store", 1, 0},
    {"storePath", "it needs the Nix store", 0, 0},
    {"sub", "not implemented", 0, 0},
    {"toFile", "it writes to the Nix store", 0, 0},
    {"toJSON", "not implemented", 0, 0},
    {"toPath", "not implemented", 0, 0},
    {"toXML", "not implemented", 0, 0},
    {"tryEval", "not implemented", 0, 0},
    {"unsafeDiscardOutputDependency", "not implemented", 0, 0},
    {"unsafeDiscardStringContext", "not implemented", 0, 0},
    {"unsafeGetAttrPos", "not implemented", 0, 0},
    {"zipAttrsWith", "not implemented", 0, 0},
};

const char *
reg_builtin_refusal(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (strcmp(refused[i].name, name) == 0)
            return refused[i].why;
    return "not implemented";
}

/* b_unsupported: a refused builtin function, called (c->cur_prim names it). */
static void
b_unsupported(ARGS)
{
    char what[80];

    (void)args;
    (void)out;
    snprintf(what, sizeof(what), "builtins.%s", c->cur_prim->name);
    reg_unsupported(c, at, what, reg_builtin_refusal(c->cur_prim->name));
}

struct entry {
    const char *name;
    int arity;
    void (*fn)(ARGS);
    int global;
};

static const struct entry table[] = {
    {"abort", 1, b_abort, 1},
    {"all", 2, b_all, 0},
    {"any", 2, b_any, 0},
    {"attrNames", 1, b_attrNames, 0},
    {"attrValues", 1, b_attrValues, 0},
    {"baseNameOf", 1, b_baseNameOf, 1},
    {"catAttrs", 2, b_catAttrs, 0},
    {"concatLists", 1, b_concatLists, 0},
    {"concatMap", 2, b_concatMap, 0},
    {"concatStringsSep", 2, b_concatStringsSep, 0},
    {"deepSeq", 2, b_deepSeq, 0},
    {"elem", 2, b_elem, 0},
    {"elemAt", 2, b_elemAt, 0},
    {"filter", 2, b_filter, 0},
    {"foldl'", 3, b_foldl, 0},
    {"fromJSON", 1, b_fromJSON, 0},
    {"genList", 2, b_genList, 0},
    {"getAttr", 2, b_getAttr, 0},
    {"hasAttr", 2, b_hasAttr, 0},
    {"hashFile", 2, b_hashFile, 0},
    {"head", 1, b_head, 0},
    {"import", 1, b_import, 1},
    {"isAttrs", 1, b_isAttrs, 0},
    {"isBool", 1, b_isBool, 0},
    {"isFloat", 1, b_isFloat, 0},
    {"isFunction", 1, b_isFunction, 0},
    {"isInt", 1, b_isInt, 0},
    {"isList", 1, b_isList, 0},
    {"isNull", 1, b_isNull, 1},
    {"isPath", 1, b_isPath, 0},
    {"isString", 1, b_isString, 0},
    {"length", 1, b_length, 0},
    {"listToAttrs", 1, b_listToAttrs, 0},
    {"map", 2, b_map, 1},
    {"mapAttrs", 2, b_mapAttrs, 0},
    {"pathExists", 1, b_pathExists, 0},
    {"readDir", 1, b_readDir, 0},
    {"readFile", 1, b_readFile, 0},
    {"readFileType", 1, b_readFileType, 0},
    {"removeAttrs", 2, b_removeAttrs, 1},
    {"replaceStrings", 3, b_replaceStrings, 0},
    {"seq", 2, b_seq, 0},
    {"stringLength", 1, b_stringLength, 0},
    {"substring", 3, b_substring, 0},
    {"tail", 1, b_tail, 0},
    {"throw", 1, b_throw, 1},
    {"toString", 1, b_toString, 1},
    {"trace", 2, b_trace, 0},
    {"typeOf", 1, b_typeOf, 0},
};

/* sort_attrs: a in name order. reg_builtins_set builds its sets already sorted but for
 * four extras at the end, which insertion sort places in a few hundred steps (two qsorts
 * cost ~100,000 instructions per evaluation). */
static void
sort_attrs(struct reg_attr *a, size_t n)
{
    size_t i, j;

    for (i = 1; i < n; i++) {
        struct reg_attr x = a[i];
        for (j = i; j > 0 && reg_name_cmp(a[j - 1].name, a[j - 1].len, x.name, x.len) > 0; j--)
            a[j] = a[j - 1];
        a[j] = x;
    }
}

/* alias: "__NAME", as Nix binds every builtin that is not global. */
static const char *
alias(struct reg_ctx *c, const char *name, size_t *len)
{
    size_t n = strlen(name);
    char *p = reg_arena_alloc(c->arena, n + 3);

    if (p == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    p[0] = p[1] = '_';
    memcpy(p + 2, name, n + 1);
    *len = n + 2;
    return p;
}

struct reg_set *
reg_builtins_set(struct reg_ctx *c, struct reg_set **globals)
{
    size_t nt = sizeof(table) / sizeof(table[0]), nr = sizeof(refused) / sizeof(refused[0]);
    size_t i, k, it = 0, ir = 0, ng = 0, nb = 0, nglob = 0, len;
    struct reg_set *b = reg_new_set(c, nt + nr + 8), *g = reg_new_set(c, nt + nr + 8);
    struct reg_prim *prims = reg_arena_alloc(c->arena, (nt + nr) * sizeof(*prims));
    struct reg_attr *glob = reg_arena_alloc_raw(c->arena, (nt + nr) * sizeof(*glob));
    struct reg_val *bv = reg_new(c, V_SET), *t = reg_new(c, V_BOOL), *f = reg_new(c, V_BOOL),
                   *nul = reg_new(c, V_NULL);
    const struct reg_attr extra[] = {{"true", 4, t, NULL},
                                     {"false", 5, f, NULL},
                                     {"null", 4, nul, NULL},
                                     {"builtins", 8, bv, NULL}};

    if (prims == NULL || glob == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    t->b = 1;
    /* table and refused are each in name order: taking them merged keeps both sets sorted
     * as they are built (an alias "__NAME" sorts before every builtin's own name) */
    for (k = 0; k < nt + nr; k++) {
        int from_table = ir == nr || (it < nt && strcmp(table[it].name, refused[ir].name) < 0);
        size_t idx = from_table ? it++ : nt + ir++;
        const char *name = from_table ? table[idx].name : refused[idx - nt].name;
        int global = from_table ? table[idx].global : refused[idx - nt].global;
        struct reg_val *v;
        if (!from_table && refused[idx - nt].constant) {
            /* forcing it refuses (reg_force): a thunk with a name and no expression */
            v = reg_new(c, V_THUNK);
            v->th.name = name;
            v->th.len = strlen(name);
        } else {
            v = reg_new(c, V_PRIM);
            prims[idx].name = name;
            prims[idx].arity = from_table ? table[idx].arity : 1;
            prims[idx].fn = from_table ? table[idx].fn : b_unsupported;
            v->prim.p = &prims[idx];
        }
        b->a[nb++] = (struct reg_attr){name, strlen(name), v, NULL};
        if (global)
            glob[nglob++] = (struct reg_attr){name, strlen(name), v, NULL};
        else
            g->a[ng++] = (struct reg_attr){alias(c, name, &len), len, v, NULL};
    }
    for (i = 0; i < nglob; i++)
        g->a[ng++] = glob[i];
    for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
        b->a[nb++] = extra[i];
        g->a[ng++] = extra[i];
    }
    b->n = nb;
    g->n = ng;
    sort_attrs(b->a, nb);
    sort_attrs(g->a, ng);
    bv->set = b;
    *globals = g;
    return b;
}
