/* syntax.h: the tokens and syntax tree behind struct reg_file (internal to registry/).
 *
 * Every token records the trivia (whitespace, comments) before it, so the concatenation of
 * trivia + token text over all tokens, EOF included, is the source. Nodes cover an inclusive
 * token range [t0, t1]; children are nodes whose ranges nest inside their parent's. */
#ifndef M3_REGISTRY_SYNTAX_H
#define M3_REGISTRY_SYNTAX_H

#include <stddef.h>
#include <stdint.h>

#include "registry/registry.h"

enum reg_tok {
    TK_EOF,
    TK_ID,
    TK_INT,
    TK_FLOAT,
    TK_PATH,
    TK_HPATH,
    TK_SPATH,
    TK_URI,
    TK_STR_OPEN,  /* " */
    TK_STR_CLOSE, /* " */
    TK_IND_OPEN,  /* '' plus spaces and a newline when they follow */
    TK_IND_CLOSE, /* '' */
    TK_STR_PART,  /* literal bytes of a string (escapes still encoded) */
    TK_DOLLAR_CURLY,
    TK_PATH_START, /* a path's text before its first ${ (./secrets/ in ./secrets/${x}.age) */
    TK_PATH_END,   /* empty: where an interpolated path ends */
    /* keywords */
    TK_IF,
    TK_THEN,
    TK_ELSE,
    TK_ASSERT,
    TK_WITH,
    TK_LET,
    TK_IN,
    TK_REC,
    TK_INHERIT,
    TK_OR_KW,
    /* punctuation */
    TK_ELLIPSIS,
    TK_EQ,
    TK_NEQ,
    TK_LEQ,
    TK_GEQ,
    TK_AND,
    TK_OR,
    TK_IMPL,
    TK_UPDATE,
    TK_CONCAT,
    TK_LBRACE,
    TK_RBRACE,
    TK_LBRACK,
    TK_RBRACK,
    TK_LPAREN,
    TK_RPAREN,
    TK_SEMI,
    TK_COLON,
    TK_COMMA,
    TK_DOT,
    TK_ASSIGN,
    TK_AT,
    TK_QUESTION,
    TK_NOT,
    TK_PLUS,
    TK_MINUS,
    TK_STAR,
    TK_SLASH,
    TK_LT,
    TK_GT,
};

/* The trivia before a token runs from the end of the token before it (reg_tok_triv). */
struct reg_token {
    enum reg_tok kind;
    uint32_t off; /* offset of the token */
    uint32_t len;
};

enum reg_nkind {
    N_FILE,        /* a = expression; covers every token including EOF */
    N_VAR,         /* tok */
    N_INT,         /* tok */
    N_FLOAT,       /* tok */
    N_STR,         /* items: N_STRLIT / N_INTERP parts */
    N_IND_STR,     /* items: N_STRLIT / N_INTERP parts */
    N_STRLIT,      /* tok (a TK_STR_PART) */
    N_INTERP,      /* a = expression in ${ } */
    N_PATH,        /* tok */
    N_PATH_INTERP, /* items: N_STRLIT (the TK_PATH_START first) / N_INTERP parts */
    N_HPATH,       /* tok */
    N_SPATH,       /* tok */
    N_URI,         /* tok */
    N_PAREN,       /* a */
    N_LIST,        /* items */
    N_SET,         /* items: N_BIND / N_INHERIT; flag = rec */
    N_LET_SET,     /* let { binds } (legacy) */
    N_LET,         /* items: binds; a = body */
    N_WITH,        /* a; b */
    N_ASSERT,      /* a; b */
    N_IF,          /* a; b; c */
    N_LAMBDA,      /* tok = the name (reg_lambda_named); a = N_FORMALS or NULL; b = body */
    N_FORMALS,     /* items: N_FORMAL; flag = has ellipsis */
    N_FORMAL,      /* tok = name; a = default or NULL */
    N_APP,         /* a applied to b */
    N_SELECT,      /* a . b(N_ATTRPATH) [or c] */
    N_HASATTR,     /* a ? b(N_ATTRPATH) */
    N_BINOP,       /* a op b */
    N_NOT,         /* ! a */
    N_NEG,         /* - a */
    N_ATTRPATH,    /* items: N_ATTR_ID / N_STR / N_INTERP */
    N_ATTR_ID,     /* tok (an identifier or `or`) */
    N_BIND,        /* a = N_ATTRPATH; b = value */
    N_INHERIT,     /* a = source expression or NULL; items: N_ATTR_ID / N_STR */
};

/* 48 bytes (one per syntax node: they were most of a parse's memory). A kind has either
 * fixed children b and c or a list of items, never both: they share their storage, so code
 * that walks any node uses reg_node_fixed / reg_node_nitems. */
struct reg_node {
    uint8_t kind;       /* enum reg_nkind */
    uint8_t flag;       /* N_SET: rec; N_FORMALS: ellipsis; N_BINOP: enum reg_tok */
    uint16_t height;    /* levels below this node (0: a leaf), at most REG_MAX_NEST */
    uint32_t t0, t1;    /* inclusive token range */
    uint32_t tok;       /* the name or literal token, where the kind has one */
    struct reg_node *a; /* fixed child (see enum) */
    union {
        struct {
            struct reg_node *b, *c; /* fixed children (see enum) */
        };
        struct {
            struct reg_node **items; /* variable children, in source order */
            size_t nitems;
        };
    };
    const struct reg_file *file;
};

_Static_assert(TK_GT < 256 && N_INHERIT < 256, "token and node kinds fit struct reg_node");
_Static_assert(sizeof(void *) != 8 || sizeof(struct reg_node) == 48, "struct reg_node is 48 bytes");

/* REG_MAX_NEST: how deep a syntax tree may be. The parser refuses a deeper expression
 * ("nested too deeply", M3_ESYNTAX), so every walk of a tree (the evaluator, binds.c, the
 * edits, the host scan, the printer) recurses at most this many levels. An attribute path
 * of k names counts as k levels: the sets it makes nest that deep. Honest files nest a few
 * dozen levels. Measured at the limit (parse, evaluation, deep forcing, JSON): under 512 KiB
 * of stack, under 2 MiB with AddressSanitizer; registries are evaluated on the main thread
 * (8 MiB by default; glibc gives threads as much), and the evaluator's own depth count
 * (eval.c) stops run-time recursion at half the stack. */
#define REG_MAX_NEST 1000

/* reg_node_has_items: whether nodes of kind k have items (else b and c). */
static inline int
reg_node_has_items(int k)
{
    switch (k) {
    case N_STR:
    case N_IND_STR:
    case N_PATH_INTERP:
    case N_LIST:
    case N_SET:
    case N_LET_SET:
    case N_LET:
    case N_FORMALS:
    case N_ATTRPATH:
    case N_INHERIT:
        return 1;
    default:
        return 0;
    }
}

/* reg_node_fixed: n's fixed children a, b, c (NULL where it has none). */
static inline void
reg_node_fixed(const struct reg_node *n, struct reg_node *out[3])
{
    int items = reg_node_has_items(n->kind);

    out[0] = n->a;
    out[1] = items ? NULL : n->b;
    out[2] = items ? NULL : n->c;
}

/* reg_unparen: n without the parentheses around it (Nix's parser makes no node of them). */
static inline const struct reg_node *
reg_unparen(const struct reg_node *n)
{
    while (n->kind == N_PAREN)
        n = n->a;
    return n;
}

/* reg_node_nitems: n's number of items (0 for a kind without). */
static inline size_t
reg_node_nitems(const struct reg_node *n)
{
    return reg_node_has_items(n->kind) ? n->nitems : 0;
}

struct reg_file {
    char *name;
    char *src;
    size_t len;
    struct reg_token *toks;
    size_t ntoks;
    uint32_t *lines; /* offset of each line start: made by reg_file_lines when first needed */
    size_t nlines;
    struct reg_node *root; /* N_FILE */
    /* Every N_SET, N_LET_SET, N_LET and N_FORMALS, in the order their items end (inner
     * before outer): the nodes whose names Nix checks as it parses (registry/binds.c).
     * Such a node's tok is its index here. */
    struct reg_node **binders;
    size_t nbinders;
    /* Bit i of vars: token i names a variable (an N_VAR). Bit i of seen: the evaluator has
     * looked that variable up (a cache of evaluations of the tree, like lines: what it
     * found depends on the tree alone). Variables never looked up are checked by
     * registry/binds.c. */
    unsigned char *vars, *seen;
    struct reg_arena *arena;
};

/* reg_top_body: f's expression under its top-level parentheses, `let ... in` and `with e;`
 * (the registry's set, when it is a set literal). */
static inline const struct reg_node *
reg_top_body(const struct reg_file *f)
{
    const struct reg_node *n = f->root->a;

    for (;;) {
        n = reg_unparen(n);
        if (n->kind == N_LET)
            n = n->a;
        else if (n->kind == N_WITH)
            n = n->b;
        else
            return n;
    }
}

/* reg_lambda_named: whether the N_LAMBDA lam binds a name: `x: ...`, `args@{ ... }: ...` or
 * `{ ... }@args: ...` (lam->tok is then the name's token). Token 0 is a token too, the
 * first of the file: tok != 0 alone would miss a file that starts `args@{`. */
static inline int
reg_lambda_named(const struct reg_node *lam)
{
    return lam->a == NULL || lam->tok != 0 || lam->file->toks[lam->t0].kind == TK_ID;
}

/* A bump allocator: everything freed at once. Allocation is inline (it is most of what
 * parsing and evaluation do); a new chunk is the out-of-line slow path. */
struct reg_chunk;
struct reg_arena {
    struct reg_chunk *head;
    char *cur, *end; /* free room of the head chunk */
    size_t next_size;
    size_t total; /* bytes mapped so far (bounded by ARENA_MAX in arena.c) */
    int dirty;    /* the head chunk is reused memory (else it is fresh from mmap: zero) */
};
struct reg_arena *reg_arena_new(void);
/* reg_arena_new_for: an arena expected to hold about expect bytes (its first chunk is sized
 * for them when that is large). */
struct reg_arena *reg_arena_new_for(size_t expect);
void *reg_arena_alloc_slow(struct reg_arena *a, size_t n);

/* reg_arena_alloc_raw: n bytes aligned for any type, NOT zeroed (arena memory is reused);
 * NULL when out of memory. */
static inline void *
reg_arena_alloc_raw(struct reg_arena *a, size_t n)
{
    char *p = a->cur;

    n = (n + 15) & ~(size_t)15;
    if ((size_t)(a->end - p) < n)
        return reg_arena_alloc_slow(a, n);
    a->cur = p + n;
    return p;
}

/* reg_arena_alloc: n zeroed bytes aligned for any type; NULL when out of memory. Memory
 * fresh from mmap is zero already, and a bump allocator never hands out the same bytes
 * twice from one chunk: only a reused chunk needs clearing. */
static inline void *
reg_arena_alloc(struct reg_arena *a, size_t n)
{
    void *p = reg_arena_alloc_raw(a, n);

    return p != NULL && a->dirty ? memset(p, 0, n) : p;
}
char *reg_arena_strndup(struct reg_arena *a, const char *s, size_t n);
/* reg_arena_mark / reg_arena_release: scratch memory: release gives back everything
 * allocated since the mark (zeroed again, as fresh memory is) when it all came from the
 * chunk the mark was taken in; otherwise it keeps it. Nothing allocated after the mark may
 * be used after the release. */
struct reg_arena_mark {
    struct reg_chunk *head;
    char *cur;
};
static inline struct reg_arena_mark
reg_arena_mark(const struct reg_arena *a)
{
    struct reg_arena_mark m = {a->head, a->cur};

    return m;
}
void reg_arena_release(struct reg_arena *a, struct reg_arena_mark m);
void reg_arena_free(struct reg_arena *a);

/* reg_file_alloc: a file named name (copied) with an arena sized for len bytes of source
 * and room for them in f->src (NUL-terminated at len, the rest not yet filled); NULL when
 * out of memory or too large. reg_parse_src then lexes and parses f->src in place:
 * reg_parse does both with a copy, reg_parse_path reads the file straight into f->src. */
struct reg_file *reg_file_alloc(const char *name, size_t len);
int reg_parse_src(struct reg_file *f, struct m3_diag *d);

/* reg_lex: fills f->toks (ending with TK_EOF; the line table is made later, when first
 * needed: reg_file_lines). M3_ESYNTAX / M3_ENOMEM. */
int reg_lex(struct reg_file *f, struct m3_diag *d);

/* reg_tok_name: a printable name for a token kind ("'}'", "identifier", "end of file"). */
const char *reg_tok_name(enum reg_tok k);

/* reg_linecol: 1-based line and column of byte offset off in f. */
void reg_linecol(const struct reg_file *f, size_t off, unsigned *line, unsigned *col);
/* reg_file_lines: makes f's line table (f->lines, f->nlines) if it is not made yet: only
 * positions need it, and most evaluations report none. The table is a cache of the source
 * (f is otherwise unchanged, hence const). 0, or M3_ENOMEM with no table. */
int reg_file_lines(const struct reg_file *f);

/* reg_node_off / reg_node_end: byte range of a node's tokens (trivia before t0 excluded). */
size_t reg_node_off(const struct reg_node *n);
size_t reg_node_end(const struct reg_node *n);

/* reg_node_span: the span of node n. */
void reg_node_span(const struct reg_node *n, struct reg_span *sp);

/* reg_tok_triv: the offset of the trivia (whitespace, comments) before token i of f. */
static inline size_t
reg_tok_triv(const struct reg_file *f, uint32_t i)
{
    return i == 0 ? 0 : (size_t)f->toks[i - 1].off + f->toks[i - 1].len;
}

/* reg_tok_text: the text of token i of f. */
const char *reg_tok_text(const struct reg_file *f, uint32_t i, size_t *len);

/* reg_decode_str_part: decodes the escapes of a TK_STR_PART token (in a "..." string when
 * ind is 0, in an indented string otherwise) into out (at most the token's length bytes);
 * returns the decoded length. In a "..." string a carriage return, alone or before a
 * newline, decodes to a newline, as in Nix. */
size_t reg_decode_str_part(const char *s, size_t n, int ind, char *out);

#endif
