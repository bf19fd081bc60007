/* parser.c: the Nix grammar (Nix 2.8's parser.y) as recursive descent with operator
 * precedence, building struct reg_node trees over the token array. */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/syntax.h"

/* Operator levels, lowest first, as in parser.y's %left/%right/%nonassoc list. */
enum {
    L_IMPL = 1,
    L_OR,
    L_AND,
    L_EQ,
    L_CMP,
    L_UPDATE,
    L_NOT,
    L_ADD,
    L_MUL,
    L_CONCAT,
    L_HAS,
    L_NEG,
};

enum assoc { A_LEFT, A_RIGHT, A_NONE };

struct parser {
    struct reg_file *f;
    const struct reg_token *t;
    uint32_t pos;
    struct reg_arena *arena;
    struct m3_diag *d;
    jmp_buf fail;
    int rc;
    unsigned depth;
    /* The children of the lists being parsed, innermost last: a list's items are pushed
     * here and copied to the arena, exactly sized, when it ends (lists nest, so they pop in
     * order). */
    struct reg_node **stk;
    size_t nstk, capstk;
    size_t capbind;     /* room of f->binders */
    unsigned semi_line; /* fail_semi's guess: the line missing its ';' (0: none) */
};

/* A list of children being parsed: where its items start on the parser's stack. */
struct vec {
    size_t mark;
    int started;
};

static struct reg_node *parse_expr(struct parser *p);
static struct reg_node *parse_select(struct parser *p);

static _Noreturn void
fail_code(struct parser *p, int rc)
{
    p->rc = rc;
    longjmp(p->fail, 1);
}

static _Noreturn void
fail_at(struct parser *p, uint32_t tok, const char *expected)
{
    const struct reg_token *t = &p->t[tok];
    unsigned line, col;
    char what[64];

    reg_linecol(p->f, t->off, &line, &col);
    if (t->kind == TK_EOF)
        snprintf(what, sizeof(what), "end of file");
    else
        snprintf(what, sizeof(what), "'%.*s'", t->len > 24 ? 24 : (int)t->len, p->f->src + t->off);
    if (p->d != NULL) {
        p->d->line = line;
        p->d->col = col;
    }
    if (expected != NULL)
        m3_diag_set(p->d, M3_ESYNTAX, "%s:%u:%u: unexpected %s, expected %s", p->f->name, line, col,
                    what, expected);
    else
        m3_diag_set(p->d, M3_ESYNTAX, "%s:%u:%u: unexpected %s", p->f->name, line, col, what);
    if (p->semi_line > 0)
        m3_diag_hint(p->d, "missing ';' at the end of line %u?", p->semi_line);
    fail_code(p, M3_ESYNTAX);
}

/* fail_deep: the error of an expression nested deeper than REG_MAX_NEST, at token tok. */
static _Noreturn void
fail_deep(struct parser *p, uint32_t tok)
{
    unsigned line, col;

    reg_linecol(p->f, p->t[tok].off, &line, &col);
    if (p->d != NULL) {
        p->d->line = line;
        p->d->col = col;
    }
    m3_diag_set(p->d, M3_ESYNTAX, "%s:%u:%u: expression nested too deeply", p->f->name, line, col);
    fail_code(p, M3_ESYNTAX);
}

/* deeper: one more call on the parser's own recursion. Each level of the tree costs at most
 * two counted calls (parse_expr then parse_op), so this stops only what finish() would
 * refuse anyway, but before the recursion itself can exhaust the stack. */
static void
deeper(struct parser *p)
{
    if (++p->depth > 2 * REG_MAX_NEST + 8)
        fail_deep(p, p->pos);
}

static enum reg_tok
peek(const struct parser *p, uint32_t ahead)
{
    uint32_t i = p->pos + ahead;

    for (uint32_t k = p->pos; k < i; k++)
        if (p->t[k].kind == TK_EOF)
            return TK_EOF;
    return p->t[i].kind;
}

static uint32_t
expect(struct parser *p, enum reg_tok k, const char *name)
{
    if (p->t[p->pos].kind != k)
        fail_at(p, p->pos, name);
    return p->pos++;
}

static inline __attribute__((always_inline)) struct reg_node *
node(struct parser *p, enum reg_nkind kind, uint32_t t0)
{
    struct reg_node *n = reg_arena_alloc(p->arena, sizeof(*n));

    if (n == NULL)
        fail_code(p, M3_ENOMEM);
    n->kind = kind;
    n->t0 = t0;
    n->t1 = t0;
    n->file = p->f;
    return n;
}

static inline __attribute__((always_inline)) void
vec_push(struct parser *p, struct vec *v, struct reg_node *n)
{
    if (!v->started) {
        v->mark = p->nstk;
        v->started = 1;
    }
    if (p->nstk == p->capstk) {
        /* in the arena too: the old stack is left there (a parse is freed at once) */
        size_t cap = p->capstk ? p->capstk * 2 : 256;
        struct reg_node **ns = reg_arena_alloc_raw(p->arena, cap * sizeof(*ns));
        if (ns == NULL)
            fail_code(p, M3_ENOMEM);
        if (p->nstk)
            memcpy(ns, p->stk, p->nstk * sizeof(*ns));
        p->stk = ns;
        p->capstk = cap;
    }
    p->stk[p->nstk++] = n;
}

/* set_items: gives n the items of v (popped from the stack) in an array of their size. */
static void
set_items(struct parser *p, struct reg_node *n, struct vec *v)
{
    size_t k;

    if (!v->started || p->nstk == v->mark)
        return;
    k = p->nstk - v->mark;
    if ((n->items = reg_arena_alloc_raw(p->arena, k * sizeof(*n->items))) == NULL)
        fail_code(p, M3_ENOMEM);
    if (k <= 4) /* the usual list: a name, a string's one part, a few keys */
        for (size_t i = 0; i < k; i++)
            n->items[i] = p->stk[v->mark + i];
    else
        memcpy(n->items, p->stk + v->mark, k * sizeof(*n->items));
    n->nitems = k;
    p->nstk = v->mark;
}

/* binder: records n (a set, let or formals, its items set) in f->binders: these are the
 * nodes whose names Nix checks when it parses (registry/binds.c), in the order Nix's parser
 * finishes them, inner ones first. */
static void
binder(struct parser *p, struct reg_node *n)
{
    struct reg_file *f = p->f;

    if (f->nbinders == p->capbind) {
        size_t cap = p->capbind ? p->capbind * 2 : 64;
        struct reg_node **nb = reg_arena_alloc_raw(p->arena, cap * sizeof(*nb));
        if (nb == NULL)
            fail_code(p, M3_ENOMEM);
        if (f->nbinders)
            memcpy(nb, f->binders, f->nbinders * sizeof(*nb));
        f->binders = nb;
        p->capbind = cap;
    }
    n->tok = (uint32_t)f->nbinders; /* these kinds have no token of their own */
    f->binders[f->nbinders++] = n;
}

/* finish: n ends at the token before p->pos. Its height is one more than its deepest
 * child's, a binding's value counting one level more for each name of its path after the
 * first (`a.b.c = v` makes sets that deep); it must stay within REG_MAX_NEST (a tree also
 * grows without recursion: `1 + 1 + ...` and `f x x ...` nest to the left in a loop). */
static void
finish(struct parser *p, struct reg_node *n)
{
    struct reg_node *fixed[3];
    size_t h = 0, i, k = reg_node_nitems(n);

    n->t1 = p->pos - 1;
    reg_node_fixed(n, fixed);
    for (i = 0; i < 3; i++)
        if (fixed[i] != NULL && fixed[i]->height >= h)
            h = (size_t)fixed[i]->height + 1;
    for (i = 0; i < k; i++)
        if (n->items[i]->height >= h)
            h = (size_t)n->items[i]->height + 1;
    if (n->kind == N_BIND && n->b->height + n->a->nitems > h)
        h = n->b->height + n->a->nitems;
    if (h > REG_MAX_NEST)
        fail_deep(p, n->t1); /* where it got too deep: a chain's last operand */
    n->height = (uint16_t)h;
}

/* parse_parts: the parts of a string or interpolated path up to the `close` token (literal
 * runs and ${...}), consumed with it; n gets them as its items. */
static struct reg_node *
parse_parts(struct parser *p, struct reg_node *n, struct vec *v, enum reg_tok close,
            const char *what)
{
    for (;;) {
        enum reg_tok k = p->t[p->pos].kind;
        struct reg_node *part;
        if (k == close)
            break;
        if (k == TK_STR_PART) {
            part = node(p, N_STRLIT, p->pos);
            part->tok = p->pos++;
        } else if (k == TK_DOLLAR_CURLY) {
            part = node(p, N_INTERP, p->pos++);
            part->a = parse_expr(p);
            expect(p, TK_RBRACE, "'}'");
            finish(p, part);
        } else {
            fail_at(p, p->pos, what);
        }
        vec_push(p, v, part);
    }
    p->pos++;
    set_items(p, n, v);
    finish(p, n);
    return n;
}

static struct reg_node *
parse_string(struct parser *p, enum reg_tok open, enum reg_tok close, enum reg_nkind kind)
{
    struct reg_node *n = node(p, kind, p->pos), *part;
    struct vec v = {0};

    expect(p, open, open == TK_STR_OPEN ? "'\"'" : "''");
    if (p->t[p->pos].kind == TK_STR_PART && p->t[p->pos + 1].kind == close) {
        /* the usual string, one literal run ("secrets/wifi.age", a key): its one item
         * without the general path's stack (tokens end with EOF, so pos + 1 exists) */
        if ((n->items = reg_arena_alloc_raw(p->arena, sizeof(*n->items))) == NULL)
            fail_code(p, M3_ENOMEM);
        part = node(p, N_STRLIT, p->pos);
        part->tok = p->pos;
        n->items[0] = part;
        n->nitems = 1;
        p->pos += 2;
        finish(p, n);
        return n;
    }
    return parse_parts(p, n, &v, close, "end of string");
}

static struct reg_node *
parse_attr(struct parser *p)
{
    struct reg_node *n;

    switch (p->t[p->pos].kind) {
    case TK_ID:
    case TK_OR_KW:
        n = node(p, N_ATTR_ID, p->pos);
        n->tok = p->pos++;
        return n;
    case TK_STR_OPEN:
        return parse_string(p, TK_STR_OPEN, TK_STR_CLOSE, N_STR);
    case TK_DOLLAR_CURLY:
        n = node(p, N_INTERP, p->pos++);
        n->a = parse_expr(p);
        expect(p, TK_RBRACE, "'}'");
        finish(p, n);
        return n;
    default:
        fail_at(p, p->pos, "attribute name");
    }
}

static struct reg_node *
parse_attrpath(struct parser *p)
{
    struct reg_node *n = node(p, N_ATTRPATH, p->pos);
    struct vec v = {0};

    vec_push(p, &v, parse_attr(p));
    while (p->t[p->pos].kind == TK_DOT) {
        p->pos++;
        vec_push(p, &v, parse_attr(p));
    }
    set_items(p, n, &v);
    finish(p, n);
    return n;
}

static unsigned
tok_line(const struct parser *p, uint32_t i)
{
    unsigned line, col;

    reg_linecol(p->f, p->t[i].off, &line, &col);
    return line;
}

/* fail_semi: a binding or inherit whose first token is v0 has no ';' at p->pos. When the
 * token there starts its line, or ends an attribute path that starts it (`"x".publicKeys`
 * then `=`), and that line's first token was taken into the binding, the ';' is most likely
 * missing at the end of the line before: Nix reads `[ k ]\n  "y".publicKeys` as an
 * application and stops only at the `=`. The diag then carries that guess as a hint. */
static _Noreturn void
fail_semi(struct parser *p, uint32_t v0)
{
    uint32_t e = p->pos, s = e;
    unsigned line = tok_line(p, e), prev, col;
    const struct reg_token *t;

    while (s > v0 && tok_line(p, s - 1) == line)
        s--;
    for (uint32_t i = s; i < e && p->t[e].kind == TK_ASSIGN; i++)
        switch (p->t[i].kind) {
        case TK_ID:
        case TK_OR_KW:
        case TK_DOT:
        case TK_STR_OPEN:
        case TK_STR_PART:
        case TK_STR_CLOSE:
            break;
        default:
            s = v0; /* not an attribute path: no guess */
        }
    if (s > v0 && (s == e || p->t[e].kind == TK_ASSIGN) && p->t[s - 1].kind != TK_SEMI) {
        t = &p->t[s - 1];
        /* the line where that token ends (a string may span lines) */
        reg_linecol(p->f, t->off + (t->len > 0 ? t->len - 1 : 0), &prev, &col);
        p->semi_line = prev;
    }
    fail_at(p, e, "';'");
}

/* binds up to (not including) `}` or `in`. */
static void
parse_binds(struct parser *p, struct vec *v, enum reg_tok end)
{
    struct reg_node *b;

    while (p->t[p->pos].kind != end) {
        if (p->t[p->pos].kind == TK_INHERIT) {
            struct vec names = {0};
            b = node(p, N_INHERIT, p->pos++);
            if (p->t[p->pos].kind == TK_LPAREN) {
                p->pos++;
                b->a = parse_expr(p);
                expect(p, TK_RPAREN, "')'");
            }
            while (p->t[p->pos].kind != TK_SEMI) {
                enum reg_tok k = p->t[p->pos].kind;
                if (k != TK_ID && k != TK_OR_KW && k != TK_STR_OPEN && k != TK_DOLLAR_CURLY)
                    fail_semi(p, b->t0 + 1);
                vec_push(p, &names, parse_attr(p));
            }
            p->pos++;
            set_items(p, b, &names);
        } else {
            enum reg_tok k = p->t[p->pos].kind;
            if (k != TK_ID && k != TK_OR_KW && k != TK_STR_OPEN && k != TK_DOLLAR_CURLY)
                fail_at(p, p->pos, end == TK_IN ? "'in'" : "'}'");
            b = node(p, N_BIND, p->pos);
            b->a = parse_attrpath(p);
            expect(p, TK_ASSIGN, "'='");
            b->b = parse_expr(p);
            if (p->t[p->pos].kind != TK_SEMI)
                fail_semi(p, b->b->t0);
            p->pos++;
        }
        finish(p, b);
        vec_push(p, v, b);
    }
}

static struct reg_node *
parse_set(struct parser *p, enum reg_nkind kind, uint32_t t0, int rec)
{
    struct reg_node *n = node(p, kind, t0);
    struct vec v = {0};

    expect(p, TK_LBRACE, "'{'");
    parse_binds(p, &v, TK_RBRACE);
    p->pos++;
    n->flag = rec;
    set_items(p, n, &v);
    binder(p, n);
    finish(p, n);
    return n;
}

static struct reg_node *
leaf(struct parser *p, enum reg_nkind kind)
{
    struct reg_node *n = node(p, kind, p->pos);

    n->tok = p->pos++;
    return n;
}

/* var: a variable (recorded in f->vars). */
static struct reg_node *
var(struct parser *p)
{
    p->f->vars[p->pos / 8] |= (unsigned char)(1u << (p->pos % 8));
    return leaf(p, N_VAR);
}

static struct reg_node *
parse_simple(struct parser *p)
{
    struct reg_node *n;
    struct vec v = {0};
    uint32_t t0 = p->pos;

    switch (p->t[p->pos].kind) {
    case TK_ID:
        return var(p);
    case TK_INT:
        return leaf(p, N_INT);
    case TK_FLOAT:
        return leaf(p, N_FLOAT);
    case TK_PATH:
        return leaf(p, N_PATH);
    case TK_HPATH:
        return leaf(p, N_HPATH);
    case TK_SPATH:
        return leaf(p, N_SPATH);
    case TK_URI:
        return leaf(p, N_URI);
    case TK_STR_OPEN:
        return parse_string(p, TK_STR_OPEN, TK_STR_CLOSE, N_STR);
    case TK_IND_OPEN:
        return parse_string(p, TK_IND_OPEN, TK_IND_CLOSE, N_IND_STR);
    case TK_PATH_START:
        n = node(p, N_PATH_INTERP, p->pos);
        vec_push(p, &v, leaf(p, N_STRLIT));
        return parse_parts(p, n, &v, TK_PATH_END, "end of path");
    case TK_LPAREN:
        n = node(p, N_PAREN, p->pos++);
        n->a = parse_expr(p);
        expect(p, TK_RPAREN, "')'");
        finish(p, n);
        return n;
    case TK_LET:
        p->pos++;
        return parse_set(p, N_LET_SET, t0, 0);
    case TK_REC:
        p->pos++;
        return parse_set(p, N_SET, t0, 1);
    case TK_LBRACE:
        return parse_set(p, N_SET, t0, 0);
    case TK_LBRACK:
        n = node(p, N_LIST, p->pos++);
        deeper(p); /* lists nest through parse_select alone */
        while (p->t[p->pos].kind != TK_RBRACK) {
            if (p->t[p->pos].kind == TK_EOF)
                fail_at(p, p->pos, "']'");
            vec_push(p, &v, parse_select(p));
        }
        p->depth--;
        p->pos++;
        set_items(p, n, &v);
        finish(p, n);
        return n;
    default:
        fail_at(p, p->pos, NULL);
    }
}

static int
starts_simple(const struct parser *p)
{
    switch (p->t[p->pos].kind) {
    case TK_ID:
    case TK_INT:
    case TK_FLOAT:
    case TK_PATH:
    case TK_PATH_START:
    case TK_HPATH:
    case TK_SPATH:
    case TK_URI:
    case TK_STR_OPEN:
    case TK_IND_OPEN:
    case TK_LPAREN:
    case TK_REC:
    case TK_LBRACE:
    case TK_LBRACK:
        return 1;
    case TK_LET:
        return peek(p, 1) == TK_LBRACE;
    default:
        return 0;
    }
}

static struct reg_node *
parse_select(struct parser *p)
{
    uint32_t t0 = p->pos;
    struct reg_node *s = parse_simple(p), *n;

    if (p->t[p->pos].kind == TK_DOT) {
        p->pos++;
        n = node(p, N_SELECT, t0);
        n->a = s;
        n->b = parse_attrpath(p);
        if (p->t[p->pos].kind == TK_OR_KW) {
            p->pos++;
            deeper(p); /* `a.x or a.x or ...` nests through parse_select alone */
            n->c = parse_select(p);
            p->depth--;
        }
        finish(p, n);
        return n;
    }
    if (p->t[p->pos].kind == TK_OR_KW) {
        /* legacy: `f or` applies f to a variable named "or" */
        n = node(p, N_APP, t0);
        n->a = s;
        n->b = var(p);
        finish(p, n);
        return n;
    }
    return s;
}

static struct reg_node *
parse_app(struct parser *p)
{
    uint32_t t0 = p->pos;
    struct reg_node *f = parse_select(p), *n;

    while (starts_simple(p)) {
        n = node(p, N_APP, t0);
        n->a = f;
        n->b = parse_select(p);
        finish(p, n);
        f = n;
    }
    return f;
}

static int
binop_level(enum reg_tok k, enum assoc *as)
{
    *as = A_LEFT;
    switch (k) {
    case TK_IMPL:
        *as = A_RIGHT;
        return L_IMPL;
    case TK_OR:
        return L_OR;
    case TK_AND:
        return L_AND;
    case TK_EQ:
    case TK_NEQ:
        *as = A_NONE;
        return L_EQ;
    case TK_LT:
    case TK_GT:
    case TK_LEQ:
    case TK_GEQ:
        *as = A_NONE;
        return L_CMP;
    case TK_UPDATE:
        *as = A_RIGHT;
        return L_UPDATE;
    case TK_PLUS:
    case TK_MINUS:
        return L_ADD;
    case TK_STAR:
    case TK_SLASH:
        return L_MUL;
    case TK_CONCAT:
        *as = A_RIGHT;
        return L_CONCAT;
    case TK_QUESTION:
        *as = A_NONE;
        return L_HAS;
    default:
        return 0;
    }
}

static struct reg_node *
parse_op(struct parser *p, int min)
{
    uint32_t t0 = p->pos;
    struct reg_node *lhs, *n;
    enum assoc as;
    int level, last_none = 0;

    deeper(p);
    if (p->t[p->pos].kind == TK_NOT) {
        lhs = node(p, N_NOT, p->pos++);
        lhs->a = parse_op(p, L_NOT + 1);
        finish(p, lhs);
    } else if (p->t[p->pos].kind == TK_MINUS) {
        lhs = node(p, N_NEG, p->pos++);
        lhs->a = parse_op(p, L_NEG + 1);
        finish(p, lhs);
    } else {
        lhs = parse_app(p);
    }
    for (;;) {
        enum reg_tok k = p->t[p->pos].kind;
        level = binop_level(k, &as);
        if (level == 0 || level < min)
            break;
        if (level == last_none)
            fail_at(p, p->pos, NULL);
        p->pos++;
        if (k == TK_QUESTION) {
            n = node(p, N_HASATTR, t0);
            n->a = lhs;
            n->b = parse_attrpath(p);
        } else {
            n = node(p, N_BINOP, t0);
            n->flag = k;
            n->a = lhs;
            n->b = parse_op(p, as == A_RIGHT ? level : level + 1);
        }
        finish(p, n);
        lhs = n;
        last_none = as == A_NONE ? level : 0;
    }
    p->depth--;
    return lhs;
}

static int
looks_like_formals(const struct parser *p)
{
    enum reg_tok k1 = peek(p, 1), k2 = peek(p, 2);

    if (k1 == TK_RBRACE)
        return k2 == TK_COLON || k2 == TK_AT;
    if (k1 == TK_ELLIPSIS)
        return 1;
    return k1 == TK_ID && (k2 == TK_COMMA || k2 == TK_QUESTION || k2 == TK_RBRACE);
}

static struct reg_node *
parse_formals(struct parser *p)
{
    struct reg_node *n = node(p, N_FORMALS, p->pos), *fm;
    struct vec v = {0};

    expect(p, TK_LBRACE, "'{'");
    while (p->t[p->pos].kind != TK_RBRACE) {
        if (p->t[p->pos].kind == TK_ELLIPSIS) {
            p->pos++;
            n->flag = 1;
            break;
        }
        fm = node(p, N_FORMAL, p->pos);
        fm->tok = expect(p, TK_ID, "identifier");
        if (p->t[p->pos].kind == TK_QUESTION) {
            p->pos++;
            fm->a = parse_expr(p);
        }
        finish(p, fm);
        vec_push(p, &v, fm);
        if (p->t[p->pos].kind != TK_COMMA)
            break;
        p->pos++;
    }
    expect(p, TK_RBRACE, "'}'");
    set_items(p, n, &v);
    binder(p, n);
    finish(p, n);
    return n;
}

static struct reg_node *
parse_expr(struct parser *p)
{
    uint32_t t0 = p->pos;
    struct reg_node *n;
    struct vec v = {0};

    deeper(p);
    switch (p->t[p->pos].kind) {
    case TK_ID:
        if (peek(p, 1) == TK_COLON) {
            n = node(p, N_LAMBDA, t0);
            n->tok = p->pos;
            p->pos += 2;
            n->b = parse_expr(p);
            goto done;
        }
        if (peek(p, 1) == TK_AT && peek(p, 2) == TK_LBRACE) {
            n = node(p, N_LAMBDA, t0);
            n->tok = p->pos;
            p->pos += 2;
            n->a = parse_formals(p);
            expect(p, TK_COLON, "':'");
            n->b = parse_expr(p);
            goto done;
        }
        break;
    case TK_LBRACE:
        if (looks_like_formals(p)) {
            n = node(p, N_LAMBDA, t0);
            n->a = parse_formals(p);
            if (p->t[p->pos].kind == TK_AT) {
                p->pos++;
                n->tok = expect(p, TK_ID, "identifier");
            }
            expect(p, TK_COLON, "':'");
            n->b = parse_expr(p);
            goto done;
        }
        break;
    case TK_ASSERT:
    case TK_WITH:
        n = node(p, p->t[p->pos].kind == TK_WITH ? N_WITH : N_ASSERT, t0);
        p->pos++;
        n->a = parse_expr(p);
        expect(p, TK_SEMI, "';'");
        n->b = parse_expr(p);
        goto done;
    case TK_LET:
        if (peek(p, 1) == TK_LBRACE)
            break;
        n = node(p, N_LET, t0);
        p->pos++;
        parse_binds(p, &v, TK_IN);
        p->pos++;
        set_items(p, n, &v);
        binder(p, n);
        n->a = parse_expr(p);
        goto done;
    case TK_IF:
        n = node(p, N_IF, t0);
        p->pos++;
        n->a = parse_expr(p);
        expect(p, TK_THEN, "'then'");
        n->b = parse_expr(p);
        expect(p, TK_ELSE, "'else'");
        n->c = parse_expr(p);
        goto done;
    default:
        break;
    }
    n = parse_op(p, 1);
    p->depth--;
    return n;
done:
    finish(p, n);
    p->depth--;
    return n;
}

struct reg_file *
reg_file_alloc(const char *name, size_t len)
{
    struct reg_file *f;

    if (len > UINT32_MAX - 1 || (f = calloc(1, sizeof(*f))) == NULL)
        return NULL;
    /* the source, tokens, lines and nodes all live in the arena: about 12 bytes a byte */
    if ((f->name = strdup(name)) == NULL ||
        (f->arena = reg_arena_new_for((len + 1) * 12)) == NULL ||
        (f->src = reg_arena_alloc_raw(f->arena, len + 1)) == NULL) {
        reg_file_free(f);
        return NULL;
    }
    f->len = len;
    f->src[len] = '\0';
    return f;
}

int
reg_parse_src(struct reg_file *f, struct m3_diag *d)
{
    struct parser p = {.d = d, .f = f, .arena = f->arena};
    struct reg_node *root;
    volatile int rc;

    if ((rc = reg_lex(f, d)) != 0)
        goto out;
    p.t = f->toks;
    if ((f->vars = reg_arena_alloc(f->arena, f->ntoks / 8 + 1)) == NULL ||
        (f->seen = reg_arena_alloc(f->arena, f->ntoks / 8 + 1)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    if (setjmp(p.fail) != 0) {
        rc = p.rc;
        goto out;
    }
    root = node(&p, N_FILE, 0);
    root->a = parse_expr(&p);
    if (p.t[p.pos].kind != TK_EOF)
        fail_at(&p, p.pos, "end of file");
    root->t1 = p.pos;
    f->root = root;
out:
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "%s: out of memory", f->name);
    return rc;
}

int
reg_parse(const char *name, const char *src, size_t len, struct reg_file **out, struct m3_diag *d)
{
    struct reg_file *f;
    int rc;

    *out = NULL;
    if (len > UINT32_MAX - 1)
        return m3_diag_set(d, M3_EINVAL, "%s: file too large", name);
    if ((f = reg_file_alloc(name, len)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "%s: out of memory", name);
    memcpy(f->src, src, len);
    if ((rc = reg_parse_src(f, d)) != 0) {
        reg_file_free(f);
        return rc;
    }
    *out = f;
    return 0;
}

void
reg_file_free(struct reg_file *f)
{
    if (f == NULL)
        return;
    reg_arena_free(f->arena);
    free(f->name);
    free(f);
}

const char *
reg_file_name(const struct reg_file *f)
{
    return f->name;
}

const char *
reg_file_text(const struct reg_file *f, size_t *len)
{
    if (len != NULL)
        *len = f->len;
    return f->src;
}

const char *
reg_tok_text(const struct reg_file *f, uint32_t i, size_t *len)
{
    *len = f->toks[i].len;
    return f->src + f->toks[i].off;
}

size_t
reg_node_off(const struct reg_node *n)
{
    return n->file->toks[n->t0].off;
}

size_t
reg_node_end(const struct reg_node *n)
{
    const struct reg_token *t = &n->file->toks[n->t1];

    return t->off + t->len;
}

void
reg_span_at(const struct reg_file *f, size_t off, size_t len, struct reg_span *sp)
{
    sp->file = f->name;
    sp->off = off;
    sp->len = len;
    reg_linecol(f, off, &sp->line, &sp->col);
}

void
reg_node_span(const struct reg_node *n, struct reg_span *sp)
{
    size_t off = reg_node_off(n);

    reg_span_at(n->file, off, reg_node_end(n) - off, sp);
}

/* ---- printer ---- */

struct buf {
    char *p;
    size_t n, cap;
    int oom;
};

static void
buf_put(struct buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;
        while (cap < b->n + n + 1)
            cap *= 2;
        if ((np = realloc(b->p, cap)) == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void
put_token(struct buf *b, const struct reg_file *f, uint32_t i)
{
    const struct reg_token *t = &f->toks[i];
    size_t triv = reg_tok_triv(f, i);

    buf_put(b, f->src + triv, t->off + t->len - triv);
}

static int
by_t0(const void *a, const void *b)
{
    const struct reg_node *x = *(struct reg_node *const *)a, *y = *(struct reg_node *const *)b;

    return x->t0 < y->t0 ? -1 : x->t0 > y->t0;
}

static void
print_node(struct buf *b, const struct reg_node *n)
{
    struct reg_node *fixed[3];
    struct reg_node *stackv[16], **kids = stackv;
    size_t nk = 0, k, i, nitems = reg_node_nitems(n);
    uint32_t t;

    reg_node_fixed(n, fixed);
    if (nitems + 3 > 16 && (kids = malloc((nitems + 3) * sizeof(*kids))) == NULL) {
        b->oom = 1;
        return;
    }
    for (i = 0; i < 3; i++)
        if (fixed[i] != NULL)
            kids[nk++] = fixed[i];
    for (i = 0; i < nitems; i++)
        kids[nk++] = n->items[i];
    qsort(kids, nk, sizeof(*kids), by_t0);
    for (t = n->t0, k = 0; t <= n->t1;) {
        if (k < nk && kids[k]->t0 == t) {
            print_node(b, kids[k]);
            t = kids[k]->t1 + 1;
            k++;
        } else {
            put_token(b, n->file, t);
            t++;
        }
    }
    if (kids != stackv)
        free(kids);
}

int
reg_print(const struct reg_file *f, char **out, size_t *len)
{
    struct buf b = {0};

    buf_put(&b, "", 0);
    print_node(&b, f->root);
    if (b.oom) {
        free(b.p);
        return M3_ENOMEM;
    }
    *out = b.p;
    if (len != NULL)
        *len = b.n;
    return 0;
}
