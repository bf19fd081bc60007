/* operators.c: the operators of the Nix language: == and != (deep, as Nix compares),
 * < <= > >= (numbers, strings, paths, and lists element by element), && || -> !, the
 * arithmetic + - * / on numbers (integers wrap in two's complement, as Nix's do), ++ on
 * lists, // on sets, and + on strings and paths.
 *
 * They are apart from eval.c because they work on values, not on scopes or thunks: each
 * forces its operands and makes a new value. The recursive comparisons go through
 * reg_too_deep, so that a deeply nested value gives an error rather than a stack overflow. */
#include <stdint.h>
#include <string.h>

#include "registry/evaluator.h"

static int val_eq(struct reg_ctx *c, struct reg_val *a, struct reg_val *b,
                  const struct reg_node *at);

int
reg_val_eq(struct reg_ctx *c, struct reg_val *a, struct reg_val *b, const struct reg_node *at)
{
    int r;

    if (reg_too_deep(c))
        reg_throw(c, M3_EEVAL, at, "stack overflow (value nested too deeply)");
    r = val_eq(c, a, b, at);
    c->depth--;
    return r;
}

static int
val_eq(struct reg_ctx *c, struct reg_val *a, struct reg_val *b, const struct reg_node *at)
{
    size_t i;

    reg_force(c, a, at);
    reg_force(c, b, at);
    if (a->t == V_INT && b->t == V_FLOAT)
        return (double)a->i == b->f;
    if (a->t == V_FLOAT && b->t == V_INT)
        return a->f == (double)b->i;
    if (a->t != b->t)
        return 0;
    switch (a->t) {
    case V_NULL:
        return 1;
    case V_BOOL:
        return a->b == b->b;
    case V_INT:
        return a->i == b->i;
    case V_FLOAT:
        return a->f == b->f;
    case V_STR:
    case V_PATH:
        return a->str.n == b->str.n && memcmp(a->str.s, b->str.s, a->str.n) == 0;
    case V_LIST:
        if (a->list.n != b->list.n)
            return 0;
        for (i = 0; i < a->list.n; i++)
            if (a->list.v[i] != b->list.v[i] && !reg_val_eq(c, a->list.v[i], b->list.v[i], at))
                return 0;
        return 1;
    case V_SET:
        if (a->set->n != b->set->n)
            return 0;
        for (i = 0; i < a->set->n; i++) {
            if (reg_name_cmp(a->set->a[i].name, a->set->a[i].len, b->set->a[i].name,
                             b->set->a[i].len) != 0)
                return 0;
            if (a->set->a[i].v != b->set->a[i].v &&
                !reg_val_eq(c, a->set->a[i].v, b->set->a[i].v, at))
                return 0;
        }
        return 1;
    default:
        return 0;
    }
}

int
reg_as_bool(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at)
{
    reg_force(c, v, at);
    if (v->t != V_BOOL)
        reg_throw(c, M3_EEVAL, at, "value is %s while a Boolean was expected", reg_type_name(v));
    return v->b;
}

struct reg_val *
reg_mkbool(struct reg_ctx *c, int b)
{
    struct reg_val *v = reg_new(c, V_BOOL);

    v->b = b != 0;
    return v;
}

struct reg_val *
reg_arith(struct reg_ctx *c, int op, struct reg_val *a, struct reg_val *b, const struct reg_node *n)
{
    struct reg_val *v;

    if ((a->t != V_INT && a->t != V_FLOAT) || (b->t != V_INT && b->t != V_FLOAT))
        reg_throw(c, M3_EEVAL, n, "cannot apply '%s' to %s and %s", reg_tok_name(op),
                  reg_type_name(a), reg_type_name(b));
    if (a->t == V_INT && b->t == V_INT) {
        v = reg_new(c, V_INT);
        switch (op) {
        case TK_PLUS:
            v->i = (long long)((unsigned long long)a->i + (unsigned long long)b->i);
            break;
        case TK_MINUS:
            v->i = (long long)((unsigned long long)a->i - (unsigned long long)b->i);
            break;
        case TK_STAR:
            v->i = (long long)((unsigned long long)a->i * (unsigned long long)b->i);
            break;
        default:
            if (b->i == 0)
                reg_throw(c, M3_EEVAL, n, "division by zero");
            if (a->i == INT64_MIN && b->i == -1)
                reg_throw(c, M3_EEVAL, n, "integer overflow in division");
            v->i = a->i / b->i;
        }
        return v;
    }
    {
        double x = a->t == V_INT ? (double)a->i : a->f, y = b->t == V_INT ? (double)b->i : b->f;
        v = reg_new(c, V_FLOAT);
        switch (op) {
        case TK_PLUS:
            v->f = x + y;
            break;
        case TK_MINUS:
            v->f = x - y;
            break;
        case TK_STAR:
            v->f = x * y;
            break;
        default:
            if (y == 0)
                reg_throw(c, M3_EEVAL, n, "division by zero");
            v->f = x / y;
        }
    }
    return v;
}

static int less_than(struct reg_ctx *c, struct reg_val *a, struct reg_val *b,
                     const struct reg_node *n);

static int
lt(struct reg_ctx *c, struct reg_val *a, struct reg_val *b, const struct reg_node *n)
{
    reg_force(c, a, n);
    reg_force(c, b, n);
    if ((a->t == V_INT || a->t == V_FLOAT) && (b->t == V_INT || b->t == V_FLOAT)) {
        if (a->t == V_INT && b->t == V_INT)
            return a->i < b->i;
        return (a->t == V_INT ? (double)a->i : a->f) < (b->t == V_INT ? (double)b->i : b->f);
    }
    if ((a->t == V_STR && b->t == V_STR) || (a->t == V_PATH && b->t == V_PATH))
        return reg_name_cmp(a->str.s, a->str.n, b->str.s, b->str.n) < 0;
    if (a->t == V_LIST && b->t == V_LIST) {
        /* as Nix 2.8 does: the first elements that are not equal decide, else the shorter */
        for (size_t i = 0;; i++) {
            if (i == b->list.n)
                return 0;
            if (i == a->list.n)
                return 1;
            if (!reg_val_eq(c, a->list.v[i], b->list.v[i], n))
                return less_than(c, a->list.v[i], b->list.v[i], n);
        }
    }
    reg_throw(c, M3_EEVAL, n, "cannot compare %s with %s", reg_type_name(a), reg_type_name(b));
}

static int
less_than(struct reg_ctx *c, struct reg_val *a, struct reg_val *b, const struct reg_node *n)
{
    int r;

    if (reg_too_deep(c))
        reg_throw(c, M3_EEVAL, n, "stack overflow (value nested too deeply)");
    r = lt(c, a, b, n);
    c->depth--;
    return r;
}

struct reg_val *
reg_eval_binop(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env)
{
    int op = n->flag;
    struct reg_val *a, *b, *v;
    size_t i, j;

    switch (op) {
    case TK_AND:
        return reg_mkbool(c, reg_as_bool(c, reg_eval(c, n->a, env), n->a) &&
                                 reg_as_bool(c, reg_eval(c, n->b, env), n->b));
    case TK_OR:
        return reg_mkbool(c, reg_as_bool(c, reg_eval(c, n->a, env), n->a) ||
                                 reg_as_bool(c, reg_eval(c, n->b, env), n->b));
    case TK_IMPL:
        return reg_mkbool(c, !reg_as_bool(c, reg_eval(c, n->a, env), n->a) ||
                                 reg_as_bool(c, reg_eval(c, n->b, env), n->b));
    default:
        break;
    }
    a = reg_eval(c, n->a, env);
    b = reg_eval(c, n->b, env);
    switch (op) {
    case TK_EQ:
        return reg_mkbool(c, reg_val_eq(c, a, b, n));
    case TK_NEQ:
        return reg_mkbool(c, !reg_val_eq(c, a, b, n));
    case TK_LT:
        return reg_mkbool(c, less_than(c, a, b, n));
    case TK_GT:
        return reg_mkbool(c, less_than(c, b, a, n));
    case TK_LEQ:
        return reg_mkbool(c, !less_than(c, b, a, n));
    case TK_GEQ:
        return reg_mkbool(c, !less_than(c, a, b, n));
    case TK_CONCAT:
        if (a->t != V_LIST)
            reg_throw(c, M3_EEVAL, n->a, "value is %s while a list was expected", reg_type_name(a));
        if (b->t != V_LIST)
            reg_throw(c, M3_EEVAL, n->b, "value is %s while a list was expected", reg_type_name(b));
        v = reg_new(c, V_LIST);
        v->src = n;
        v->list.n = a->list.n + b->list.n;
        v->list.v = reg_alloc(c, (v->list.n + 1) * sizeof(*v->list.v));
        memcpy(v->list.v, a->list.v, a->list.n * sizeof(*v->list.v));
        memcpy(v->list.v + a->list.n, b->list.v, b->list.n * sizeof(*v->list.v));
        return v;
    case TK_UPDATE:
        if (a->t != V_SET || b->t != V_SET)
            reg_throw(c, M3_EEVAL, n, "value is %s while a set was expected",
                      reg_type_name(a->t != V_SET ? a : b));
        {
            struct reg_set *s = reg_new_set(c, a->set->n + b->set->n);
            size_t o = 0;
            for (i = 0, j = 0; i < a->set->n || j < b->set->n;) {
                int r = i == a->set->n   ? 1
                        : j == b->set->n ? -1
                                         : reg_name_cmp(a->set->a[i].name, a->set->a[i].len,
                                                        b->set->a[j].name, b->set->a[j].len);
                if (r < 0)
                    s->a[o++] = a->set->a[i++];
                else if (r > 0)
                    s->a[o++] = b->set->a[j++];
                else
                    s->a[o++] = b->set->a[j++], i++;
            }
            s->n = o;
            v = reg_new(c, V_SET);
            v->set = s;
            v->src = n;
            return v;
        }
    case TK_PLUS:
        if (a->t == V_PATH) {
            char *s;
            size_t sn;
            reg_coerce_str(c, b, n->b, 0, &s, &sn);
            {
                char *joined = reg_alloc(c, a->str.n + sn + 1);
                memcpy(joined, a->str.s, a->str.n);
                memcpy(joined + a->str.n, s, sn);
                joined[a->str.n + sn] = '\0';
                return reg_path_val(c, reg_canon(c, "/", joined, a->str.n + sn), n);
            }
        }
        if (a->t == V_STR) {
            char *s;
            size_t sn;
            if (b->t == V_PATH)
                reg_unsupported(c, n->b, "a path added to a string", "Nix copies it to the store");
            reg_coerce_str(c, b, n->b, 0, &s, &sn);
            v = reg_new(c, V_STR);
            {
                char *p = reg_alloc(c, a->str.n + sn + 1);
                memcpy(p, a->str.s, a->str.n);
                memcpy(p + a->str.n, s, sn);
                p[a->str.n + sn] = '\0';
                v->str.s = p;
                v->str.n = a->str.n + sn;
            }
            v->src = n;
            return v;
        }
        /* fallthrough */
    default:
        reg_force(c, a, n->a);
        reg_force(c, b, n->b);
        if (op == TK_PLUS && a->t == V_SET) {
            char *s;
            size_t sn;
            reg_coerce_str(c, a, n->a, 0, &s, &sn);
            return reg_new_str(c, s, sn);
        }
        return reg_arith(c, op, a, b, n);
    }
}
