/* evaluator.h: what the evaluator's own files share (internal to eval.c and operators.c).
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

/* reg_canon: joins base and rel (rel may be absolute) and removes ".", ".." and "//"; the
 * result is in the arena. reg_path_val: a new path value for the canonical path s. */
char *reg_canon(struct reg_ctx *c, const char *base, const char *rel, size_t rlen);
struct reg_val *reg_path_val(struct reg_ctx *c, const char *s, const struct reg_node *src);

/* operators.c: the binary operators of node n (N_BINOP) evaluated in env; the Boolean value
 * of v (throws when v is not one); a new Boolean; a + - * / on two numbers (int unless one
 * is a float; throws on other types, a division by zero or INT64_MIN / -1). */
struct reg_val *reg_eval_binop(struct reg_ctx *c, const struct reg_node *n, struct reg_env *env);
int reg_as_bool(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at);
struct reg_val *reg_mkbool(struct reg_ctx *c, int b);
struct reg_val *reg_arith(struct reg_ctx *c, int op, struct reg_val *a, struct reg_val *b,
                          const struct reg_node *n);

#endif
