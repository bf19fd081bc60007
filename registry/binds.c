/* binds.c: the checks of names and variables that Nix makes when it parses a file.
 *
 * Nix's parser builds each set's attributes as it reads them (parser.y, addAttr) and binds
 * every variable to its scope (bindVars) before anything is evaluated: a name defined
 * twice, a path through a value that is not a set (`a = 1; a.b = 2;`), a name both
 * inherited and defined, a dynamic name in a `let` or an `inherit`, a repeated function
 * argument, a variable bound nowhere: each fails the whole file, even where it sits in code
 * that is never evaluated. m3age's evaluator is lazy: it makes these checks for what it
 * builds and looks up (eval.c: a set's names when it builds the set, reg_built; a variable
 * when it looks it up, f->seen), and reg_check_rest makes them for the rest, so that a
 * registry that evaluates whole (the usual case) costs a scan of two bitmaps here.
 *
 * Sets are replayed as Nix's addAttr does it, on a table of their static names (dynamic
 * names, `${e}`, are only known when evaluated: eval.c checks those). A name defined by a
 * path (`"x.age".publicKeys = ...`) or by a set literal is a set that later definitions may
 * add to; its own table is made only when a second definition reaches it. Variables are
 * resolved by a walk of the tree with its scopes, made only when some variable was never
 * looked up. Tables live in the evaluation's arena and are given back after each check. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "registry/eval.h"
#include "registry/registry.h"

enum { E_VALUE, E_INHERIT, E_PATH, E_LIT, E_TAB };

struct stab;

/* One static name of a set being checked. */
struct sent {
    const char *name;
    size_t len;
    uint32_t hash;
    uint32_t depth;              /* E_PATH: the index of the path's next element */
    int kind;                    /* E_*: a value; inherited; a set made by the rest of a path,
                                  * by a set literal, or one whose table is made */
    const struct reg_node *pos;  /* where the name is defined */
    const struct reg_node *node; /* E_PATH: the N_BIND; E_LIT: the N_SET */
    struct stab *tab;            /* E_TAB */
};

/* The names of one set: an array, with a hash index once it is large. */
struct stab {
    struct sent *e;
    size_t n, cap;
    uint32_t *idx; /* slot -> entry index + 1, 0 for empty; mask + 1 slots */
    size_t mask;
    struct sent small[4]; /* e for a small set */
};

#define INDEX_FROM 8

/* name_hash: every byte, eight at a time. (eval.c's hashes variable names by three of their
 * words, which sets of "secrets/sNNNN.age" would mostly share.) */
static uint32_t
name_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15u ^ n, w;

    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdu;
        h ^= h >> 32;
    }
    for (w = 0; n > 0; n--)
        w = (w << 8) | (unsigned char)s[n - 1];
    /* a multiplication carries only upwards: shifts bring the high bits down */
    h = (h ^ w) * 0xc4ceb9fe1a85ec53u;
    h = (h ^ (h >> 29)) * 0xff51afd7ed558ccdu;
    return (uint32_t)(h ^ (h >> 32));
}

static void *
scratch(struct reg_ctx *c, size_t n)
{
    void *p = reg_arena_alloc_raw(c->arena, n);

    if (p == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "%s: out of memory", reg_file_name(c->files[0].f));
    return p;
}

static void
reindex(struct reg_ctx *c, struct stab *t)
{
    size_t slots = 16, i;

    while (slots < t->cap * 2)
        slots *= 2;
    t->idx = scratch(c, slots * sizeof(*t->idx));
    memset(t->idx, 0, slots * sizeof(*t->idx));
    t->mask = slots - 1;
    for (i = 0; i < t->n; i++) {
        size_t h = t->e[i].hash & t->mask;
        while (t->idx[h] != 0)
            h = (h + 1) & t->mask;
        t->idx[h] = (uint32_t)i + 1;
    }
}

/* tab_init: t empty, with room for expect names (in t itself for a few). */
static void
tab_init(struct reg_ctx *c, struct stab *t, size_t expect)
{
    memset(t, 0, sizeof(*t));
    t->e = t->small;
    t->cap = sizeof(t->small) / sizeof(t->small[0]);
    if (expect > t->cap) {
        t->cap = expect;
        t->e = scratch(c, t->cap * sizeof(*t->e));
        if (t->cap > INDEX_FROM)
            reindex(c, t);
    }
}

static struct stab *
tab_new(struct reg_ctx *c, size_t expect)
{
    struct stab *t = scratch(c, sizeof(*t));

    tab_init(c, t, expect);
    return t;
}

/* tab_find: the entry named name (hash h), or NULL. */
static struct sent *
tab_find(const struct stab *t, const char *name, size_t len, uint32_t h)
{
    size_t i;

    if (t->idx != NULL) {
        for (i = h & t->mask; t->idx[i] != 0; i = (i + 1) & t->mask) {
            struct sent *e = &t->e[t->idx[i] - 1];
            if (e->hash == h && e->len == len && memcmp(e->name, name, len) == 0)
                return e;
        }
        return NULL;
    }
    for (i = 0; i < t->n; i++)
        if (t->e[i].hash == h && t->e[i].len == len && memcmp(t->e[i].name, name, len) == 0)
            return &t->e[i];
    return NULL;
}

/* tab_add: adds e (not in t: tab_find first). */
static void
tab_add(struct reg_ctx *c, struct stab *t, const struct sent *e)
{
    if (t->n == t->cap) {
        size_t cap = t->cap * 2;
        struct sent *ne = scratch(c, cap * sizeof(*ne));
        memcpy(ne, t->e, t->n * sizeof(*ne));
        t->e = ne;
        t->cap = cap;
        if (cap > INDEX_FROM)
            reindex(c, t);
    }
    t->e[t->n] = *e;
    if (t->idx != NULL) {
        size_t h = e->hash & t->mask;
        while (t->idx[h] != 0)
            h = (h + 1) & t->mask;
        t->idx[h] = (uint32_t)t->n + 1;
    }
    t->n++;
}

static int
is_set(const struct sent *e)
{
    return e->kind == E_PATH || e->kind == E_LIT || e->kind == E_TAB;
}

/* already: throws "attribute 'PATH' already defined at FILE:L:C" at `at`, where PATH is
 * the elements [0, n) of the attribute path `path` (or `name` alone when path is NULL) and
 * the place is where `first` defined it. */
static _Noreturn void
already(struct reg_ctx *c, const struct reg_node *path, size_t n, const char *name, size_t len,
        const struct reg_node *at, const struct reg_node *first)
{
    char text[200];
    size_t o = 0, i;
    unsigned line, col;

    text[0] = '\0';
    if (path == NULL) {
        snprintf(text, sizeof(text), "%.*s", (int)(len > 150 ? 150 : len), name);
    } else {
        for (i = 0; i < n && o < sizeof(text) - 1; i++) {
            size_t l;
            const char *s = reg_attr_static(c, path->items[i], &l);
            if (s == NULL)
                s = "${...}", l = 6;
            o += (size_t)snprintf(text + o, sizeof(text) - o, "%s%.*s", i ? "." : "",
                                  (int)(l > 150 ? 150 : l), s);
        }
    }
    reg_linecol(first->file, reg_node_off(first), &line, &col);
    reg_throw(c, M3_EEVAL, at, "attribute '%s' already defined at %s:%u:%u", text,
              reg_file_name(first->file), line, col);
}

static void add_binds(struct reg_ctx *c, struct stab *t, const struct reg_node *set);
static void add_path(struct reg_ctx *c, struct stab *t, const struct reg_node *b, size_t from);

/* made: the table of a name that stands for a set, made from its definition if need be. */
static struct stab *
made(struct reg_ctx *c, struct sent *e)
{
    struct stab *t;

    if (e->kind == E_TAB)
        return e->tab;
    t = tab_new(c, e->kind == E_PATH ? 2 : e->node->nitems);
    if (e->kind == E_PATH)
        add_path(c, t, e->node, e->depth);
    else
        add_binds(c, t, e->node);
    e->kind = E_TAB;
    e->tab = t;
    return t;
}

/* add_path: Nix's addAttr for the binding b (`a.b.c = value;`) from its element `from`. */
static void
add_path(struct reg_ctx *c, struct stab *t, const struct reg_node *b, size_t from)
{
    const struct reg_node *path = b->a, *lit = reg_unparen(b->b);
    size_t m = path->nitems, i, len;

    for (i = from; i < m; i++) {
        const struct reg_node *at = path->items[i];
        const char *name = reg_attr_static(c, at, &len);
        struct sent *e, ne = {0};
        if (name == NULL)
            return; /* a dynamic name: a set of its own, known when evaluated */
        ne.name = name;
        ne.len = len;
        ne.hash = name_hash(name, len);
        ne.pos = at;
        e = tab_find(t, name, len, ne.hash);
        if (i + 1 < m) {
            if (e == NULL) {
                ne.kind = E_PATH;
                ne.node = b;
                ne.depth = (uint32_t)(i + 1);
                tab_add(c, t, &ne);
                return;
            }
            if (!is_set(e))
                already(c, path, m, NULL, 0, at, e->pos);
            t = made(c, e);
            continue;
        }
        if (e == NULL) {
            ne.kind = lit->kind == N_SET ? E_LIT : E_VALUE;
            ne.node = lit;
            tab_add(c, t, &ne);
            return;
        }
        if (lit->kind == N_SET && is_set(e)) {
            /* two set literals (or a path and a literal) for one name: merged */
            struct stab *into = made(c, e), *from_lit = tab_new(c, lit->nitems);
            size_t k;
            add_binds(c, from_lit, lit);
            for (k = 0; k < from_lit->n; k++) {
                const struct sent *x = &from_lit->e[k];
                const struct sent *y = tab_find(into, x->name, x->len, x->hash);
                if (y != NULL)
                    already(c, NULL, 0, x->name, x->len, x->pos, y->pos);
                tab_add(c, into, x);
            }
            return;
        }
        already(c, path, m, NULL, 0, at, e->pos);
    }
}

/* add_binds: the bindings and inherits of a set, let or `let { }` into t. */
static void
add_binds(struct reg_ctx *c, struct stab *t, const struct reg_node *set)
{
    size_t i, k, len;

    for (i = 0; i < set->nitems; i++) {
        const struct reg_node *b = set->items[i];
        if (b->kind == N_BIND) {
            add_path(c, t, b, 0);
            continue;
        }
        for (k = 0; k < b->nitems; k++) {
            const struct reg_node *at = b->items[k];
            const char *name = reg_attr_static(c, at, &len);
            struct sent ne = {0}, *e;
            if (name == NULL)
                continue; /* refused by names_only, which every binder goes through first */
            ne.hash = name_hash(name, len);
            if ((e = tab_find(t, name, len, ne.hash)) != NULL)
                already(c, NULL, 0, name, len, at, e->pos);
            ne.name = name;
            ne.len = len;
            ne.kind = E_INHERIT;
            ne.pos = at;
            tab_add(c, t, &ne);
        }
    }
}

static void
check_formals(struct reg_ctx *c, const struct reg_node *fm)
{
    struct stab tab, *t = &tab;
    size_t i, len;

    tab_init(c, t, fm->nitems);

    for (i = 0; i < fm->nitems; i++) {
        const struct reg_node *f = fm->items[i];
        const char *name = reg_tok_text(f->file, f->tok, &len);
        struct sent ne = {0};
        ne.hash = name_hash(name, len);
        if (tab_find(t, name, len, ne.hash) != NULL)
            reg_throw(c, M3_EEVAL, f, "duplicate formal function argument '%.*s'",
                      (int)(len > 150 ? 150 : len), name);
        ne.name = name;
        ne.len = len;
        ne.pos = f;
        tab_add(c, t, &ne);
    }
}

/* ---- variables ----
 *
 * Nix binds every variable when it parses (bindVars): one that no enclosing let, rec set,
 * function or `with` can give, and that is no builtin, is an error of the whole file. The
 * evaluator looks a variable up only when it evaluates it, so the whole tree is walked
 * here with its scopes. */

enum { S_BINDER, S_NAME, S_WITH };

struct scope {
    const struct scope *up;
    int kind;
    const struct reg_node *node; /* S_BINDER: a let, rec set, `let { }` or formals */
    const char *name;            /* S_NAME: a function's argument */
    size_t len;
    struct stab *tab; /* S_BINDER with many names: their table, made at the first lookup */
};

/* binder_name: the k-th name the item b of binder n defines (NULL past the last, or for a
 * dynamic name). */
static int
binder_name(struct reg_ctx *c, const struct reg_node *n, const struct reg_node *b, size_t k,
            const char **name, size_t *len)
{
    if (n->kind == N_FORMALS) {
        if (k > 0)
            return 0;
        *name = reg_tok_text(b->file, b->tok, len);
        return 1;
    }
    if (b->kind == N_BIND) {
        if (k > 0)
            return 0;
        *name = reg_attr_static(c, b->a->items[0], len);
        return 1;
    }
    if (k >= b->nitems)
        return 0;
    *name = reg_attr_static(c, b->items[k], len);
    return 1;
}

/* binder_has: whether the binder of sc defines name (hash h): a large one through a table
 * made at its first lookup. */
static int
binder_has(struct reg_ctx *c, struct scope *sc, const char *name, size_t len, uint32_t h)
{
    const struct reg_node *n = sc->node;
    const char *s;
    size_t i, k, l;

    if (n->nitems > INDEX_FROM) {
        if (sc->tab == NULL) {
            sc->tab = tab_new(c, n->nitems);
            for (i = 0; i < n->nitems; i++)
                for (k = 0; binder_name(c, n, n->items[i], k, &s, &l); k++) {
                    struct sent e = {0};
                    if (s == NULL)
                        continue;
                    e.name = s;
                    e.len = l;
                    e.hash = name_hash(s, l);
                    if (tab_find(sc->tab, s, l, e.hash) == NULL)
                        tab_add(c, sc->tab, &e);
                }
        }
        return tab_find(sc->tab, name, len, h) != NULL;
    }
    for (i = 0; i < n->nitems; i++)
        for (k = 0; binder_name(c, n, n->items[i], k, &s, &l); k++)
            if (s != NULL && l == len && memcmp(s, name, len) == 0)
                return 1;
    return 0;
}

static void
resolve(struct reg_ctx *c, const struct scope *sc, const struct reg_node *at, const char *name,
        size_t len)
{
    int with = 0;
    uint32_t h = name_hash(name, len);

    for (; sc != NULL; sc = sc->up) {
        if (sc->kind == S_WITH)
            with = 1;
        else if (sc->kind == S_NAME) {
            if (sc->len == len && memcmp(sc->name, name, len) == 0)
                return;
        } else if (binder_has(c, (struct scope *)sc, name, len, h)) {
            return;
        }
    }
    if (with || reg_global(c, name, len) || (len == 8 && memcmp(name, "__curPos", 8) == 0))
        return;
    reg_undefined(c, name, len, at);
}

static void walk(struct reg_ctx *c, const struct reg_node *n, const struct scope *sc);

/* walk_attrpath: the expressions in the dynamic elements of an attribute path. */
static void
walk_attrpath(struct reg_ctx *c, const struct reg_node *path, const struct scope *sc)
{
    size_t i;

    for (i = 0; i < path->nitems; i++)
        if (path->items[i]->kind != N_ATTR_ID)
            walk(c, path->items[i], sc);
}

/* walk_binds: the bindings of a set or let: values (and inherit sources, dynamic names) in
 * `inner`, names inherited plainly from `outer`. */
static void
walk_binds(struct reg_ctx *c, const struct reg_node *n, const struct scope *inner,
           const struct scope *outer)
{
    size_t i, k, len;

    for (i = 0; i < n->nitems; i++) {
        const struct reg_node *b = n->items[i];
        if (b->kind == N_BIND) {
            walk_attrpath(c, b->a, inner);
            walk(c, b->b, inner);
        } else if (b->a != NULL) {
            walk(c, b->a, inner);
        } else {
            for (k = 0; k < b->nitems; k++) {
                const char *name = reg_attr_static(c, b->items[k], &len);
                if (name != NULL)
                    resolve(c, outer, b->items[k], name, len);
            }
        }
    }
}

static void
walk(struct reg_ctx *c, const struct reg_node *n, const struct scope *sc)
{
    struct scope s = {0}, s2 = {0};
    size_t i, len;
    const char *name;

    if (reg_stack_low())
        reg_throw(c, M3_EEVAL, n, "expression nested too deeply");
    for (;;) {
        switch (n->kind) {
        case N_VAR:
            if (n->file->seen[n->tok / 8] >> (n->tok % 8) & 1)
                return; /* the evaluator found it */
            name = reg_tok_text(n->file, n->tok, &len);
            resolve(c, sc, n, name, len);
            return;
        case N_SET:
        case N_LET_SET:
        case N_LET:
            if (n->kind == N_SET && !n->flag) {
                walk_binds(c, n, sc, sc);
                return;
            }
            s.up = sc;
            s.kind = S_BINDER;
            s.node = n;
            walk_binds(c, n, &s, sc);
            if (n->kind == N_LET)
                walk(c, n->a, &s); /* the body (a call: s is this frame's) */
            return;
        case N_WITH:
            walk(c, n->a, sc);
            s.up = sc;
            s.kind = S_WITH;
            walk(c, n->b, &s);
            return;
        case N_LAMBDA:
            s.up = sc;
            if (n->a == NULL) {
                s.kind = S_NAME;
                s.name = reg_tok_text(n->file, n->tok, &s.len);
                sc = &s;
            } else {
                s.kind = S_BINDER;
                s.node = n->a;
                sc = &s;
                if (reg_lambda_named(n)) { /* args@{ ... } or { ... }@args */
                    s2.up = &s;
                    s2.kind = S_NAME;
                    s2.name = reg_tok_text(n->file, n->tok, &s2.len);
                    sc = &s2;
                }
                for (i = 0; i < n->a->nitems; i++)
                    if (n->a->items[i]->a != NULL)
                        walk(c, n->a->items[i]->a, sc);
            }
            walk(c, n->b, sc);
            return;
        case N_SELECT:
        case N_HASATTR:
            walk(c, n->a, sc);
            walk_attrpath(c, n->b, sc);
            if (n->kind == N_SELECT && n->c != NULL) {
                n = n->c;
                continue;
            }
            return;
        default:
            break;
        }
        /* the rest: every child in the same scope */
        if (reg_node_has_items(n->kind)) {
            if (n->a != NULL)
                walk(c, n->a, sc);
            for (i = 0; i < n->nitems; i++)
                walk(c, n->items[i], sc);
            return;
        }
        {
            struct reg_node *fixed[3];
            reg_node_fixed(n, fixed);
            if (fixed[0] == NULL)
                return;
            if (fixed[1] != NULL) {
                walk(c, fixed[0], sc);
                if (fixed[2] != NULL)
                    walk(c, fixed[1], sc);
                n = fixed[2] != NULL ? fixed[2] : fixed[1];
            } else {
                n = fixed[0];
            }
        }
    }
}

/* names_only: the checks the evaluator does not make when it builds n: no dynamic name in
 * a let, nor in an inherit. */
static void
names_only(struct reg_ctx *c, const struct reg_node *n)
{
    size_t i, k;

    if (n->kind == N_FORMALS)
        return;
    for (i = 0; i < n->nitems; i++) {
        const struct reg_node *b = n->items[i];
        if (b->kind == N_BIND) {
            if (n->kind == N_LET && !reg_attr_is_static(b->a->items[0]))
                reg_throw(c, M3_EEVAL, b->a->items[0],
                          "dynamic attributes are not allowed in let");
            continue;
        }
        for (k = 0; k < b->nitems; k++)
            if (!reg_attr_is_static(b->items[k]))
                reg_throw(c, M3_EEVAL, b->items[k],
                          "dynamic attributes are not allowed in inherit");
    }
}

static void
check_file(struct reg_ctx *c, const struct reg_loaded *l)
{
    const struct reg_file *f = l->f;
    size_t i;

    for (i = 0; i < f->nbinders; i++) {
        const struct reg_node *n = f->binders[i];
        struct reg_arena_mark m;
        names_only(c, n);
        if (l->built != NULL && (l->built[i / 8] >> (i % 8) & 1))
            continue;
        m = reg_arena_mark(c->arena);
        if (n->kind == N_FORMALS) {
            check_formals(c, n);
        } else {
            struct stab t;
            tab_init(c, &t, n->nitems);
            add_binds(c, &t, n);
        }
        reg_arena_release(c->arena, m);
    }
}

void
reg_check_rest(struct reg_ctx *c)
{
    size_t i;

    for (i = 0; i < c->nfiles; i++) {
        const struct reg_file *f = c->files[i].f;
        size_t k, n = f->ntoks / 8 + 1;
        check_file(c, &c->files[i]);
        for (k = 0; k < n && (f->vars[k] & ~f->seen[k]) == 0; k++)
            ;
        if (k < n) {
            /* a variable the evaluator never looked up: the tree, with its scopes */
            struct reg_arena_mark m = reg_arena_mark(c->arena);
            walk(c, f->root, NULL);
            reg_arena_release(c->arena, m);
        }
    }
}

int
reg_check_after(struct reg_ctx *c, int rc)
{
    jmp_buf jb, *saved = c->jmp;
    volatile int r = rc;

    c->jmp = &jb;
    if (setjmp(jb) == 0)
        reg_check_rest(c);
    else
        r = c->rc; /* its message replaces the evaluation's (if any) in c->d */
    c->jmp = saved;
    return r;
}
