/* eval.c: a lazy evaluator for the part of the Nix language registries use.
 *
 * Semantics follow Nix 2.8: attribute sets are sorted by name; lexical bindings shadow
 * every `with`; inherited names in rec sets and lets come from the enclosing scope; split
 * attribute paths merge, duplicates are errors.
 *
 * This file owns the core every other piece leans on: values and their allocation, forcing
 * (thunks, black holes, the depth and stack guard), variable lookup, paths, selection, the
 * dispatch over node kinds (reg_eval), imports and the entry points with their error frame.
 * They stay together because they are one recursion: reg_eval makes thunks, lookup forces
 * them, reg_force_slow calls reg_eval, and reg_eval_try restores the thunks an error unwinds
 * through; split, the inline lookup and forcing paths each evaluation step takes would
 * become calls between files. Paths and imports are small, and cases of the dispatch. The
 * scopes (scopes.c), strings (strings.c) and operators (operators.c) are apart;
 * registry/evaluator.h declares what they share. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "registry/evaluator.h"

#define MAX_DEPTH 4000

/* The depth count alone does not bound the stack: frames are several times larger under
 * AddressSanitizer (a `make asan` run overflowed 8 MiB at depth 4000). reg_too_deep() also
 * stops when the evaluation has used half of the stack limit, measured from where
 * reg_ctx_init was called (evaluations run on the thread that set up their context). */
static _Thread_local const char *stack_base;
static _Thread_local size_t stack_budget;

static void
stack_mark(void)
{
    char here;
    struct rlimit rl;
    size_t lim = (size_t)8 << 20;

    if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < lim)
        lim = (size_t)rl.rlim_cur;
    stack_base = &here;
    stack_budget = lim / 2;
}

int
reg_stack_low(void)
{
    char here;
    const char *p = &here;

    return stack_base != NULL && stack_base > p && (size_t)(stack_base - p) > stack_budget;
}

int
reg_too_deep(struct reg_ctx *c)
{
    return ++c->depth > MAX_DEPTH || reg_stack_low();
}

#define NIX_HINT "; use --nix to evaluate with nix-instantiate"

_Noreturn void
reg_throw(struct reg_ctx *c, int code, const struct reg_node *at, const char *fmt, ...)
{
    char msg[300];
    unsigned line = 0, col = 0;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (at != NULL) {
        reg_linecol(at->file, reg_node_off(at), &line, &col);
        m3_diag_set(c->d, code, "%s:%u:%u: %s%s", at->file->name, line, col, msg,
                    code == M3_EUNSUPPORTED ? NIX_HINT : "");
    } else {
        m3_diag_set(c->d, code, "%s%s", msg, code == M3_EUNSUPPORTED ? NIX_HINT : "");
    }
    if (c->d != NULL) {
        c->d->line = line;
        c->d->col = col;
    }
    c->rc = code;
    longjmp(*c->jmp, 1);
}

_Noreturn void
reg_unsupported(struct reg_ctx *c, const struct reg_node *at, const char *what, const char *why)
{
    reg_throw(c, M3_EUNSUPPORTED, at, "%s is not supported by m3age's evaluator (%s)", what, why);
}

_Noreturn void
reg_out_of_memory(struct reg_ctx *c)
{
    reg_throw(c, M3_ENOMEM, NULL, "%s: out of memory (an evaluation may use at most 1 GiB)",
              reg_file_name(c->files[0].f));
}

struct reg_val *
reg_new(struct reg_ctx *c, enum reg_vtype t)
{
    struct reg_val *v = reg_alloc(c, sizeof(*v));

    v->t = t;
    return v;
}

struct reg_val *
reg_new_str(struct reg_ctx *c, const char *s, size_t n)
{
    struct reg_val *v = reg_new(c, V_STR);
    char *p = reg_alloc_raw(c, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    v->str.s = p;
    v->str.n = n;
    return v;
}

struct reg_set *
reg_new_set(struct reg_ctx *c, size_t n)
{
    struct reg_set *s = reg_alloc(c, sizeof(*s) + n * sizeof(s->a[0]));

    s->n = n;
    return s;
}

int
reg_name_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);

    if (r != 0)
        return r;
    return an < bn ? -1 : an > bn;
}

const struct reg_attr *
reg_set_get(const struct reg_set *s, const char *name, size_t len)
{
    size_t lo = 0, hi = s->n;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = reg_name_cmp(s->a[mid].name, s->a[mid].len, name, len);
        if (r == 0)
            return &s->a[mid];
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const char *
reg_type_name(const struct reg_val *v)
{
    switch (v->t) {
    case V_NULL:
        return "null";
    case V_BOOL:
        return "a Boolean";
    case V_INT:
        return "an integer";
    case V_FLOAT:
        return "a float";
    case V_STR:
        return "a string";
    case V_PATH:
        return "a path";
    case V_LIST:
        return "a list";
    case V_SET:
        return "a set";
    case V_LAMBDA:
    case V_PRIM:
        return "a function";
    default:
        return "a thunk";
    }
}

/* ---- forcing ---- */

static void
push_forcing(struct reg_ctx *c, struct reg_val *v)
{
    if (c->nforcing == c->capforcing) {
        /* in the arena (its pages are mapped already); a grown stack leaves the old copy */
        size_t cap = c->capforcing ? c->capforcing * 2 : 64;
        struct reg_forcing *p = reg_alloc_raw(c, cap * sizeof(*p));
        if (c->nforcing > 0)
            memcpy(p, c->forcing, c->nforcing * sizeof(*p));
        c->forcing = p;
        c->capforcing = cap;
    }
    c->forcing[c->nforcing].v = v;
    c->forcing[c->nforcing].saved = *v;
    c->nforcing++;
}

static inline struct reg_val *lookup(struct reg_ctx *c, struct reg_env *env, const char *name,
                                     size_t len, const struct reg_node *at, int lexical_only);

void
reg_force_slow(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at)
{
    struct reg_val *r;
    const struct reg_node *n;

    if (v->t == V_BLACKHOLE)
        reg_throw(c, M3_EEVAL, at, "infinite recursion encountered");
    if (v->t != V_THUNK)
        return;
    if (reg_too_deep(c))
        reg_throw(c, M3_EEVAL, at, "stack overflow (possible infinite recursion)");
    push_forcing(c, v);
    n = v->th.node;
    v->t = V_BLACKHOLE;
    if (v->th.arg != NULL) {
        r = reg_new(c, V_NULL);
        reg_apply(c, v->th.from, v->th.arg, r, n);
    } else if (v->th.name != NULL && v->th.env == NULL && n == NULL) {
        char what[80];
        snprintf(what, sizeof(what), "builtins.%s", v->th.name);
        reg_unsupported(c, at, what, reg_builtin_refusal(v->th.name));
    } else if (v->th.name != NULL && v->th.from == NULL) {
        r = lookup(c, v->th.env, v->th.name, v->th.len, n, 0);
        reg_force(c, r, n);
    } else if (v->th.name != NULL) {
        struct reg_val *from = v->th.from;
        const struct reg_attr *a;
        reg_force(c, from, n);
        if (from->t != V_SET)
            reg_throw(c, M3_EEVAL, n, "value is %s while a set was expected", reg_type_name(from));
        a = reg_set_get(from->set, v->th.name, v->th.len);
        if (a == NULL)
            reg_throw(c, M3_EEVAL, n, "attribute '%.*s' missing", (int)v->th.len, v->th.name);
        r = a->v;
        reg_force(c, r, n);
    } else {
        r = reg_eval(c, n, v->th.env);
    }
    *v = *r;
    c->nforcing--;
    c->depth--;
}

void
reg_force_deep(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at)
{
    size_t i;

    reg_force(c, v, at);
    if (reg_too_deep(c))
        reg_throw(c, M3_EEVAL, at, "stack overflow (value nested too deeply)");
    if (v->t == V_LIST)
        for (i = 0; i < v->list.n; i++)
            reg_force_deep(c, v->list.v[i], v->src ? v->src : at);
    else if (v->t == V_SET)
        for (i = 0; i < v->set->n; i++)
            reg_force_deep(c, v->set->a[i].v, v->set->a[i].pos ? v->set->a[i].pos : at);
    c->depth--;
}

/* seen: records that the variable n was found (f->seen, a cache of the tree's own). */
static inline void
seen(const struct reg_node *n)
{
    n->file->seen[n->tok / 8] |= (unsigned char)(1u << (n->tok % 8));
}

struct reg_val *
reg_thunk(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env)
{
    struct reg_val *v;

    /* Literals and lexically bound variables need no thunk. */
    if (n->kind == N_VAR) {
        size_t len;
        const char *name = reg_tok_text(n->file, n->tok, &len);
        if ((v = lookup(c, env, name, len, n, 1)) != NULL) {
            seen(n);
            return v;
        }
    } else if (n->kind == N_STR &&
               (n->nitems == 0 || (n->nitems == 1 && n->items[0]->kind == N_STRLIT))) {
        return reg_eval(c, n, env);
    }
    v = reg_new(c, V_THUNK);
    v->th.node = n;
    v->th.env = env;
    return v;
}

/* ---- variables ---- */

/* name_hash: a hash of a variable name from its first, middle and last four bytes (all of
 * a name of up to 12 bytes) and its length; a name of fewer than 4 bytes byte by byte. */
static inline uint32_t
name_hash(const char *s, size_t n)
{
    uint32_t x, y, z;
    uint64_t h;

    if (n < 4) {
        uint32_t f = 2166136261u;
        while (n--)
            f = (f ^ (unsigned char)*s++) * 16777619u;
        return f;
    }
    memcpy(&x, s, 4);
    memcpy(&y, s + n / 2 - 2, 4);
    memcpy(&z, s + n - 4, 4);
    h = (uint64_t)x * 0x9e3779b97f4a7c15u ^ (uint64_t)y * 0xc2b2ae3d27d4eb4fu ^
        (uint64_t)z * 0x165667b19e3779f9u ^ n;
    return (uint32_t)(h >> 32) ^ (uint32_t)h;
}

/* same_name: a[0..n) == b[0..n), without a call for the usual short name (two overlapping
 * loads cover 4 to 16 bytes). */
static inline int
same_name(const char *a, const char *b, size_t n)
{
    if (n >= 4 && n <= 8) {
        uint32_t a0, a1, b0, b1;
        memcpy(&a0, a, 4);
        memcpy(&a1, a + n - 4, 4);
        memcpy(&b0, b, 4);
        memcpy(&b1, b + n - 4, 4);
        return a0 == b0 && a1 == b1;
    }
    if (n > 8 && n <= 16) {
        uint64_t a0, a1, b0, b1;
        memcpy(&a0, a, 8);
        memcpy(&a1, a + n - 8, 8);
        memcpy(&b0, b, 8);
        memcpy(&b1, b + n - 8, 8);
        return a0 == b0 && a1 == b1;
    }
    return memcmp(a, b, n) == 0;
}

/* frame_index: builds the hash index of e's vars (see struct reg_env). */
static __attribute__((noinline)) void
frame_index(struct reg_ctx *c, struct reg_env *e)
{
    const struct reg_set *s = e->vars;
    size_t cap = 32, h, i;

    while (cap < s->n * 2)
        cap *= 2;
    e->hidx = reg_alloc(c, cap * sizeof(*e->hidx));
    e->hmask = cap - 1;
    for (i = 0; i < s->n; i++) {
        for (h = name_hash(s->a[i].name, s->a[i].len); e->hidx[h & e->hmask] != 0; h++)
            ;
        e->hidx[h & e->hmask] = (uint32_t)i + 1;
    }
    e->hset = s;
}

/* frame_get: the binding of name in frame e (which has vars); large frames get a hash index
 * (variable lookup was a third of the evaluation of a large registry). */
static inline __attribute__((always_inline)) const struct reg_attr *
frame_get(struct reg_ctx *c, struct reg_env *e, const char *name, size_t len)
{
    const struct reg_set *s = e->vars;
    size_t h;

    if (s->n < 12 || e->building)
        return reg_set_get(s, name, len);
    if (e->hset != s)
        frame_index(c, e);
    for (h = name_hash(name, len);; h++) {
        uint32_t k = e->hidx[h & e->hmask];
        if (k == 0)
            return NULL;
        if (s->a[k - 1].len == len && same_name(s->a[k - 1].name, name, len))
            return &s->a[k - 1];
    }
}

/* globals: the builtins' global names (c->globals's vars), made by the first lookup that
 * reaches them (every chain of frames ends at c->globals, the last lexical frame): a
 * registry of let-bound keys never does, and making them is two sets of a hundred names. */
static struct reg_set *
globals(struct reg_ctx *c)
{
    if (c->globals->vars == NULL) {
        struct reg_set *g = NULL;
        reg_builtins_set(c, &g);
        c->globals->vars = g;
    }
    return c->globals->vars;
}

/* lookup_rest: lookup (below) once no lexical frame binds the name. */
static __attribute__((noinline)) struct reg_val *
lookup_rest(struct reg_ctx *c, struct reg_env *env, const char *name, size_t len,
            const struct reg_node *at, int lexical_only)
{
    struct reg_env *e;
    const struct reg_attr *a;

    if (c->globals->vars == NULL && (a = reg_set_get(globals(c), name, len)) != NULL)
        return a->v;
    if (lexical_only) {
        for (e = env; e != NULL; e = e->up)
            if (e->with != NULL)
                return NULL;
    }
    for (e = env; e != NULL; e = e->up) {
        if (e->with == NULL)
            continue;
        reg_force(c, e->with, at);
        if (e->with->t != V_SET)
            reg_throw(c, M3_EEVAL, at, "value is %s while a set was expected (in 'with')",
                      reg_type_name(e->with));
        if ((a = reg_set_get(e->with->set, name, len)) != NULL)
            return a->v;
    }
    if (lexical_only)
        return NULL;
    reg_undefined(c, name, len, at);
}

void
reg_undefined(struct reg_ctx *c, const char *name, size_t len, const struct reg_node *at)
{
    if ((len == 3 && memcmp(name, "lib", 3) == 0) || (len == 4 && memcmp(name, "pkgs", 4) == 0))
        reg_unsupported(c, at, len == 3 ? "'lib' (the nixpkgs library)" : "'pkgs' (nixpkgs)",
                        "it is not bound here; nixpkgs needs Nix");
    reg_throw(c, M3_EEVAL, at, "undefined variable '%.*s'", (int)(len > 150 ? 150 : len), name);
}

int
reg_global(struct reg_ctx *c, const char *name, size_t len)
{
    if (c->globals == NULL)
        c->globals = reg_alloc(c, sizeof(*c->globals));
    return reg_set_get(globals(c), name, len) != NULL;
}

/* lookup: lexical frames first, then `with` frames innermost first. With lexical_only, returns
 * NULL instead of forcing a `with` or failing, and gives up at a frame still being built.
 * The lexical walk is inline at each use (a variable is mostly found in the first frames),
 * the rest a call. */
static inline __attribute__((always_inline)) struct reg_val *
lookup(struct reg_ctx *c, struct reg_env *env, const char *name, size_t len,
       const struct reg_node *at, int lexical_only)
{
    struct reg_env *e;
    const struct reg_attr *a;

    for (e = env; e != NULL; e = e->up) {
        if (e->building && lexical_only)
            return NULL;
        if (e->vars != NULL && (a = frame_get(c, e, name, len)) != NULL)
            return a->v;
    }
    return lookup_rest(c, env, name, len, at, lexical_only);
}

struct reg_val *
reg_lookup(struct reg_ctx *c, struct reg_env *env, const char *name, size_t len,
           const struct reg_node *at, int lexical_only)
{
    return lookup(c, env, name, len, at, lexical_only);
}

/* ---- paths ---- */

struct reg_loaded *
reg_loaded_of(struct reg_ctx *c, const struct reg_file *f)
{
    size_t i;

    for (i = 0; i < c->nfiles; i++)
        if (c->files[i].f == f)
            return &c->files[i];
    return &c->files[0];
}

/* canon: joins base and rel (rel may be absolute) and removes ".", ".." and "//". */
char *
reg_canon(struct reg_ctx *c, const char *base, const char *rel, size_t rlen)
{
    size_t blen = strlen(base), n = 0, i = 0;
    char *in = reg_alloc(c, blen + rlen + 3), *out = reg_alloc(c, blen + rlen + 3);

    if (rlen > 0 && rel[0] == '/') {
        memcpy(in, rel, rlen);
        in[rlen] = '\0';
    } else {
        memcpy(in, base, blen);
        in[blen] = '/';
        memcpy(in + blen + 1, rel, rlen);
        in[blen + 1 + rlen] = '\0';
    }
    while (in[i] != '\0') {
        size_t j;
        while (in[i] == '/')
            i++;
        j = i;
        while (in[j] != '\0' && in[j] != '/')
            j++;
        if (j == i)
            break;
        if (j - i == 1 && in[i] == '.') {
        } else if (j - i == 2 && in[i] == '.' && in[i + 1] == '.') {
            while (n > 0 && out[n - 1] != '/')
                n--;
            if (n > 0)
                n--;
        } else {
            out[n++] = '/';
            memcpy(out + n, in + i, j - i);
            n += j - i;
        }
        i = j;
    }
    if (n == 0)
        out[n++] = '/';
    out[n] = '\0';
    return out;
}

struct reg_val *
reg_path_val(struct reg_ctx *c, const char *s, const struct reg_node *src)
{
    struct reg_val *v = reg_new(c, V_PATH);

    v->str.s = s;
    v->str.n = strlen(s);
    v->src = src;
    return v;
}

/* ---- selection ---- */

static struct reg_val *
select_path(struct reg_ctx *c, struct reg_val *v, const struct reg_node *path, struct reg_env *env,
            int *missing)
{
    size_t i, len;

    for (i = 0; i < path->nitems; i++) {
        const char *name = reg_attr_name(c, path->items[i], env, &len);
        const struct reg_attr *a;
        reg_force(c, v, path->items[i]);
        if (v->t != V_SET || name == NULL) {
            if (missing != NULL) {
                *missing = 1;
                return NULL;
            }
            reg_throw(c, M3_EEVAL, path->items[i], "value is %s while a set was expected",
                      reg_type_name(v));
        }
        a = reg_set_get(v->set, name, len);
        if (a == NULL) {
            if (missing != NULL) {
                *missing = 1;
                return NULL;
            }
            reg_throw(c, M3_EEVAL, path->items[i], "attribute '%.*s' missing", (int)len, name);
        }
        v = a->v;
    }
    return v;
}

/* ---- the evaluator ---- */

struct reg_val *
reg_eval(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env)
{
    struct reg_val *v, *a;
    size_t i, len;
    const char *s;
    int missing = 0;

    switch (n->kind) {
    case N_FILE:
    case N_PAREN:
        v = reg_eval(c, n->a, env);
        return v;
    case N_VAR:
        s = reg_tok_text(n->file, n->tok, &len);
        v = lookup(c, env, s, len, n, 0);
        seen(n);
        reg_force(c, v, n);
        return v;
    case N_INT:
        s = reg_tok_text(n->file, n->tok, &len);
        v = reg_new(c, V_INT);
        {
            char *end;
            errno = 0;
            v->i = strtoll(s, &end, 10);
            if (errno != 0)
                reg_throw(c, M3_EEVAL, n, "invalid integer '%.*s'", (int)len, s);
        }
        v->src = n;
        return v;
    case N_FLOAT:
        s = reg_tok_text(n->file, n->tok, &len);
        v = reg_new(c, V_FLOAT);
        v->f = strtod(s, NULL);
        v->src = n;
        return v;
    case N_STR:
        v = reg_eval_string(c, n, env);
        v->src = n;
        return v;
    case N_IND_STR:
        v = reg_eval_ind_string(c, n, env);
        v->src = n;
        return v;
    case N_PATH:
        s = reg_tok_text(n->file, n->tok, &len);
        return reg_path_val(c, reg_canon(c, reg_loaded_of(c, n->file)->dir, s, len), n);
    case N_PATH_INTERP: {
        struct reg_sbuf b = {0};
        reg_sb_put(c, &b, "", 0);
        for (i = 0; i < n->nitems; i++) {
            const struct reg_node *part = n->items[i];
            if (part->kind == N_STRLIT) {
                s = reg_tok_text(n->file, part->tok, &len);
                reg_sb_put(c, &b, s, len);
            } else {
                char *is;
                size_t in;
                reg_coerce_str(c, reg_eval(c, part->a, env), part->a, 1, &is, &in);
                reg_sb_put(c, &b, is, in);
            }
        }
        if (b.p[0] == '~')
            reg_unsupported(c, n, "a '~/' path", "it depends on $HOME");
        return reg_path_val(c, reg_canon(c, reg_loaded_of(c, n->file)->dir, b.p, b.n), n);
    }
    case N_HPATH:
        reg_unsupported(c, n, "a '~/' path", "it depends on $HOME");
    case N_SPATH:
        s = reg_tok_text(n->file, n->tok, &len);
        reg_throw(c, M3_EUNSUPPORTED, n,
                  "the search path '%.*s' is not supported by m3age's evaluator (it needs "
                  "NIX_PATH)",
                  (int)len, s);
    case N_URI:
        s = reg_tok_text(n->file, n->tok, &len);
        v = reg_new_str(c, s, len);
        v->src = n;
        return v;
    case N_LIST:
        v = reg_new(c, V_LIST);
        v->list.n = n->nitems;
        v->list.v = reg_alloc(c, (n->nitems + 1) * sizeof(*v->list.v));
        for (i = 0; i < n->nitems; i++)
            v->list.v[i] = reg_thunk(c, n->items[i], env);
        v->src = n;
        return v;
    case N_SET:
        return reg_eval_set(c, n, env, n->flag, NULL);
    case N_LET_SET: {
        struct reg_env *inner;
        const struct reg_attr *body;
        v = reg_eval_set(c, n, env, 1, &inner);
        body = reg_set_get(v->set, "body", 4);
        if (body == NULL)
            reg_throw(c, M3_EEVAL, n, "attribute 'body' missing");
        reg_force(c, body->v, n);
        return body->v;
    }
    case N_LET: {
        struct reg_env *inner;
        reg_eval_set(c, n, env, 1, &inner);
        if (n == c->top_let)
            c->top_let_env = inner;
        return reg_eval(c, n->a, inner);
    }
    case N_WITH: {
        struct reg_env *w = reg_alloc(c, sizeof(*w));
        w->up = env;
        w->with = reg_thunk(c, n->a, env);
        return reg_eval(c, n->b, w);
    }
    case N_ASSERT:
        if (!reg_as_bool(c, reg_eval(c, n->a, env), n->a))
            reg_throw(c, M3_EEVAL, n, "assertion failed");
        return reg_eval(c, n->b, env);
    case N_IF:
        return reg_eval(c, reg_as_bool(c, reg_eval(c, n->a, env), n->a) ? n->b : n->c, env);
    case N_LAMBDA:
        v = reg_new(c, V_LAMBDA);
        v->th.node = n;
        v->th.env = env;
        v->src = n;
        return v;
    case N_APP:
        v = reg_new(c, V_NULL);
        reg_apply(c, reg_eval(c, n->a, env), reg_thunk(c, n->b, env), v, n);
        return v;
    case N_SELECT:
        a = reg_eval(c, n->a, env);
        v = select_path(c, a, n->b, env, n->c != NULL ? &missing : NULL);
        if (missing)
            return reg_eval(c, n->c, env);
        reg_force(c, v, n);
        return v;
    case N_HASATTR:
        a = reg_eval(c, n->a, env);
        select_path(c, a, n->b, env, &missing);
        return reg_mkbool(c, !missing);
    case N_BINOP:
        return reg_eval_binop(c, n, env);
    case N_NOT:
        return reg_mkbool(c, !reg_as_bool(c, reg_eval(c, n->a, env), n->a));
    case N_NEG: {
        struct reg_val zero = {.t = V_INT};
        a = reg_eval(c, n->a, env);
        return reg_arith(c, TK_MINUS, &zero, a, n);
    }
    default:
        reg_throw(c, M3_EEVAL, n, "internal error: cannot evaluate node %d", n->kind);
    }
}

/* ---- imports ---- */

void
reg_read_path(struct reg_ctx *c, const char *path, const struct reg_node *at, char **buf,
              size_t *len)
{
    struct m3_diag d = {0};
    char *p = NULL;
    int rc;

    if (c->opts == NULL || c->opts->reader == NULL)
        reg_throw(c, M3_EUNSUPPORTED, at, "reading '%s' is not allowed here", path);
    rc = c->opts->reader->read(c->opts->reader->ctx, path, &p, len, &d);
    if (rc != 0)
        reg_throw(c, rc == M3_ENOMEM ? rc : M3_EEVAL, at, "%s", d.msg[0] ? d.msg : path);
    *buf = reg_arena_strndup(c->arena, p, *len);
    free(p);
    if (*buf == NULL)
        reg_throw(c, M3_ENOMEM, at, "out of memory");
}

struct reg_val *
reg_import(struct reg_ctx *c, const char *path, const struct reg_node *at)
{
    struct reg_file *f = NULL;
    struct reg_loaded *l;
    struct m3_diag d = {0};
    const char *base = c->files[0].dir, *name = path;
    char *buf, *slash;
    size_t len, i, bl = strlen(base);
    int rc;

    /* a folder is imported as its default.nix, which names the file and is its base */
    if (c->opts != NULL && c->opts->reader != NULL && c->opts->reader->is_dir != NULL &&
        c->opts->reader->is_dir(c->opts->reader->ctx, path)) {
        size_t pl = strlen(path);
        char *def = reg_alloc_raw(c, pl + sizeof("/default.nix"));
        memcpy(def, path, pl);
        memcpy(def + (pl > 0 && path[pl - 1] == '/' ? pl - 1 : pl), "/default.nix",
               sizeof("/default.nix"));
        path = name = def;
    }
    for (i = 0; i < c->nfiles; i++)
        if (c->files[i].path != NULL && strcmp(c->files[i].path, path) == 0) {
            if (c->files[i].value == NULL)
                reg_throw(c, M3_EEVAL, at, "infinite recursion: '%s' imports itself", path);
            return c->files[i].value;
        }
    reg_read_path(c, path, at, &buf, &len);
    if (strncmp(path, base, bl) == 0 && path[bl] == '/')
        name = path + bl + 1;
    rc = reg_parse(name, buf, len, &f, &d);
    if (rc != 0) {
        if (c->d != NULL)
            *c->d = d;
        c->rc = rc;
        longjmp(*c->jmp, 1);
    }
    l = realloc(c->files, (c->nfiles + 1) * sizeof(*l));
    if (l == NULL) {
        reg_file_free(f);
        reg_throw(c, M3_ENOMEM, at, "out of memory");
    }
    c->files = l;
    l = &c->files[c->nfiles++];
    memset(l, 0, sizeof(*l));
    l->f = f;
    l->owned = 1;
    l->path = strdup(path);
    l->dir = strdup(path);
    if (l->path == NULL || l->dir == NULL)
        reg_throw(c, M3_ENOMEM, at, "out of memory");
    slash = strrchr(l->dir, '/');
    if (slash == l->dir)
        slash[1] = '\0';
    else if (slash != NULL)
        *slash = '\0';
    {
        struct reg_val *v = reg_eval(c, f->root, c->globals);
        size_t idx = (size_t)(l - c->files);
        c->files[idx].value = v;
        return v;
    }
}

/* ---- entry points ---- */

int
reg_ctx_init(struct reg_ctx *c, const struct reg_file *f, const struct reg_eval_opts *opts,
             struct m3_diag *d)
{
    const struct reg_node *n;

    memset(c, 0, sizeof(*c));
    c->opts = opts;
    c->d = d;
    stack_mark();
    if ((c->arena = reg_arena_new_for(f->len * 12)) == NULL ||
        (c->files = calloc(1, sizeof(*c->files))) == NULL)
        goto oom;
    c->nfiles = 1;
    c->files[0].f = f;
    c->files[0].dir = strdup(opts != NULL && opts->base_dir != NULL ? opts->base_dir : "/");
    if (c->files[0].dir == NULL)
        goto oom;
    for (n = f->root->a; n->kind == N_PAREN; n = n->a)
        ;
    if (n->kind == N_LET)
        c->top_let = n;
    return 0;
oom:
    reg_ctx_free(c);
    return m3_diag_set(d, M3_ENOMEM, "out of memory");
}

void
reg_ctx_free(struct reg_ctx *c)
{
    size_t i;

    for (i = 0; c->files != NULL && i < c->nfiles; i++) {
        if (c->files[i].owned)
            reg_file_free((struct reg_file *)c->files[i].f);
        free(c->files[i].dir);
        free(c->files[i].path);
    }
    free(c->files);
    reg_arena_free(c->arena);
    memset(c, 0, sizeof(*c));
}

int
reg_eval_try(struct reg_ctx *c, struct reg_val *v, int deep)
{
    jmp_buf jb, *saved = c->jmp;
    size_t level = c->nforcing;
    unsigned depth = c->depth;
    volatile int rc = 0;

    c->jmp = &jb;
    if (setjmp(jb) == 0) {
        if (deep)
            reg_force_deep(c, v, NULL);
        else
            reg_force(c, v, NULL);
    } else {
        rc = c->rc;
        while (c->nforcing > level) {
            c->nforcing--;
            *c->forcing[c->nforcing].v = c->forcing[c->nforcing].saved;
        }
        c->depth = depth;
    }
    c->jmp = saved;
    return rc;
}

int
reg_eval_run(struct reg_ctx *c, int deep, struct reg_val **out)
{
    jmp_buf jb;
    struct reg_val *volatile v = NULL;

    c->jmp = &jb;
    if (setjmp(jb) != 0)
        return c->rc;
    if (c->globals == NULL)
        c->globals = reg_alloc(c, sizeof(*c->globals)); /* its names come with the first lookup */
    v = reg_eval(c, c->files[0].f->root, c->globals);
    if (deep)
        reg_force_deep(c, v, c->files[0].f->root->a);
    *out = v;
    return 0;
}
