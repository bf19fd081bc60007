/* fromjson.c: builtins.fromJSON, the JSON of RFC 8259 read into values as Nix 2.8 reads it
 * (nlohmann::json): an integer that fits 64 bits unsigned is an integer (above INT64_MAX it
 * wraps), a larger one or one with a fraction or an exponent is a float, a float that
 * overflows is an error; strings must be well-formed UTF-8 with control characters escaped,
 * \u escapes pair their surrogates, and a string ends at a NUL (\u0000), as a Nix string
 * does; of repeated keys the last one counts. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "registry/eval.h"

/* Nesting beyond this is refused rather than recursed into (Nix has no limit). */
#define JSON_MAX_DEPTH 512

struct jp {
    struct reg_ctx *c;
    const struct reg_node *at;
    const char *s;
    size_t n, i;
    unsigned depth;
};

_Noreturn static void
bad(struct jp *p, const char *what)
{
    reg_throw(p->c, M3_EEVAL, p->at, "builtins.fromJSON: invalid JSON at byte %zu: %s", p->i + 1,
              what);
}

static void *
grow(struct jp *p, void *old, size_t used, size_t *cap, size_t size)
{
    size_t ncap = *cap ? *cap * 2 : 8;
    void *np;

    if (ncap > SIZE_MAX / size / 2 || (np = reg_arena_alloc_raw(p->c->arena, ncap * size)) == NULL)
        reg_throw(p->c, M3_ENOMEM, p->at, "out of memory");
    if (used > 0)
        memcpy(np, old, used * size);
    *cap = ncap;
    return np;
}

static void
ws(struct jp *p)
{
    while (p->i < p->n &&
           (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' || p->s[p->i] == '\r'))
        p->i++;
}

/* utf8_len: the length of the well-formed UTF-8 sequence at s (at most n bytes), or 0. */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
    size_t len, k;
    unsigned char lo = 0x80, hi = 0xbf;

    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        len = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        len = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        len = 4;
    else
        return 0;
    /* the second byte's range rules out overlong forms, surrogates and > U+10FFFF */
    if (s[0] == 0xe0)
        lo = 0xa0;
    else if (s[0] == 0xed)
        hi = 0x9f;
    else if (s[0] == 0xf0)
        lo = 0x90;
    else if (s[0] == 0xf4)
        hi = 0x8f;
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xbf)
            return 0;
    return len;
}

static unsigned
hex4(struct jp *p)
{
    unsigned v = 0, k;

    for (k = 0; k < 4; k++) {
        char ch = p->i + k < p->n ? p->s[p->i + k] : '\0';
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0)
            bad(p, "'\\u' must be followed by 4 hex digits");
        v = v * 16 + (unsigned)d;
    }
    p->i += 4;
    return v;
}

static size_t
put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* string: the string whose opening quote is at p->i, decoded into the arena (*len bytes;
 * an escape never decodes longer than it is written, so its raw size is enough room). */
static const char *
string(struct jp *p, size_t *len)
{
    size_t end = ++p->i, o = 0, k;
    char *out;
    unsigned cp, lo;

    while (end < p->n && p->s[end] != '"')
        end += p->s[end] == '\\' ? 2 : 1;
    if ((out = reg_arena_alloc_raw(p->c->arena, (end < p->n ? end : p->n) - p->i + 1)) == NULL)
        reg_throw(p->c, M3_ENOMEM, p->at, "out of memory");
    for (;;) {
        unsigned char ch = p->i < p->n ? (unsigned char)p->s[p->i] : 0;
        if (p->i >= p->n)
            bad(p, "unterminated string");
        if (ch == '"') {
            p->i++;
            break;
        }
        if (ch < 0x20)
            bad(p, "control character in a string (it must be escaped)");
        if (ch >= 0x80) {
            if ((k = utf8_len((const unsigned char *)p->s + p->i, p->n - p->i)) == 0)
                bad(p, "ill-formed UTF-8 byte in a string");
            memcpy(out + o, p->s + p->i, k);
            o += k;
            p->i += k;
            continue;
        }
        p->i++;
        if (ch != '\\') {
            out[o++] = (char)ch;
            continue;
        }
        ch = p->i < p->n ? (unsigned char)p->s[p->i] : 0;
        p->i++;
        switch (ch) {
        case '"':
        case '\\':
        case '/':
            out[o++] = (char)ch;
            break;
        case 'b':
            out[o++] = '\b';
            break;
        case 'f':
            out[o++] = '\f';
            break;
        case 'n':
            out[o++] = '\n';
            break;
        case 'r':
            out[o++] = '\r';
            break;
        case 't':
            out[o++] = '\t';
            break;
        case 'u':
            cp = hex4(p);
            if (cp >= 0xdc00 && cp <= 0xdfff)
                bad(p, "a low surrogate (U+DC00..U+DFFF) without a high one before it");
            if (cp >= 0xd800 && cp <= 0xdbff) {
                if (!(p->i + 1 < p->n && p->s[p->i] == '\\' && p->s[p->i + 1] == 'u'))
                    bad(p, "a high surrogate (U+D800..U+DBFF) not followed by a low one");
                p->i += 2;
                lo = hex4(p);
                if (lo < 0xdc00 || lo > 0xdfff)
                    bad(p, "a high surrogate (U+D800..U+DBFF) not followed by a low one");
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            o += put_utf8(out + o, cp);
            break;
        default:
            p->i--;
            bad(p, "forbidden character after a backslash");
        }
    }
    out[o] = '\0';
    *len = strlen(out); /* a Nix string ends at its first NUL */
    return out;
}

static void
number(struct jp *p, struct reg_val *v)
{
    size_t start = p->i;
    int is_float = 0;
    char buf[400], *end;

    if (p->i < p->n && p->s[p->i] == '-')
        p->i++;
    if (p->i < p->n && p->s[p->i] == '0')
        p->i++;
    else if (p->i < p->n && p->s[p->i] >= '1' && p->s[p->i] <= '9')
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    else
        bad(p, "expected a digit");
    if (p->i < p->n && p->s[p->i] == '.') {
        is_float = 1;
        p->i++;
        if (!(p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            bad(p, "expected a digit after '.'");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        is_float = 1;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        if (!(p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9'))
            bad(p, "expected a digit in the exponent");
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    }
    if (p->i - start >= sizeof(buf))
        bad(p, "number too long");
    memcpy(buf, p->s + start, p->i - start);
    buf[p->i - start] = '\0';
    if (!is_float) {
        errno = 0;
        if (buf[0] == '-') {
            long long x = strtoll(buf, &end, 10);
            if (errno == 0) {
                v->t = V_INT;
                v->i = x;
                return;
            }
        } else {
            unsigned long long x = strtoull(buf, &end, 10);
            if (errno == 0) {
                v->t = V_INT;
                v->i = (long long)x; /* as Nix: a value above INT64_MAX wraps */
                return;
            }
        }
    }
    v->t = V_FLOAT;
    v->f = strtod(buf, &end);
    if (!isfinite(v->f)) {
        p->i = start;
        bad(p, "number overflow");
    }
}

static int
key_cmp(const void *x, const void *y)
{
    const struct reg_attr *a = x, *b = y;
    int r = reg_name_cmp(a->name, a->len, b->name, b->len);

    if (r != 0)
        return r;
    return (uintptr_t)a->pos < (uintptr_t)b->pos ? -1 : (uintptr_t)a->pos > (uintptr_t)b->pos;
}

static void value(struct jp *p, struct reg_val *v);

static void
object(struct jp *p, struct reg_val *v)
{
    struct reg_attr *a = NULL;
    struct reg_set *set;
    size_t n = 0, cap = 0, i, o = 0;

    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == '}')
        p->i++;
    else
        for (;;) {
            if (!(p->i < p->n && p->s[p->i] == '"'))
                bad(p, "expected a string as the key");
            if (n == cap)
                a = grow(p, a, n, &cap, sizeof(*a));
            a[n].name = string(p, &a[n].len);
            a[n].pos = (const struct reg_node *)(uintptr_t)n; /* order, for the last to win */
            ws(p);
            if (!(p->i < p->n && p->s[p->i] == ':'))
                bad(p, "expected ':' after the key");
            p->i++;
            a[n].v = reg_new(p->c, V_NULL);
            value(p, a[n++].v);
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                ws(p);
                continue;
            }
            if (p->i < p->n && p->s[p->i] == '}') {
                p->i++;
                break;
            }
            bad(p, "expected ',' or '}'");
        }
    if (n > 0)
        qsort(a, n, sizeof(*a), key_cmp);
    set = reg_new_set(p->c, n);
    for (i = 0; i < n; i++) {
        if (i + 1 < n && reg_name_cmp(a[i].name, a[i].len, a[i + 1].name, a[i + 1].len) == 0)
            continue;
        set->a[o] = a[i];
        set->a[o++].pos = NULL;
    }
    set->n = o;
    v->t = V_SET;
    v->set = set;
}

static void
array(struct jp *p, struct reg_val *v)
{
    struct reg_val **items = NULL;
    size_t n = 0, cap = 0;

    p->i++;
    ws(p);
    if (p->i < p->n && p->s[p->i] == ']')
        p->i++;
    else
        for (;;) {
            if (n == cap)
                items = grow(p, items, n, &cap, sizeof(*items));
            items[n] = reg_new(p->c, V_NULL);
            value(p, items[n++]);
            ws(p);
            if (p->i < p->n && p->s[p->i] == ',') {
                p->i++;
                continue;
            }
            if (p->i < p->n && p->s[p->i] == ']') {
                p->i++;
                break;
            }
            bad(p, "expected ',' or ']'");
        }
    v->t = V_LIST;
    v->list.v = items;
    v->list.n = n;
}

static int
literal(struct jp *p, const char *word)
{
    size_t k = strlen(word);

    if (p->n - p->i < k || memcmp(p->s + p->i, word, k) != 0)
        return 0;
    p->i += k;
    return 1;
}

static void
value(struct jp *p, struct reg_val *v)
{
    char ch;

    ws(p);
    if (p->i >= p->n)
        bad(p, "unexpected end of input, expected a value");
    ch = p->s[p->i];
    v->src = NULL;
    if (ch == '{' || ch == '[') {
        if (++p->depth > JSON_MAX_DEPTH)
            bad(p, "nested deeper than 512 levels");
        if (ch == '{')
            object(p, v);
        else
            array(p, v);
        p->depth--;
    } else if (ch == '"') {
        const char *s;
        size_t len;
        s = string(p, &len);
        v->t = V_STR;
        v->plain = 0;
        v->str.s = s;
        v->str.n = len;
    } else if (ch == '-' || (ch >= '0' && ch <= '9')) {
        number(p, v);
    } else if (literal(p, "true")) {
        v->t = V_BOOL;
        v->b = 1;
    } else if (literal(p, "false")) {
        v->t = V_BOOL;
        v->b = 0;
    } else if (literal(p, "null")) {
        v->t = V_NULL;
    } else {
        bad(p, "expected a value");
    }
}

void
reg_from_json(struct reg_ctx *c, const char *s, size_t n, struct reg_val *out,
              const struct reg_node *at)
{
    struct jp p = {c, at, s, n, 0, 0};

    value(&p, out);
    ws(&p);
    if (p.i < p.n)
        bad(&p, "unexpected text after the value");
}
