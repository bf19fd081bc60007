/* evaluator.h: what the evaluator's own files share (internal to eval.c, scopes.c,
 * strings.c and operators.c).
 *
 * eval.h is the evaluator as builtins.c, json.c and model.c see it; this header adds what
 * only the evaluator's pieces need of each other: the arena allocation that throws on
 * exhaustion, the depth guard, the evaluation of a node, and the operators. All of them
 * throw (longjmp) rather than return an error, as reg_throw does. */
#ifndef M3_REGISTRY_EVALUATOR_H
#define M3_REGISTRY_EVALUATOR_H

#include "registry/eval.h"

/* reg_out_of_memory: throws M3_ENOMEM naming the main file (the arena's limit reached). */
_Noreturn __attribute__((noinline, cold)) void reg_out_of_memory(struct reg_ctx *c);

/* reg_alloc: n zeroed bytes of the evaluation's arena. Inline, so that the zeroing of a
 * value of constant size is a few stores rather than a call. */
static inline __attribute__((always_inline)) void *
reg_alloc(struct reg_ctx *c, size_t n)
{
    void *p = reg_arena_alloc(c->arena, n);

    if (p == NULL)
        reg_out_of_memory(c);
    return p;
}

/* reg_alloc_raw: n bytes, not zeroed, for a buffer its caller fills at once. */
static inline __attribute__((always_inline)) void *
reg_alloc_raw(struct reg_ctx *c, size_t n)
{
    void *p = reg_arena_alloc_raw(c->arena, n);

    if (p == NULL)
        reg_out_of_memory(c);
    return p;
}

/* reg_too_deep: counts one more level of recursion in c->depth; whether the evaluation is
 * nested too deeply (by count or by stack used). The caller that gets 0 decrements
 * c->depth when the level ends. */
int reg_too_deep(struct reg_ctx *c);

/* reg_eval: the value of node n in env (weak head normal form, not necessarily forced). */
struct reg_val *reg_eval(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env);

/* reg_thunk: a thunk of node n in env, or its value at once when no evaluation is needed
 * (a lexically bound variable, a plain string). */
struct reg_val *reg_thunk(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env);

/* reg_lookup: the value of the variable name: lexical frames first, then `with` frames
 * innermost first. With lexical_only, NULL instead of forcing a `with` or failing, and
 * NULL at a frame still being built. */
struct reg_val *reg_lookup(struct reg_ctx *c, struct reg_env *env, const char *name, size_t len,
                           const struct reg_node *at, int lexical_only);

/* reg_loaded_of: the loaded file f (the main file when f is not one of c's). */
struct reg_loaded *reg_loaded_of(struct reg_ctx *c, const struct reg_file *f);

/* strings.c */

/* reg_sbuf: a growing NUL-terminated string in the arena ({0} is empty, p NULL until the
 * first reg_sb_put); reg_sb_put appends s (n bytes). */
struct reg_sbuf {
    char *p;
    size_t n, cap;
};
void reg_sb_put(struct reg_ctx *c, struct reg_sbuf *b, const char *s, size_t n);

/* reg_decode_lit: the literal part p (of a "..." string, or of an indented one when ind),
 * whose text is s, decoded into out; its decoded length. Throws M3_EUNSUPPORTED on a NUL
 * byte. */
size_t reg_decode_lit(struct reg_ctx *c, const struct reg_node *p, const char *s, size_t len,
                      int ind, char *out);
/* reg_eval_string, reg_eval_ind_string: the string value of node n (N_STR, N_IND_STR) in
 * env, its interpolations evaluated and coerced. */
struct reg_val *reg_eval_string(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env);
struct reg_val *reg_eval_ind_string(struct reg_ctx *c, const struct reg_node *n,
                                    struct reg_env *env);

/* reg_canon: joins base and rel (rel may be absolute) and removes ".", ".." and "//"; the
 * result is in the arena. reg_path_val: a new path value for the canonical path s. */
char *reg_canon(struct reg_ctx *c, const char *base, const char *rel, size_t rlen);
struct reg_val *reg_path_val(struct reg_ctx *c, const char *s, const struct reg_node *src);

/* scopes.c: the name an attribute-path element stands for, evaluated in env (*len bytes),
 * NULL for a dynamic null. reg_eval_set: the set of the bindings of n (N_SET, N_LET,
 * N_LET_SET) in env, recursive when rec; *envout, when envout is not NULL, is the scope its
 * values see. */
const char *reg_attr_name(struct reg_ctx *c, const struct reg_node *a, struct reg_env *env,
                          size_t *len);
struct reg_val *reg_eval_set(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env,
                             int rec, struct reg_env **envout);

/* operators.c: the binary operators of node n (N_BINOP) evaluated in env; the Boolean value
 * of v (throws when v is not one); a new Boolean; a + - * / on two numbers (int unless one
 * is a float; throws on other types, a division by zero or INT64_MIN / -1). */
struct reg_val *reg_eval_binop(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env);
int reg_as_bool(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at);
struct reg_val *reg_mkbool(struct reg_ctx *c, int b);
struct reg_val *reg_arith(struct reg_ctx *c, int op, struct reg_val *a, struct reg_val *b,
                          const struct reg_node *n);

#endif
