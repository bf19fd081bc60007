/* eval.h: values and the evaluator (internal to registry/).
 *
 * Values live in the evaluation's arena and are freed with it. A thunk is overwritten in
 * place by its value when forced; while it is being forced it is a black hole, so a value
 * that needs itself is reported as infinite recursion. Errors longjmp to the innermost
 * reg_eval_try / reg_eval_run frame; a failed force restores the thunks it had entered. */
#ifndef M3_REGISTRY_EVAL_H
#define M3_REGISTRY_EVAL_H

#define REG_SPAN_SLOTS 4096
#define REG_KEY_SLOTS 1024

#include <setjmp.h>
#include <stdint.h>

#include "registry/syntax.h"

enum reg_vtype {
    V_THUNK,
    V_BLACKHOLE,
    V_NULL,
    V_BOOL,
    V_INT,
    V_FLOAT,
    V_STR,
    V_PATH,
    V_LIST,
    V_SET,
    V_LAMBDA,
    V_PRIM,
};

struct reg_val;
struct reg_env;
struct reg_ctx;

struct reg_attr {
    const char *name;
    size_t len;
    struct reg_val *v;
    const struct reg_node *pos; /* where the attribute is named, or NULL */
};

struct reg_set {
    size_t n;
    struct reg_attr a[]; /* sorted by name, bytewise */
};

struct reg_prim {
    const char *name;
    int arity;
    void (*fn)(struct reg_ctx *c, struct reg_val **args, struct reg_val *out,
               const struct reg_node *at);
};

struct reg_val {
    enum reg_vtype t;
    unsigned char plain;        /* V_STR: 0 not known, 1 no byte needs JSON escaping, 2 some do */
    const struct reg_node *src; /* the literal or expression that produced it, or NULL */
    union {
        int b;
        long long i;
        double f;
        struct {
            const char *s; /* NUL-terminated; also for paths (absolute, canonical) */
            size_t n;
        } str;
        struct {
            struct reg_val **v;
            size_t n;
        } list;
        struct reg_set *set;
        struct {
            const struct reg_node *node; /* expression, lambda, or N_INHERIT/N_ATTR_ID */
            struct reg_env *env;
            struct reg_val *from; /* inherit (e): the thunk of e; a lazy call: the function */
            struct reg_val *arg;  /* a lazy call (map, genList): the argument */
            const char *name;     /* inherit: the attribute name */
            size_t len;
        } th;
        struct {
            const struct reg_prim *p;
            int nargs;
            struct reg_val *args[3];
        } prim;
    };
};

struct reg_env {
    struct reg_env *up;
    struct reg_set *vars; /* NULL for a `with` frame or while being built */
    struct reg_val *with; /* the set expression of a `with` frame */
    int building;
    /* A hash index of vars (built on the first lookup of a large frame): slot -> index + 1,
     * 0 for empty; hmask + 1 slots. hset is the set it indexes. */
    uint32_t *hidx;
    size_t hmask;
    const struct reg_set *hset;
};

struct reg_loaded {
    const struct reg_file *f;
    char *dir; /* absolute folder of the file, for relative paths */
    char *path;
    struct reg_val *value; /* import cache */
    int owned;
    unsigned char *built; /* bit i: f->binders[i] was built by the evaluator (or NULL) */
};

struct reg_forcing {
    struct reg_val *v;
    struct reg_val saved;
};

struct reg_ctx {
    struct reg_arena *arena;
    const struct reg_eval_opts *opts;
    struct m3_diag *d;
    jmp_buf *jmp;
    int rc;
    struct reg_env *globals;
    const struct reg_prim *cur_prim; /* the builtin being called (for its messages) */
    struct reg_loaded *files;
    size_t nfiles;
    struct reg_forcing *forcing;
    size_t nforcing, capforcing;
    unsigned depth;
    struct reg_registry *reg; /* reg_registry_load: the registry being filled */
    struct reg_span_slot {
        const struct reg_node *n;
        struct reg_span sp;
    } * span_cache; /* reg_registry_load: spans of recently seen nodes (REG_SPAN_SLOTS) */
    const struct reg_file *last_file; /* reg_registry_load: the file last interned... */
    const char *last_name;            /* ...and its name in the registry */
    size_t line_hint;                 /* index of the line of the last span computed */
    struct reg_key_slot {
        const char *s;
        char *copy;
    } * key_cache; /* reg_registry_load: copies of recently seen keys (REG_KEY_SLOTS) */
    const struct reg_node *top_let; /* the root `let` of the main file */
    struct reg_env *top_let_env;
};

/* reg_ctx_init / reg_ctx_free: an evaluation context for the main file f. */
int reg_ctx_init(struct reg_ctx *c, const struct reg_file *f, const struct reg_eval_opts *opts,
                 struct m3_diag *d);
void reg_ctx_free(struct reg_ctx *c);

/* reg_eval_run: evaluates the main file to weak head normal form (deep when deep != 0),
 * returning 0 and *out, or the error code with c->d filled. */
int reg_eval_run(struct reg_ctx *c, int deep, struct reg_val **out);

/* reg_eval_try: forces v (deeply when deep) catching errors: 0 or the error code. */
int reg_eval_try(struct reg_ctx *c, struct reg_val *v, int deep);

/* Used by builtins.c. */
_Noreturn void reg_throw(struct reg_ctx *c, int code, const struct reg_node *at, const char *fmt,
                         ...) __attribute__((format(printf, 4, 5)));
/* reg_unsupported: throws M3_EUNSUPPORTED "FILE:L:C: WHAT is not supported by m3age's
 * evaluator (WHY); use --nix ...". */
_Noreturn void reg_unsupported(struct reg_ctx *c, const struct reg_node *at, const char *what,
                               const char *why);
void reg_force_slow(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at);
/* reg_force: evaluates a thunk in place (a value that is not one returns at once, inline:
 * most calls find a value). */
static inline void
reg_force(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at)
{
    if (v->t == V_THUNK || v->t == V_BLACKHOLE)
        reg_force_slow(c, v, at);
}
void reg_force_deep(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at);
struct reg_val *reg_new(struct reg_ctx *c, enum reg_vtype t);
struct reg_val *reg_new_str(struct reg_ctx *c, const char *s, size_t n);
struct reg_set *reg_new_set(struct reg_ctx *c, size_t n);
void reg_apply(struct reg_ctx *c, struct reg_val *f, struct reg_val *arg, struct reg_val *out,
               const struct reg_node *at);
const struct reg_attr *reg_set_get(const struct reg_set *s, const char *name, size_t len);
int reg_name_cmp(const char *a, size_t an, const char *b, size_t bn);
int reg_val_eq(struct reg_ctx *c, struct reg_val *a, struct reg_val *b, const struct reg_node *at);
const char *reg_type_name(const struct reg_val *v);
void reg_coerce_str(struct reg_ctx *c, struct reg_val *v, const struct reg_node *at, int to_string,
                    char **s, size_t *n);
/* reg_from_json: *out is the value of the JSON text s (n bytes), as builtins.fromJSON
 * reads it; throws M3_EEVAL naming the byte where the text is not JSON. */
void reg_from_json(struct reg_ctx *c, const char *s, size_t n, struct reg_val *out,
                   const struct reg_node *at);
/* The filesystem builtins (fsbuiltins.c), on an absolute path, through c's reader: the
 * path confined to the repository as readFile's is; hashFile's algo is md5, sha1, sha256 or
 * sha512. They throw M3_EEVAL (a missing file, a path outside the repository). */
void reg_b_pathExists(struct reg_ctx *c, const char *path, struct reg_val *out,
                      const struct reg_node *at);
void reg_b_readFileType(struct reg_ctx *c, const char *path, struct reg_val *out,
                        const struct reg_node *at);
void reg_b_readDir(struct reg_ctx *c, const char *path, struct reg_val *out,
                   const struct reg_node *at);
void reg_b_hashFile(struct reg_ctx *c, const char *algo, const char *path, struct reg_val *out,
                    const struct reg_node *at);
struct reg_val *reg_import(struct reg_ctx *c, const char *path, const struct reg_node *at);
void reg_read_path(struct reg_ctx *c, const char *path, const struct reg_node *at, char **buf,
                   size_t *len);

/* reg_attr_is_static: whether an attribute-path element (N_ATTR_ID, N_STR, N_INTERP) is a
 * name Nix's parser knows: an identifier, a string without interpolation, or ${ } around
 * one (even in parentheses). Others are dynamic: known when evaluated. */
int reg_attr_is_static(const struct reg_node *a);
/* reg_attr_static: the name such an element stands for (*len bytes, not NUL-terminated),
 * or NULL when it is dynamic. */
const char *reg_attr_static(struct reg_ctx *c, const struct reg_node *a, size_t *len);

/* reg_undefined: throws the error of a variable bound nowhere. reg_global: whether name is
 * one of the builtins' global names (true, map, __attrNames...). */
_Noreturn void reg_undefined(struct reg_ctx *c, const char *name, size_t len,
                             const struct reg_node *at);
int reg_global(struct reg_ctx *c, const char *name, size_t len);

/* reg_stack_low: whether the thread has used half of its stack since reg_ctx_init. */
int reg_stack_low(void);

/* reg_built: records that the evaluator built the set, let or formals node n (and so made
 * the checks of its names that Nix's parser makes: binds.c makes them for the others). */
void reg_built(struct reg_ctx *c, const struct reg_node *n);

/* binds.c: the errors Nix's parser finds in the names of sets, lets and function arguments
 * (a name defined twice, a path through a value, a dynamic name in a let or an inherit)
 * are errors of the whole file, wherever they are. The evaluator finds them in what it
 * builds; reg_check_rest throws the first in the rest of every file loaded so far.
 * reg_check_after runs it once an evaluation has ended with rc and returns its error, or
 * rc: such an error comes first, as in Nix, where it stops the parse. */
void reg_check_rest(struct reg_ctx *c);
int reg_check_after(struct reg_ctx *c, int rc);

/* builtins.c */
struct reg_set *reg_builtins_set(struct reg_ctx *c, struct reg_set **globals);
/* reg_builtin_refusal: why the Nix builtin name is refused ("it reads the filesystem"). */
const char *reg_builtin_refusal(const char *name);

/* json.c: the JSON text of v, forced as it is printed: into *out (malloc'd, *len bytes)
 * when fd < 0, else written to fd once v is wholly forced and printable (nothing written
 * on an error). 0, the evaluation's error, M3_EUNSUPPORTED, M3_ENOMEM or M3_EIO. */
int reg_json(struct reg_ctx *c, struct reg_val *v, int fd, char **out, size_t *len);

#endif
