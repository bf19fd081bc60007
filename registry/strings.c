/* strings.c: strings: the "..." and ''...'' literals with their escapes and interpolations
 * (an indented string loses the indentation its lines share, as Nix 2.8 strips it), and
 * the coercion of a value to a string that interpolation, `+` and builtins.toString make.
 *
 * It is apart from eval.c because it is the evaluator's only text processing: it decodes
 * the lexer's tokens into new strings in the arena and refuses what m3age would print
 * differently from Nix (a NUL byte, a path that Nix would copy to the store). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/evaluator.h"

void
reg_sb_put(struct reg_ctx *c, struct reg_sbuf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        char *p;
        while (cap < b->n + n + 1)
            cap *= 2;
        p = reg_alloc(c, cap);
        if (b->n)
            memcpy(p, b->p, b->n);
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static void coerce_str(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at,
                       int to_string, char **s, size_t *n);

/* reg_coerce_str, reg_val_eq and less_than recurse into values, which can nest deeper than
 * any source (a foldl' builds a list a million levels deep): each level is counted as
 * forcing is. */
void
reg_coerce_str(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at, int to_string,
               char **s, size_t *n)
{
    if (reg_too_deep(c))
        reg_throw(c, M3_EEVAL, at, "stack overflow (value nested too deeply)");
    coerce_str(c, v, at, to_string, s, n);
    c->depth--;
}

static void
coerce_str(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at, int to_string, char **s,
           size_t *n)
{
    char num[64];
    const struct reg_attr *a;

    reg_force(c, v, at);
    switch (v->t) {
    case V_STR:
        *s = (char *)v->str.s;
        *n = v->str.n;
        return;
    case V_PATH:
        if (!to_string)
            reg_unsupported(c, at, "a path interpolated into a string",
                            "Nix copies it to the store");
        *s = (char *)v->str.s;
        *n = v->str.n;
        return;
    case V_SET:
        if ((a = reg_set_get(v->set, "__toString", 10)) != NULL) {
            struct reg_val *r = reg_new(c, V_NULL);
            reg_apply(c, a->v, v, r, at);
            reg_coerce_str(c, r, at, to_string, s, n);
            return;
        }
        if ((a = reg_set_get(v->set, "outPath", 7)) != NULL) {
            reg_coerce_str(c, a->v, at, to_string, s, n);
            return;
        }
        break;
    default:
        break;
    }
    if (to_string) {
        struct reg_sbuf b = {0};
        size_t i;
        switch (v->t) {
        case V_INT:
            *n = (size_t)snprintf(num, sizeof(num), "%lld", v->i);
            *s = reg_arena_strndup(c->arena, num, *n);
            return;
        case V_FLOAT:
            *n = (size_t)snprintf(num, sizeof(num), "%f", v->f);
            *s = reg_arena_strndup(c->arena, num, *n);
            return;
        case V_BOOL:
            *s = v->b ? "1" : "";
            *n = v->b ? 1 : 0;
            return;
        case V_NULL:
            *s = "";
            *n = 0;
            return;
        case V_LIST:
            reg_sb_put(c, &b, "", 0);
            for (i = 0; i < v->list.n; i++) {
                char *es;
                size_t en;
                reg_coerce_str(c, v->list.v[i], at, 1, &es, &en);
                reg_sb_put(c, &b, es, en);
                if (i + 1 < v->list.n && v->list.v[i]->t != V_LIST)
                    reg_sb_put(c, &b, " ", 1);
                else if (i + 1 < v->list.n && v->list.v[i]->list.n > 0)
                    reg_sb_put(c, &b, " ", 1);
            }
            *s = b.p;
            *n = b.n;
            return;
        default:
            break;
        }
    }
    reg_throw(c, M3_EEVAL, at, "cannot coerce %s to a string", reg_type_name(v));
}

/* ind_escape: whether part p of an indented string is an escape: ''$, ''' or ''\x. */
static int
ind_escape(const struct reg_node *n, const struct reg_node *p)
{
    size_t len;
    const char *s = reg_tok_text(n->file, p->tok, &len);

    return len >= 3 && s[0] == '\'' && s[1] == '\'';
}

/* reg_decode_lit: the literal part p (of a "..." string, or of an indented one when ind), whose
 * text is s, decoded into out; its decoded length. A NUL byte is refused: Nix cuts a
 * string there (it decodes strings as C strings), and a value m3age printed whole would
 * differ from Nix's without a word. */
size_t
reg_decode_lit(struct reg_ctx *c, const struct reg_node *p, const char *s, size_t len, int ind,
               char *out)
{
    size_t n = reg_decode_str_part(s, len, ind, out);

    if (memchr(out, '\0', n) != NULL)
        reg_unsupported(c, p, "a NUL byte in a string", "Nix would cut the string there");
    return n;
}

/* strip_indent: Nix's rule for '' strings: drop the smallest indentation of the non-blank
 * lines, and a last line made only of spaces. As in Nix 2.8, an escape ends the leading
 * spaces of its line where the smallest indentation is measured, as ${ } does; when the
 * spaces are dropped, what it stands for is text like any other (an escaped newline starts
 * a line). */
struct reg_val *
reg_eval_ind_string(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env)
{
    size_t i, k, min = (size_t)-1, cur = 0, dropped = 0;
    int at_start = 1;
    struct reg_sbuf b = {0};
    char *tmp;

    for (i = 0; i < n->nitems; i++) {
        const struct reg_node *p = n->items[i];
        size_t len, dl;
        const char *s;
        if (p->kind == N_INTERP || ind_escape(n, p)) {
            if (at_start) {
                at_start = 0;
                if (cur < min)
                    min = cur;
            }
            continue;
        }
        s = reg_tok_text(n->file, p->tok, &len);
        tmp = reg_alloc(c, len + 1);
        dl = reg_decode_lit(c, p, s, len, 1, tmp);
        for (k = 0; k < dl; k++) {
            if (at_start) {
                if (tmp[k] == ' ')
                    cur++;
                else if (tmp[k] == '\n')
                    cur = 0;
                else {
                    at_start = 0;
                    if (cur < min)
                        min = cur;
                }
            } else if (tmp[k] == '\n') {
                at_start = 1;
                cur = 0;
            }
        }
    }
    at_start = 1;
    reg_sb_put(c, &b, "", 0);
    for (i = 0; i < n->nitems; i++) {
        const struct reg_node *p = n->items[i];
        size_t len, dl, start = b.n;
        const char *s;
        if (p->kind == N_INTERP) {
            char *is;
            size_t in;
            at_start = 0;
            dropped = 0;
            reg_coerce_str(c, reg_eval(c, p->a, env), p->a, 0, &is, &in);
            reg_sb_put(c, &b, is, in);
            continue;
        }
        s = reg_tok_text(n->file, p->tok, &len);
        tmp = reg_alloc(c, len + 1);
        dl = reg_decode_lit(c, p, s, len, 1, tmp);
        for (k = 0; k < dl; k++) {
            if (at_start) {
                if (tmp[k] == ' ') {
                    if (dropped++ >= min)
                        reg_sb_put(c, &b, " ", 1);
                } else if (tmp[k] == '\n') {
                    dropped = 0;
                    reg_sb_put(c, &b, "\n", 1);
                } else {
                    at_start = 0;
                    dropped = 0;
                    reg_sb_put(c, &b, tmp + k, 1);
                }
            } else {
                reg_sb_put(c, &b, tmp + k, 1);
                if (tmp[k] == '\n')
                    at_start = 1;
            }
        }
        if (i == n->nitems - 1) {
            /* the last line, if only spaces, goes */
            char *nl = NULL;
            for (k = b.n; k > start; k--)
                if (b.p[k - 1] == '\n') {
                    nl = b.p + k - 1;
                    break;
                }
            if (nl != NULL) {
                char *q = nl + 1;
                while (q < b.p + b.n && *q == ' ')
                    q++;
                if (q == b.p + b.n) {
                    b.n = (size_t)(nl + 1 - b.p);
                    b.p[b.n] = '\0';
                }
            }
        }
    }
    return reg_new_str(c, b.p, b.n);
}

struct reg_val *
reg_eval_string(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env)
{
    struct reg_sbuf b = {0};
    struct reg_val *v;
    size_t i;

    if (n->nitems == 1 && n->items[0]->kind == N_STRLIT) {
        /* the usual string: one literal, decoded into a buffer of its size */
        size_t len;
        const char *s = reg_tok_text(n->file, n->items[0]->tok, &len);
        char *p = reg_alloc_raw(c, len + 1);
        v = reg_new(c, V_STR);
        v->str.n = reg_decode_lit(c, n->items[0], s, len, 0, p);
        p[v->str.n] = '\0';
        v->str.s = p;
        return v;
    }
    reg_sb_put(c, &b, "", 0);
    for (i = 0; i < n->nitems; i++) {
        const struct reg_node *p = n->items[i];
        if (p->kind == N_STRLIT) {
            size_t len;
            const char *s = reg_tok_text(n->file, p->tok, &len);
            if (b.n + len + 1 > b.cap)
                reg_sb_put(c, &b, s, 0), reg_sb_put(c, &b, s, len), b.n -= len;
            b.n += reg_decode_lit(c, p, s, len, 0, b.p + b.n);
            b.p[b.n] = '\0';
        } else {
            char *is;
            size_t in;
            struct reg_val *iv = reg_eval(c, p->a, env);
            reg_coerce_str(c, iv, p->a, 0, &is, &in);
            reg_sb_put(c, &b, is, in);
        }
    }
    v = reg_new(c, V_STR);
    v->str.s = b.p;
    v->str.n = b.n;
    return v;
}
