/* model.c: the evaluated registry (agenix's secrets.nix model) and its validation, in the
 * spirit of ragenix's JSON schema. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/eval.h"

/* eval_json: reg_eval_json (fd < 0) and reg_eval_json_fd. */
static int
eval_json(const struct reg_file *f, const struct reg_eval_opts *opts, int fd, char **json,
          size_t *len, struct m3_diag *d)
{
    struct reg_ctx c;
    struct reg_val *v;
    int rc;

    if ((rc = reg_ctx_init(&c, f, opts, d)) != 0)
        return rc;
    if ((rc = reg_eval_run(&c, 0, &v)) != 0) {
        rc = reg_check_after(&c, rc); /* a parse error of Nix's comes first */
    } else { /* reg_json forces the rest (and checks what it did not) */
        if (v->t == V_LAMBDA || v->t == V_PRIM) {
            struct reg_span sp;
            reg_node_span(f->root->a, &sp);
            rc = m3_diag_set(d, M3_EUNSUPPORTED,
                             "%s:%u:%u: a top-level function is not supported by m3age's "
                             "evaluator (nothing calls it); use --nix to evaluate with "
                             "nix-instantiate",
                             f->name, sp.line, sp.col);
            rc = reg_check_after(&c, rc);
        } else {
            rc = reg_json(&c, v, fd, json, len);
        }
    }
    reg_ctx_free(&c);
    return rc;
}

int
reg_eval_json(const struct reg_file *f, const struct reg_eval_opts *opts, char **json, size_t *len,
              struct m3_diag *d)
{
    return eval_json(f, opts, -1, json, len, d);
}

int
reg_eval_json_fd(const struct reg_file *f, const struct reg_eval_opts *opts, int fd,
                 struct m3_diag *d)
{
    return eval_json(f, opts, fd, NULL, NULL, d);
}

static const char *
intern_file(struct reg_ctx *c, struct reg_registry *r, const char *name)
{
    size_t i;
    char **files, *copy;

    for (i = 0; i < r->nfiles; i++)
        if (strcmp(r->files[i], name) == 0)
            return r->files[i];
    files = realloc(r->files, (r->nfiles + 1) * sizeof(*files));
    if (files == NULL || (copy = strdup(name)) == NULL) {
        if (files != NULL)
            r->files = files;
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    }
    r->files = files;
    r->files[r->nfiles++] = copy;
    return copy;
}

static void
span_of(struct reg_ctx *c, struct reg_registry *r, const struct reg_node *n, struct reg_span *sp)
{
    struct reg_span_slot *slot;
    const struct reg_file *f;
    size_t off, line;

    if (n == NULL) {
        memset(sp, 0, sizeof(*sp));
        return;
    }
    slot = &c->span_cache[((uintptr_t)n >> 4) % REG_SPAN_SLOTS]; /* nodes are 16-aligned */
    if (slot->n == n) {
        *sp = slot->sp;
        return;
    }
    f = n->file;
    if (f != c->last_file) {
        if (reg_file_lines(f) != 0)
            reg_throw(c, M3_ENOMEM, NULL, "out of memory");
        c->last_name = intern_file(c, r, f->name);
        c->last_file = f;
        c->line_hint = 0;
    }
    off = reg_node_off(n);
    sp->file = c->last_name;
    sp->off = off;
    sp->len = reg_node_end(n) - off;
    /* spans are asked for mostly in source order: try the last line and the next first */
    line = c->line_hint;
    if (line < f->nlines && f->lines[line] <= off &&
        (line + 1 == f->nlines || off < f->lines[line + 1])) {
    } else if (line + 1 < f->nlines && f->lines[line + 1] <= off &&
               (line + 2 == f->nlines || off < f->lines[line + 2])) {
        line++;
    } else {
        unsigned l, col;
        reg_linecol(f, off, &l, &col);
        line = l - 1;
    }
    c->line_hint = line;
    sp->line = (unsigned)line + 1;
    sp->col = (unsigned)(off - f->lines[line]) + 1;
    slot->n = n;
    slot->sp = *sp;
}

/* Strings and arrays of the registry live in its own arena (r->priv), freed at once. */

static char *
xstrndup(struct reg_ctx *c, const char *s, size_t n)
{
    char *p = reg_arena_strndup(c->reg->priv, s, n);

    if (p == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    return p;
}

static void *
xcalloc(struct reg_ctx *c, size_t n, size_t size)
{
    void *p = reg_arena_alloc(c->reg->priv, (n ? n : 1) * size);

    if (p == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    return p;
}

/* key_copy: the registry's copy of a key string; entries sharing a key (the usual case:
 * let-bound keys in many lists) share one copy. */
static char *
key_copy(struct reg_ctx *c, const struct reg_val *k)
{
    size_t slot = ((uintptr_t)k->str.s >> 3) % REG_KEY_SLOTS;

    if (c->key_cache[slot].s == k->str.s)
        return c->key_cache[slot].copy;
    c->key_cache[slot].s = k->str.s;
    c->key_cache[slot].copy = xstrndup(c, k->str.s, k->str.n);
    return c->key_cache[slot].copy;
}

static void
warn(struct reg_ctx *c, struct reg_registry *r, const struct reg_node *at, const char *name,
     const char *attr)
{
    struct reg_warning *w = realloc(r->warnings, (r->nwarnings + 1) * sizeof(*w));
    char msg[200];

    if (w == NULL)
        reg_throw(c, M3_ENOMEM, NULL, "out of memory");
    r->warnings = w;
    w = &r->warnings[r->nwarnings++];
    memset(w, 0, sizeof(*w));
    span_of(c, r, at, &w->span);
    snprintf(msg, sizeof(msg), "'%s': unknown attribute '%s' (agenix uses publicKeys and armor)",
             name, attr);
    if (at != NULL)
        snprintf(w->msg, sizeof(w->msg), "%s:%u:%u: %s", w->span.file, w->span.line, w->span.col,
                 msg);
    else
        snprintf(w->msg, sizeof(w->msg), "%s", msg);
}

/* trailing_comment: the `# ...` comment after the string literal n on its line, or NULL. */
static char *
trailing_comment(struct reg_ctx *c, const struct reg_node *n)
{
    const struct reg_file *f;
    size_t i, end;

    if (n == NULL || (n->kind != N_STR && n->kind != N_IND_STR))
        return NULL;
    f = n->file;
    for (i = reg_node_end(n); i < f->len && (f->src[i] == ' ' || f->src[i] == '\t'); i++)
        ;
    if (i >= f->len || f->src[i] != '#')
        return NULL;
    for (i++; i < f->len && (f->src[i] == ' ' || f->src[i] == '\t'); i++)
        ;
    for (end = i; end < f->len && f->src[end] != '\n' && f->src[end] != '\r'; end++)
        ;
    while (end > i && (f->src[end - 1] == ' ' || f->src[end - 1] == '\t'))
        end--;
    return end > i ? xstrndup(c, f->src + i, end - i) : NULL;
}

static void
load_entry(struct reg_ctx *c, struct reg_registry *r, const struct reg_attr *a, struct reg_entry *e,
           const struct reg_node **binds, size_t nbinds)
{
    struct reg_val *v = a->v, *keys;
    const struct reg_attr *pk, *armor;
    size_t i;

    e->name = xstrndup(c, a->name, a->len);
    span_of(c, r, a->pos, &e->name_span);
    e->span = e->name_span;
    if (binds != NULL && a->pos != NULL) {
        /* binds are in source order: find the one whose first name is a->pos */
        size_t lo = 0, hi = nbinds;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            const struct reg_node *k = binds[mid]->a->items[0];
            if (k == a->pos) {
                span_of(c, r, binds[mid], &e->span);
                break;
            }
            if (k->file != a->pos->file)
                break;
            if (k->t0 < a->pos->t0)
                lo = mid + 1;
            else
                hi = mid;
        }
    }
    reg_force(c, v, a->pos);
    if (v->t != V_SET)
        reg_throw(c, M3_EINVAL, a->pos,
                  "'%s': value is %s, expected a set with publicKeys and optional armor", e->name,
                  reg_type_name(v));
    pk = reg_set_get(v->set, "publicKeys", 10);
    if (pk == NULL)
        reg_throw(c, M3_EINVAL, a->pos, "'%s': publicKeys is missing", e->name);
    keys = pk->v;
    reg_force(c, keys, pk->pos);
    if (keys->t != V_LIST)
        reg_throw(c, M3_EINVAL, pk->pos, "'%s': publicKeys is %s, expected a list of strings",
                  e->name, reg_type_name(keys));
    if (keys->list.n == 0)
        reg_throw(c, M3_EINVAL, pk->pos, "'%s': publicKeys is empty", e->name);
    span_of(c, r, keys->src, &e->keys_span);
    e->keys = xcalloc(c, keys->list.n, sizeof(*e->keys));
    e->key_spans = xcalloc(c, keys->list.n, sizeof(*e->key_spans));
    e->key_comments = xcalloc(c, keys->list.n, sizeof(*e->key_comments));
    for (i = 0; i < keys->list.n; i++) {
        struct reg_val *k = keys->list.v[i];
        reg_force(c, k, pk->pos);
        if (k->t != V_STR)
            reg_throw(c, M3_EINVAL, k->src != NULL ? k->src : pk->pos,
                      "'%s': publicKeys element %zu is %s, expected a string", e->name, i + 1,
                      reg_type_name(k));
        e->keys[i] = key_copy(c, k);
        e->key_comments[i] = trailing_comment(c, k->src);
        e->nkeys = i + 1;
        span_of(c, r, k->src != NULL ? k->src : pk->pos, &e->key_spans[i]);
    }
    armor = reg_set_get(v->set, "armor", 5);
    if (armor != NULL) {
        reg_force(c, armor->v, armor->pos);
        if (armor->v->t != V_BOOL)
            reg_throw(c, M3_EINVAL, armor->pos, "'%s': armor is %s, expected a Boolean", e->name,
                      reg_type_name(armor->v));
        e->armor = armor->v->b;
        e->has_armor = true;
    }
    for (i = 0; i < v->set->n; i++) {
        const struct reg_attr *x = &v->set->a[i];
        if (x == pk || x == armor)
            continue;
        warn(c, r, x->pos, e->name, x->name);
    }
}

static void
load_keybinds(struct reg_ctx *c, struct reg_registry *r)
{
    const struct reg_node *let = c->top_let;
    size_t i, k;

    if (let == NULL || c->top_let_env == NULL)
        return;
    r->keybinds = xcalloc(c, let->nitems, sizeof(*r->keybinds));
    for (i = 0; i < let->nitems; i++) {
        const struct reg_node *b = let->items[i];
        const struct reg_attr *a;
        struct reg_keybind *kb;
        size_t len;
        const char *name;
        int ok = 1;
        if (b->kind != N_BIND || b->a->nitems != 1 || b->a->items[0]->kind != N_ATTR_ID)
            continue;
        name = reg_tok_text(b->file, b->a->items[0]->tok, &len);
        a = reg_set_get(c->top_let_env->vars, name, len);
        if (a == NULL || reg_eval_try(c, a->v, 0) != 0)
            continue;
        if (a->v->t == V_LIST) {
            for (k = 0; k < a->v->list.n && ok; k++)
                ok = reg_eval_try(c, a->v->list.v[k], 0) == 0 && a->v->list.v[k]->t == V_STR;
        } else {
            ok = a->v->t == V_STR;
        }
        if (!ok)
            continue;
        kb = &r->keybinds[r->nkeybinds++];
        kb->name = xstrndup(c, name, len);
        kb->is_list = a->v->t == V_LIST;
        span_of(c, r, b, &kb->span);
        span_of(c, r, b->b, &kb->value_span);
        if (kb->is_list) {
            kb->values = xcalloc(c, a->v->list.n, sizeof(*kb->values));
            for (k = 0; k < a->v->list.n; k++) {
                kb->values[k] = xstrndup(c, a->v->list.v[k]->str.s, a->v->list.v[k]->str.n);
                kb->nvalues = k + 1;
            }
        } else {
            kb->values = xcalloc(c, 1, sizeof(*kb->values));
            kb->values[0] = xstrndup(c, a->v->str.s, a->v->str.n);
            kb->nvalues = 1;
        }
    }
}

#define KEYPATH_DEPTH 4   /* `keys.users.admins.alice`, no deeper */
#define KEYPATH_MAX 10000 /* strings recorded per registry */

static bool
is_ident(const char *s, size_t n)
{
    if (n == 0 || !(s[0] == '_' || (s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')))
        return false;
    for (size_t i = 1; i < n; i++)
        if (!(s[i] == '_' || s[i] == '-' || s[i] == '\'' || (s[i] >= 'a' && s[i] <= 'z') ||
              (s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
            return false;
    return true;
}

/* walk_keypaths: records the strings of set v under path (plen bytes of buf), forcing each
 * attribute with errors caught: a binding the registry never uses may fail to evaluate. */
static void
walk_keypaths(struct reg_ctx *c, struct reg_registry *r, struct reg_val *v, char *buf, size_t cap,
              size_t plen, int depth)
{
    for (size_t i = 0; i < v->set->n && r->nkeypaths < KEYPATH_MAX; i++) {
        const struct reg_attr *a = &v->set->a[i];
        bool id = is_ident(a->name, a->len);
        size_t need = plen + 1 + a->len + (id ? 0 : 2);
        struct reg_keypath *kp;
        if (need + 1 > cap || memchr(a->name, '"', a->len) || memchr(a->name, '\\', a->len) ||
            reg_eval_try(c, a->v, 0) != 0)
            continue;
        snprintf(buf + plen, cap - plen, id ? ".%.*s" : ".\"%.*s\"", (int)a->len, a->name);
        if (a->v->t == V_SET && depth < KEYPATH_DEPTH) {
            walk_keypaths(c, r, a->v, buf, cap, need, depth + 1);
        } else if (a->v->t == V_STR) {
            if ((r->nkeypaths & (r->nkeypaths - 1)) == 0) {
                kp = realloc(r->keypaths, (r->nkeypaths ? r->nkeypaths * 2 : 1) * sizeof(*kp));
                if (kp == NULL)
                    reg_throw(c, M3_ENOMEM, NULL, "out of memory");
                r->keypaths = kp;
            }
            kp = &r->keypaths[r->nkeypaths++];
            kp->path = xstrndup(c, buf, need);
            kp->value = xstrndup(c, a->v->str.s, a->v->str.n);
        }
        buf[plen] = '\0';
    }
}

static int
keypath_cmp(const void *a, const void *b)
{
    return strcmp(((const struct reg_keypath *)a)->path, ((const struct reg_keypath *)b)->path);
}

/* load_keypaths: the strings inside attribute sets bound in the top-level let. */
static void
load_keypaths(struct reg_ctx *c, struct reg_registry *r)
{
    const struct reg_set *vars;
    char buf[512];

    if (c->top_let_env == NULL || (vars = c->top_let_env->vars) == NULL)
        return;
    for (size_t i = 0; i < vars->n && r->nkeypaths < KEYPATH_MAX; i++) {
        const struct reg_attr *a = &vars->a[i];
        if (a->len + 1 > sizeof(buf) || !is_ident(a->name, a->len) ||
            reg_eval_try(c, a->v, 0) != 0 || a->v->t != V_SET)
            continue;
        memcpy(buf, a->name, a->len);
        buf[a->len] = '\0';
        walk_keypaths(c, r, a->v, buf, sizeof(buf), a->len, 1);
    }
    if (r->nkeypaths > 1)
        qsort(r->keypaths, r->nkeypaths, sizeof(*r->keypaths), keypath_cmp);
}

int
reg_registry_load(const struct reg_file *f, const struct reg_eval_opts *opts,
                  struct reg_registry **out, struct m3_diag *d)
{
    struct reg_ctx c;
    struct reg_registry *volatile r = NULL;
    struct reg_val *v;
    const struct reg_node *top, **volatile binds = NULL;
    size_t nbinds = 0, i;
    jmp_buf jb;
    int rc;

    *out = NULL;
    if ((rc = reg_ctx_init(&c, f, opts, d)) != 0)
        return rc;
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->path = strdup(f->name)) == NULL ||
        (r->priv = reg_arena_new_for(f->len * 12)) == NULL) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    c.reg = r;
    if ((c.span_cache = reg_arena_alloc(c.arena, REG_SPAN_SLOTS * sizeof(*c.span_cache))) == NULL ||
        (c.key_cache = reg_arena_alloc(c.arena, REG_KEY_SLOTS * sizeof(*c.key_cache))) == NULL) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = reg_eval_run(&c, 0, &v)) != 0) {
        rc = reg_check_after(&c, rc); /* a parse error of Nix's comes first */
        goto out;
    }
    c.jmp = &jb;
    if (setjmp(jb) != 0) {
        rc = c.rc;
        goto out;
    }
    top = reg_top_body(f);
    r->computed = top->kind != N_SET;
    if (v->t == V_LAMBDA || v->t == V_PRIM)
        reg_unsupported(&c, f->root->a, "a top-level function", "nothing calls it");
    if (v->t != V_SET)
        reg_throw(&c, M3_EINVAL, f->root->a, "the registry is %s, expected a set of secrets",
                  reg_type_name(v));
    if (!r->computed) {
        binds = xcalloc(&c, top->nitems, sizeof(*binds));
        for (i = 0; i < top->nitems; i++)
            if (top->items[i]->kind == N_BIND)
                binds[nbinds++] = top->items[i];
    }
    r->entries = xcalloc(&c, v->set->n, sizeof(*r->entries));
    for (i = 0; i < v->set->n; i++) {
        r->nentries = i + 1;
        load_entry(&c, r, &v->set->a[i], &r->entries[i], binds, nbinds);
    }
    load_keybinds(&c, r);
    load_keypaths(&c, r);
    reg_check_rest(&c); /* the names of what was not evaluated */
    *out = r;
    r = NULL;
    rc = 0;
out:
    reg_registry_free(r);
    reg_ctx_free(&c);
    return rc;
}

void
reg_registry_free(struct reg_registry *r)
{
    size_t i;

    if (r == NULL)
        return;
    reg_arena_free(r->priv);
    free(r->warnings);
    free(r->keypaths);
    for (i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    free(r->path);
    free(r);
}

const struct reg_entry *
reg_registry_find(const struct reg_registry *r, const char *name)
{
    size_t lo = 0, hi = r->nentries;

    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int k = strcmp(r->entries[mid].name, name);
        if (k == 0)
            return &r->entries[mid];
        if (k < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

const struct reg_keybind *
reg_registry_keybind(const struct reg_registry *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nkeybinds; i++)
        if (strcmp(r->keybinds[i].name, name) == 0)
            return &r->keybinds[i];
    return NULL;
}
