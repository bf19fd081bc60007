/* lexer.c: Nix tokens with their leading trivia.
 *
 * The token rules follow Nix's lexer.l: longest match wins, ties go to the earlier rule
 * (keywords and operators, identifiers, integers, floats, paths, <paths>, URIs). Strings are
 * lexed in a mode stack so `${ ... }` nests inside strings and `}` returns to the string. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/syntax.h"

enum mode { MODE_BRACE, MODE_DOLLAR, MODE_STR, MODE_IND, MODE_PATH };

struct lexer {
    struct reg_file *f;
    const char *s;
    size_t n, i;
    enum mode *stack;
    size_t depth, cap;
    struct reg_token *toks; /* f->toks while lexing, kept here (the hot path) */
    size_t ntoks, cap_toks;
    int done; /* TK_EOF pushed */
    struct m3_diag *d;
};

static const struct {
    const char *text;
    enum reg_tok kind;
} keywords[] = {
    {"if", TK_IF},           {"then", TK_THEN}, {"else", TK_ELSE}, {"assert", TK_ASSERT},
    {"with", TK_WITH},       {"let", TK_LET},   {"in", TK_IN},     {"rec", TK_REC},
    {"inherit", TK_INHERIT}, {"or", TK_OR_KW},
};

static const struct {
    const char *text;
    enum reg_tok kind;
} puncts[] = {
    {"...", TK_ELLIPSIS}, {"==", TK_EQ},    {"!=", TK_NEQ},   {"<=", TK_LEQ},    {">=", TK_GEQ},
    {"&&", TK_AND},       {"||", TK_OR},    {"->", TK_IMPL},  {"//", TK_UPDATE}, {"++", TK_CONCAT},
    {"[", TK_LBRACK},     {"]", TK_RBRACK}, {"(", TK_LPAREN}, {")", TK_RPAREN},  {";", TK_SEMI},
    {":", TK_COLON},      {",", TK_COMMA},  {".", TK_DOT},    {"=", TK_ASSIGN},  {"@", TK_AT},
    {"?", TK_QUESTION},   {"!", TK_NOT},    {"+", TK_PLUS},   {"-", TK_MINUS},   {"*", TK_STAR},
    {"/", TK_SLASH},      {"<", TK_LT},     {">", TK_GT},
};

const char *
reg_tok_name(enum reg_tok k)
{
    size_t i;

    switch (k) {
    case TK_EOF:
        return "end of file";
    case TK_ID:
        return "identifier";
    case TK_INT:
        return "integer";
    case TK_FLOAT:
        return "float";
    case TK_PATH:
    case TK_HPATH:
        return "path";
    case TK_SPATH:
        return "<path>";
    case TK_URI:
        return "URI";
    case TK_STR_OPEN:
    case TK_STR_CLOSE:
        return "\"";
    case TK_IND_OPEN:
    case TK_IND_CLOSE:
        return "''";
    case TK_STR_PART:
        return "string";
    case TK_DOLLAR_CURLY:
        return "${";
    case TK_LBRACE:
        return "{";
    case TK_RBRACE:
        return "}";
    default:
        break;
    }
    for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
        if (keywords[i].kind == k)
            return keywords[i].text;
    for (i = 0; i < sizeof(puncts) / sizeof(puncts[0]); i++)
        if (puncts[i].kind == k)
            return puncts[i].text;
    return "token";
}

/* Bytes that continue an identifier, and first letters of keywords. */
static const unsigned char id_char[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['_'] = 1, ['\''] = 1, ['-'] = 1,
};
static const unsigned char kw_first[256] = {
    ['i'] = 1, ['t'] = 1, ['e'] = 1, ['a'] = 1, ['w'] = 1, ['l'] = 1, ['r'] = 1, ['o'] = 1,
};

/* Whitespace of trivia, path characters, and bytes that end a run of string text. */
static const unsigned char ws_char[256] = {[' '] = 1, ['\n'] = 1, ['\t'] = 1, ['\r'] = 1};
static const unsigned char path_char[256] = {
    ['0' ... '9'] = 1, ['a' ... 'z'] = 1, ['A' ... 'Z'] = 1, ['.'] = 1,
    ['_'] = 1,         ['-'] = 1,         ['+'] = 1,
};
static const unsigned char str_stop[256] = {['"'] = 1, ['\\'] = 1, ['$'] = 1, ['\0'] = 1};
/* Punctuation that can start nothing but itself or a longer operator. */
static const unsigned char simple_punct[256] = {
    ['['] = 1, [']'] = 1, ['('] = 1, [')'] = 1, [';'] = 1, [','] = 1, ['@'] = 1,
    ['?'] = 1, ['*'] = 1, [':'] = 1, ['='] = 1, ['!'] = 1, ['>'] = 1,
};

static int
is_alpha(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static inline int
is_path_char(int c)
{
    return path_char[(unsigned char)c];
}

static int
is_uri_char(int c)
{
    return is_alpha(c) || is_digit(c) || (c != 0 && strchr("%/?:@&=+$,-_.!~*'", c) != NULL);
}

static size_t
match_id(const char *s, size_t n)
{
    size_t i = 0;

    if (n == 0 || !(is_alpha(s[0]) || s[0] == '_'))
        return 0;
    for (i = 1; i < n; i++)
        if (!(is_alpha(s[i]) || is_digit(s[i]) || s[i] == '_' || s[i] == '\'' || s[i] == '-'))
            break;
    return i;
}

static size_t
match_int(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && is_digit(s[i]))
        i++;
    return i;
}

static size_t
match_float(const char *s, size_t n)
{
    size_t i = 0, j;

    if (i < n && s[i] >= '1' && s[i] <= '9') {
        while (i < n && is_digit(s[i]))
            i++;
        if (i >= n || s[i] != '.')
            return 0;
        i++;
        while (i < n && is_digit(s[i]))
            i++;
    } else {
        if (i < n && s[i] == '0')
            i++;
        if (i >= n || s[i] != '.')
            return 0;
        i++;
        if (i >= n || !is_digit(s[i]))
            return 0;
        while (i < n && is_digit(s[i]))
            i++;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        j = i + 1;
        if (j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        if (j < n && is_digit(s[j])) {
            while (j < n && is_digit(s[j]))
                j++;
            i = j;
        }
    }
    return i;
}

/* {PATH_CHAR}* (/ {PATH_CHAR}+)+ /?  after an optional prefix already consumed */
static size_t
match_segments(const char *s, size_t n, size_t i)
{
    size_t segs = 0, j;

    for (;;) {
        if (i >= n || s[i] != '/')
            break;
        j = i + 1;
        while (j < n && is_path_char(s[j]))
            j++;
        if (j == i + 1)
            break;
        i = j;
        segs++;
    }
    if (segs == 0)
        return 0;
    if (i < n && s[i] == '/')
        i++;
    return i;
}

static size_t
match_path(const char *s, size_t n)
{
    size_t i = 0;

    while (i < n && is_path_char(s[i]))
        i++;
    return match_segments(s, n, i);
}

static size_t
match_hpath(const char *s, size_t n)
{
    if (n == 0 || s[0] != '~')
        return 0;
    return match_segments(s, n, 1);
}

static size_t
match_spath(const char *s, size_t n)
{
    size_t i = 1, j;

    if (n == 0 || s[0] != '<')
        return 0;
    while (i < n && is_path_char(s[i]))
        i++;
    if (i == 1)
        return 0;
    for (;;) {
        if (i < n && s[i] == '/') {
            j = i + 1;
            while (j < n && is_path_char(s[j]))
                j++;
            if (j == i + 1)
                return 0;
            i = j;
            continue;
        }
        break;
    }
    return i < n && s[i] == '>' ? i + 1 : 0;
}

static size_t
match_uri(const char *s, size_t n)
{
    size_t i = 1, j;

    if (n == 0 || !is_alpha(s[0]))
        return 0;
    while (i < n && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= n || s[i] != ':')
        return 0;
    j = i + 1;
    while (j < n && is_uri_char(s[j]))
        j++;
    return j > i + 1 ? j : 0;
}

/* match_punct: the operator or punctuation at p (longest first), 0 if none. */
static size_t
match_punct(const char *p, size_t rest, enum reg_tok *kind)
{
    char c1 = rest > 1 ? p[1] : '\0';

#define TWO(ch, k2, k1)                                                                            \
    if (c1 == (ch)) {                                                                              \
        *kind = (k2);                                                                              \
        return 2;                                                                                  \
    }                                                                                              \
    *kind = (k1);                                                                                  \
    return 1
    switch (p[0]) {
    case '.':
        if (c1 == '.' && rest > 2 && p[2] == '.') {
            *kind = TK_ELLIPSIS;
            return 3;
        }
        *kind = TK_DOT;
        return 1;
    case '=':
        TWO('=', TK_EQ, TK_ASSIGN);
    case '!':
        TWO('=', TK_NEQ, TK_NOT);
    case '<':
        TWO('=', TK_LEQ, TK_LT);
    case '>':
        TWO('=', TK_GEQ, TK_GT);
    case '-':
        TWO('>', TK_IMPL, TK_MINUS);
    case '/':
        TWO('/', TK_UPDATE, TK_SLASH);
    case '+':
        TWO('+', TK_CONCAT, TK_PLUS);
    case '&':
        if (c1 != '&')
            return 0;
        *kind = TK_AND;
        return 2;
    case '|':
        if (c1 != '|')
            return 0;
        *kind = TK_OR;
        return 2;
    case '[':
        *kind = TK_LBRACK;
        return 1;
    case ']':
        *kind = TK_RBRACK;
        return 1;
    case '(':
        *kind = TK_LPAREN;
        return 1;
    case ')':
        *kind = TK_RPAREN;
        return 1;
    case ';':
        *kind = TK_SEMI;
        return 1;
    case ':':
        *kind = TK_COLON;
        return 1;
    case ',':
        *kind = TK_COMMA;
        return 1;
    case '@':
        *kind = TK_AT;
        return 1;
    case '?':
        *kind = TK_QUESTION;
        return 1;
    case '*':
        *kind = TK_STAR;
        return 1;
    default:
        return 0;
    }
#undef TWO
}

static inline int push_tok(struct lexer *lx, enum reg_tok kind, size_t triv, size_t off,
                           size_t len);
static int push_mode(struct lexer *lx, enum mode m);
static int lex_error(struct lexer *lx, size_t off, const char *what);

/* match_path_start: Nix's PATH_SEG before `${`: path characters and slashes ending in '/'
 * (with a slash in them), directly followed by `${`; 0 otherwise. */
static size_t
match_path_start(const char *p, size_t rest)
{
    size_t i = 0, slashes = 0;

    if (rest > 0 && p[0] == '~')
        i = 1;
    while (i < rest && (is_path_char(p[i]) || p[i] == '/')) {
        slashes += p[i] == '/';
        i++;
    }
    if (slashes == 0 || p[i - 1] != '/' || i + 1 >= rest || p[i] != '$' || p[i + 1] != '{')
        return 0;
    return i;
}

/* lex_path: inside an interpolated path: `${`, more path text, or its (empty) end. */
static int
lex_path(struct lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->i, start = i;

    if (i + 1 < lx->n && s[i] == '$' && s[i + 1] == '{') {
        lx->i = i + 2;
        return push_mode(lx, MODE_DOLLAR) ?: push_tok(lx, TK_DOLLAR_CURLY, i, i, 2);
    }
    while (i < lx->n && (is_path_char(s[i]) || s[i] == '/'))
        i++;
    if (i > start && s[i - 1] == '/' && !(i + 1 < lx->n && s[i] == '$' && s[i + 1] == '{'))
        return lex_error(lx, i, "path has a trailing slash");
    if (i > start) {
        lx->i = i;
        return push_tok(lx, TK_STR_PART, start, start, i - start);
    }
    lx->depth--;
    return push_tok(lx, TK_PATH_END, i, i, 0);
}

static int
lex_error(struct lexer *lx, size_t off, const char *what)
{
    unsigned line, col;

    reg_linecol(lx->f, off, &line, &col);
    if (lx->d != NULL) {
        lx->d->line = line;
        lx->d->col = col;
    }
    return m3_diag_set(lx->d, M3_ESYNTAX, "%s:%u:%u: %s", lx->f->name, line, col, what);
}

/* grow_toks: more room for tokens, in the file's arena (the old array stays there). */
static int
grow_toks(struct lexer *lx)
{
    size_t cap = lx->cap_toks ? lx->cap_toks * 2 : lx->n / 4 + 256;
    struct reg_token *t;

    if (cap > SIZE_MAX / sizeof(*t) ||
        (t = reg_arena_alloc_raw(lx->f->arena, cap * sizeof(*t))) == NULL)
        return M3_ENOMEM;
    if (lx->ntoks > 0)
        memcpy(t, lx->toks, lx->ntoks * sizeof(*t));
    lx->toks = t;
    lx->cap_toks = cap;
    return 0;
}

static inline int
push_tok(struct lexer *lx, enum reg_tok kind, size_t triv, size_t off, size_t len)
{
    struct reg_token *t;

    if (lx->ntoks == lx->cap_toks && grow_toks(lx) != 0)
        return M3_ENOMEM;
    t = &lx->toks[lx->ntoks++];
    (void)triv; /* implied: the end of the token before (reg_tok_triv) */
    t->kind = kind;
    t->off = (uint32_t)off;
    t->len = (uint32_t)len;
    return 0;
}

static int
push_mode(struct lexer *lx, enum mode m)
{
    if (lx->depth == lx->cap) {
        size_t cap = lx->cap ? lx->cap * 2 : 16;
        enum mode *p = realloc(lx->stack, cap * sizeof(*p));
        if (p == NULL)
            return M3_ENOMEM;
        lx->stack = p;
        lx->cap = cap;
    }
    lx->stack[lx->depth++] = m;
    return 0;
}

int
reg_file_lines(const struct reg_file *cf)
{
    struct reg_file *f = (struct reg_file *)cf; /* the table is a cache: see syntax.h */
    size_t n = 1;
    const char *p = f->src, *end = f->src + f->len;
    uint32_t *lines;

    if (f->lines != NULL)
        return 0;
    while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    if ((lines = reg_arena_alloc_raw(f->arena, n * sizeof(*lines))) == NULL)
        return M3_ENOMEM;
    n = 0;
    lines[n++] = 0;
    for (p = f->src; (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        lines[n++] = (uint32_t)(p - f->src + 1);
    f->nlines = n;
    f->lines = lines;
    return 0;
}

void
reg_linecol(const struct reg_file *f, size_t off, unsigned *line, unsigned *col)
{
    size_t lo = 0, hi;

    if (reg_file_lines(f) != 0) {
        /* no memory for the table: count the lines up to off */
        const char *p = f->src, *end = f->src + (off < f->len ? off : f->len), *nl = p;
        unsigned l = 1;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL)
            nl = ++p, l++;
        *line = l;
        *col = (unsigned)(f->src + off - nl) + 1;
        return;
    }
    hi = f->nlines;

    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (f->lines[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    *line = (unsigned)lo + 1;
    *col = (unsigned)(off - f->lines[lo]) + 1;
}

/* skip_trivia: whitespace and comments; returns 0 or a syntax error. */
static int
skip_trivia(struct lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->i, n = lx->n;

    for (;;) {
        while (i < n && ws_char[(unsigned char)s[i]])
            i++;
        if (i < n && s[i] == '#') {
            while (i < n && s[i] != '\n' && s[i] != '\r')
                i++;
        } else if (i + 1 < n && s[i] == '/' && s[i + 1] == '*') {
            size_t start = i;
            i += 2;
            while (i + 1 < n && !(s[i] == '*' && s[i + 1] == '/'))
                i++;
            if (i + 1 >= n)
                return lex_error(lx, start, "unterminated comment");
            i += 2;
        } else {
            lx->i = i;
            return 0;
        }
    }
}

static int
lex_string(struct lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->i, start = i;

    if (i >= lx->n)
        return lex_error(lx, i, "unterminated string");
    if (s[i] == '"') {
        lx->depth--;
        lx->i = i + 1;
        return push_tok(lx, TK_STR_CLOSE, i, i, 1);
    }
    if (s[i] == '$' && i + 1 < lx->n && s[i + 1] == '{') {
        lx->i = i + 2;
        return push_mode(lx, MODE_DOLLAR) ?: push_tok(lx, TK_DOLLAR_CURLY, i, i, 2);
    }
    for (;;) {
        /* the source ends with a NUL (reg_parse), which stops this run */
        while (!str_stop[(unsigned char)s[i]])
            i++;
        if (i >= lx->n || s[i] == '"')
            break;
        if (s[i] == '\0') {
            i++;
        } else if (s[i] == '\\') {
            if (i + 1 >= lx->n)
                return lex_error(lx, start, "unterminated string");
            i += 2;
        } else if (s[i] == '$') {
            if (i + 1 < lx->n && s[i + 1] == '{')
                break;
            if (i + 1 < lx->n && s[i + 1] != '"' && s[i + 1] != '\\')
                i += 2;
            else
                i++;
        } else {
            i++;
        }
    }
    if (i >= lx->n)
        return lex_error(lx, start, "unterminated string");
    lx->i = i;
    if (push_tok(lx, TK_STR_PART, start, start, i - start) != 0)
        return M3_ENOMEM;
    if (s[i] == '"') {
        /* the usual string, one literal part: close it here */
        lx->depth--;
        lx->i = i + 1;
        return push_tok(lx, TK_STR_CLOSE, i, i, 1);
    }
    return 0;
}

static int
lex_ind_string(struct lexer *lx)
{
    const char *s = lx->s;
    size_t i = lx->i, start = i, n = lx->n;

    if (i >= n)
        return lex_error(lx, i, "unterminated indented string");
    if (i + 1 < n && s[i] == '\'' && s[i + 1] == '\'') {
        if (i + 2 < n && (s[i + 2] == '\'' || s[i + 2] == '$')) {
            lx->i = i + 3;
            return push_tok(lx, TK_STR_PART, i, i, 3);
        }
        if (i + 2 < n && s[i + 2] == '\\') {
            if (i + 3 >= n)
                return lex_error(lx, i, "unterminated indented string");
            lx->i = i + 4;
            return push_tok(lx, TK_STR_PART, i, i, 4);
        }
        lx->depth--;
        lx->i = i + 2;
        return push_tok(lx, TK_IND_CLOSE, i, i, 2);
    }
    if (s[i] == '$' && i + 1 < n && s[i + 1] == '{') {
        lx->i = i + 2;
        return push_mode(lx, MODE_DOLLAR) ?: push_tok(lx, TK_DOLLAR_CURLY, i, i, 2);
    }
    while (i < n) {
        if (s[i] == '\'' && i + 1 < n && s[i + 1] == '\'')
            break;
        if (s[i] == '$') {
            if (i + 1 < n && s[i + 1] == '{')
                break;
            i += (i + 1 < n && s[i + 1] != '\'') ? 2 : 1;
        } else {
            i++;
        }
    }
    if (i >= n)
        return lex_error(lx, start, "unterminated indented string");
    lx->i = i;
    return push_tok(lx, TK_STR_PART, start, start, i - start);
}

/* keyword: the keyword kind of the identifier p[0..len), or TK_ID. */
static inline enum reg_tok
keyword(const char *p, size_t len)
{
    size_t k;

    if (len < 2 || len > 7 || !kw_first[(unsigned char)p[0]])
        return TK_ID;
    for (k = 0; k < sizeof(keywords) / sizeof(keywords[0]); k++)
        if (keywords[k].text[0] == p[0] && strncmp(keywords[k].text, p, len) == 0 &&
            keywords[k].text[len] == '\0')
            return keywords[k].kind;
    return TK_ID;
}

static int
lex_expr_one(struct lexer *lx)
{
    const char *s = lx->s, *p;
    size_t triv = lx->i, off, rest, best = 0, len, k;
    enum reg_tok kind = TK_EOF;
    int rc, maybe_path;

    /* the source ends with a NUL (reg_parse), which no table below accepts */
    for (off = lx->i; ws_char[(unsigned char)s[off]]; off++)
        ;
    lx->i = off;
    if (s[off] == '#' || (s[off] == '/' && s[off + 1] == '*')) {
        if ((rc = skip_trivia(lx)) != 0)
            return rc;
        off = lx->i;
    }
    p = s + off;
    rest = lx->n - off;
    if (rest == 0) {
        lx->done = 1;
        return push_tok(lx, TK_EOF, triv, off, 0);
    }
    switch (p[0]) {
    case '\'':
        if (p[1] != '\'')
            break;
        len = 2;
        while (len < rest && p[len] == ' ')
            len++;
        if (len < rest && p[len] == '\n')
            len++;
        else
            len = 2;
        lx->i = off + len;
        return push_mode(lx, MODE_IND) ?: push_tok(lx, TK_IND_OPEN, triv, off, len);
    case '"':
        lx->i = off + 1;
        return push_mode(lx, MODE_STR) ?: push_tok(lx, TK_STR_OPEN, triv, off, 1);
    case '$':
        if (p[1] != '{')
            break;
        lx->i = off + 2;
        return push_mode(lx, MODE_DOLLAR) ?: push_tok(lx, TK_DOLLAR_CURLY, triv, off, 2);
    case '{':
        lx->i = off + 1;
        return push_mode(lx, MODE_BRACE) ?: push_tok(lx, TK_LBRACE, triv, off, 1);
    case '}':
        if (lx->depth > 0)
            lx->depth--;
        lx->i = off + 1;
        return push_tok(lx, TK_RBRACE, triv, off, 1);
    default:
        break;
    }
    /* Fast path: an identifier that cannot extend into a path or a URI (the next byte is
     * none of '/', ':', '.', '+', which are the only ways an identifier's text continues
     * as one). */
    if (is_alpha(p[0]) || p[0] == '_') {
        size_t id = 1;
        char next;
        while (id_char[(unsigned char)p[id]])
            id++;
        next = p[id];
        if (next != '/' && next != ':' && next != '.' && next != '+') {
            lx->i = off + id;
            return push_tok(lx, keyword(p, id), triv, off, id);
        }
    }
    if (simple_punct[(unsigned char)p[0]]) {
        best = match_punct(p, rest, &kind);
        lx->i = off + best;
        return push_tok(lx, kind, triv, off, best);
    }
    /* Only a run of path characters followed by '/' (or '~/') can be a path. */
    for (k = 0; k < rest && path_char[(unsigned char)p[k]]; k++)
        ;
    maybe_path = (k < rest && p[k] == '/') || p[0] == '~';
    best = match_punct(p, rest, &kind);
    if (!maybe_path && !is_alpha(p[0]) && !is_digit(p[0]) && p[0] != '.' && p[0] != '<' &&
        best > 0) {
        lx->i = off + best;
        return push_tok(lx, kind, triv, off, best);
    }
    if ((len = match_id(p, rest)) > best) {
        best = len;
        kind = keyword(p, len);
    }
    if (is_digit(p[0]) && (len = match_int(p, rest)) > best) {
        best = len;
        kind = TK_INT;
    }
    if ((is_digit(p[0]) || p[0] == '.') && (len = match_float(p, rest)) > best) {
        best = len;
        kind = TK_FLOAT;
    }
    if (maybe_path && (len = match_path(p, rest)) > best) {
        best = len;
        kind = TK_PATH;
    }
    if (maybe_path && (len = match_hpath(p, rest)) > best) {
        best = len;
        kind = TK_HPATH;
    }
    if ((len = match_spath(p, rest)) > best) {
        best = len;
        kind = TK_SPATH;
    }
    if (is_alpha(p[0]) && (len = match_uri(p, rest)) > best) {
        best = len;
        kind = TK_URI;
    }
    if (maybe_path && (len = match_path_start(p, rest)) > 0 && len >= best) {
        lx->i = off + len;
        return push_mode(lx, MODE_PATH) ?: push_tok(lx, TK_PATH_START, triv, off, len);
    }
    if (best == 0) {
        char msg[64];
        if ((unsigned char)p[0] >= 0x20 && (unsigned char)p[0] < 0x7f)
            snprintf(msg, sizeof(msg), "unexpected character '%c'", p[0]);
        else
            snprintf(msg, sizeof(msg), "unexpected byte 0x%02x", (unsigned char)p[0]);
        return lex_error(lx, off, msg);
    }
    if ((kind == TK_PATH || kind == TK_HPATH) && p[best - 1] == '/')
        return lex_error(lx, off, "path has a trailing slash");
    /* ${ inside a segment (./keys/root_${host}.pub): Nix's PATH, then its interpolation */
    if ((kind == TK_PATH || kind == TK_HPATH) && best + 1 < rest && p[best] == '$' &&
        p[best + 1] == '{') {
        lx->i = off + best;
        return push_mode(lx, MODE_PATH) ?: push_tok(lx, TK_PATH_START, triv, off, best);
    }
    lx->i = off + best;
    return push_tok(lx, kind, triv, off, best);
}

/* Punctuation that is always a token of one byte (no longer token starts with it). */
static const unsigned char single_kind[256] = {
    ['['] = TK_LBRACK, [']'] = TK_RBRACK, ['('] = TK_LPAREN,   [')'] = TK_RPAREN, [';'] = TK_SEMI,
    [','] = TK_COMMA,  ['@'] = TK_AT,     ['?'] = TK_QUESTION, ['*'] = TK_STAR,   [':'] = TK_COLON,
};
_Static_assert(TK_GT < 256, "token kinds fit single_kind");

/* lex_expr: tokens in an expression, the usual ones (identifiers and one-byte punctuation)
 * in a loop here, until one that lex_expr_one must see (it may change the mode). */
static int
lex_expr(struct lexer *lx)
{
    const char *s = lx->s;

    for (;;) {
        size_t triv = lx->i, off = triv, id;
        const char *p;
        unsigned char ch;
        char next;

        /* the source ends with a NUL (reg_parse), which stops every run below */
        while (ws_char[(unsigned char)s[off]])
            off++;
        p = s + off;
        ch = (unsigned char)p[0];
        if (single_kind[ch]) {
            lx->i = off + 1;
            if (push_tok(lx, (enum reg_tok)single_kind[ch], triv, off, 1) != 0)
                return M3_ENOMEM;
            continue;
        }
        if (!is_alpha(ch) && ch != '_') {
            enum reg_tok k;
            size_t len = 1;
            switch (ch) {
            case '=':
                k = p[1] == '=' ? TK_EQ : TK_ASSIGN;
                len = k == TK_EQ ? 2 : 1;
                break;
            case '+':
                /* `++` unless path characters and a '/' follow (`++a/b` is a path) */
                if (p[1] != '+' || path_char[(unsigned char)p[2]] || p[2] == '/')
                    return lex_expr_one(lx);
                k = TK_CONCAT;
                len = 2;
                break;
            case '{':
                if (push_mode(lx, MODE_BRACE) != 0)
                    return M3_ENOMEM;
                k = TK_LBRACE;
                break;
            case '"':
                /* the mode changes: back to reg_lex */
                lx->i = off + 1;
                return push_mode(lx, MODE_STR) ?: push_tok(lx, TK_STR_OPEN, triv, off, 1);
            case '.':
                /* `.` unless `...`, a float (`.5`) or a path (path characters, then '/') */
                if (p[1] == '.' || is_digit(p[1]))
                    return lex_expr_one(lx);
                for (len = 1; path_char[(unsigned char)p[len]]; len++)
                    ;
                if (p[len] == '/')
                    return lex_expr_one(lx);
                k = TK_DOT;
                len = 1;
                break;
            default:
                return lex_expr_one(lx);
            }
            lx->i = off + len;
            if (push_tok(lx, k, triv, off, len) != 0)
                return M3_ENOMEM;
            continue;
        }
        /* an identifier that cannot extend into a path or a URI (the next byte is none of
         * '/', ':', '.', '+', the only ways an identifier's text continues as one) */
        for (id = 1; id_char[(unsigned char)p[id]]; id++)
            ;
        next = p[id];
        if (next == '/' || next == ':' || next == '.' || next == '+')
            return lex_expr_one(lx);
        lx->i = off + id;
        if (push_tok(lx, keyword(p, id), triv, off, id) != 0)
            return M3_ENOMEM;
    }
}

int
reg_lex(struct reg_file *f, struct m3_diag *d)
{
    struct lexer lx = {.f = f, .s = f->src, .n = f->len, .d = d};
    int rc;

    for (;;) {
        enum mode m = lx.depth ? lx.stack[lx.depth - 1] : MODE_BRACE;
        if (m <= MODE_DOLLAR)
            rc = lex_expr(&lx);
        else if (m == MODE_STR)
            rc = lex_string(&lx);
        else if (m == MODE_IND)
            rc = lex_ind_string(&lx);
        else
            rc = lex_path(&lx);
        if (rc != 0)
            goto out;
        if (lx.done && lx.i >= lx.n)
            break;
    }
out:
    f->toks = lx.toks;
    f->ntoks = lx.ntoks;
    free(lx.stack);
    return rc;
}

size_t
reg_decode_str_part(const char *s, size_t n, int ind, char *out)
{
    size_t i = 0, o = 0;

    if (ind) {
        if (n >= 3 && s[0] == '\'' && s[1] == '\'') {
            if (s[2] == '\'') {
                out[o++] = '\'';
                out[o++] = '\'';
                return o;
            }
            if (s[2] == '$') {
                out[o++] = '$';
                return o;
            }
            if (s[2] == '\\' && n >= 4) {
                char c = s[3];
                out[o++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
                return o;
            }
        }
        memcpy(out, s, n);
        return n;
    }
    while (i < n) {
        size_t run = 0;
        while (i + run < n && s[i + run] != '\\' && s[i + run] != '\r')
            run++;
        memcpy(out + o, s + i, run);
        o += run;
        i += run;
        if (i < n && s[i] == '\r') {
            /* as in Nix, a carriage return in a "..." string, alone or before a newline, is
             * a newline (an indented string keeps it) */
            out[o++] = '\n';
            i += i + 1 < n && s[i + 1] == '\n' ? 2 : 1;
        } else if (i + 1 < n) {
            char c = s[i + 1];
            out[o++] = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
            i += 2;
        } else if (i < n) {
            out[o++] = s[i++];
        }
    }
    return o;
}
