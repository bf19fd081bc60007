/* json.c: values as JSON, byte for byte as `nix-instantiate --eval --strict --json` (Nix
 * 2.8) prints them: attributes sorted bytewise, no spaces, floats like C++ ostream's default
 * (%g), control characters as \u00XX, other bytes (UTF-8 included) as they are. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/eval.h"

#define CACHE_SLOTS 512

/* Registries repeat the same key strings in many lists: their escaped form is cached by the
 * address of the (shared, immutable) string. */
struct cached {
    const char *s;
    size_t n;
    char *json;
    size_t len;
};

struct out {
    char *p;
    size_t n, cap;
    int rc;
    struct cached *cache;
};

/* Bytes that JSON strings must escape. */
static const unsigned char needs_escape[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
};

static void
put(struct out *o, const char *s, size_t n)
{
    if (o->rc != 0)
        return;
    if (o->n + n + 1 > o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 4096;
        char *p;
        while (cap < o->n + n + 1)
            cap *= 2;
        if ((p = realloc(o->p, cap)) == NULL) {
            o->rc = M3_ENOMEM;
            return;
        }
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    o->p[o->n] = '\0';
}

static void
put_escaped(struct out *o, const char *s, size_t n)
{
    size_t i = 0, run = 0;
    char esc[8];

    put(o, "\"", 1);
    for (;;) {
        const char *e;
        while (i < n && !needs_escape[(unsigned char)s[i]])
            i++;
        if (i == n)
            break;
        switch (s[i]) {
        case '"':
            e = "\\\"";
            break;
        case '\\':
            e = "\\\\";
            break;
        case '\n':
            e = "\\n";
            break;
        case '\r':
            e = "\\r";
            break;
        case '\t':
            e = "\\t";
            break;
        default:
            snprintf(esc, sizeof(esc), "\\u%04x", (unsigned char)s[i]);
            e = esc;
        }
        put(o, s + run, i - run);
        put(o, e, strlen(e));
        run = ++i;
    }
    put(o, s + run, n - run);
    put(o, "\"", 1);
}

static void
put_str(struct out *o, const char *s, size_t n)
{
    struct cached *c;
    size_t start;

    if (o->cache == NULL || n < 16) {
        put_escaped(o, s, n);
        return;
    }
    c = &o->cache[((uintptr_t)s >> 4) % CACHE_SLOTS];
    if (c->s == s && c->n == n) {
        put(o, c->json, c->len);
        return;
    }
    start = o->n;
    put_escaped(o, s, n);
    if (o->rc != 0)
        return;
    free(c->json);
    c->s = NULL;
    if ((c->json = malloc(o->n - start)) != NULL) {
        memcpy(c->json, o->p + start, o->n - start);
        c->len = o->n - start;
        c->s = s;
        c->n = n;
    }
}

static void
put_val(struct reg_ctx *c, struct out *o, struct reg_val *v)
{
    char num[64];
    size_t i;
    const struct reg_attr *a;

    if (o->rc != 0)
        return;
    switch (v->t) {
    case V_NULL:
        put(o, "null", 4);
        return;
    case V_BOOL:
        put(o, v->b ? "true" : "false", v->b ? 4 : 5);
        return;
    case V_INT:
        put(o, num, (size_t)snprintf(num, sizeof(num), "%lld", v->i));
        return;
    case V_FLOAT:
        put(o, num, (size_t)snprintf(num, sizeof(num), "%g", v->f));
        return;
    case V_STR:
        put_str(o, v->str.s, v->str.n);
        return;
    case V_LIST:
        put(o, "[", 1);
        for (i = 0; i < v->list.n; i++) {
            if (i)
                put(o, ",", 1);
            put_val(c, o, v->list.v[i]);
        }
        put(o, "]", 1);
        return;
    case V_SET:
        if ((a = reg_set_get(v->set, "outPath", 7)) != NULL) {
            put_val(c, o, a->v);
            return;
        }
        put(o, "{", 1);
        for (i = 0; i < v->set->n; i++) {
            if (i)
                put(o, ",", 1);
            put_str(o, v->set->a[i].name, v->set->a[i].len);
            put(o, ":", 1);
            put_val(c, o, v->set->a[i].v);
        }
        put(o, "}", 1);
        return;
    case V_PATH:
        m3_diag_set(c->d, M3_EUNSUPPORTED,
                    "unsupported: the path '%s' reaches the output (Nix would copy it to the "
                    "store; use --nix to evaluate with nix-instantiate)",
                    v->str.s);
        o->rc = M3_EUNSUPPORTED;
        return;
    default:
        m3_diag_set(c->d, M3_EUNSUPPORTED,
                    "unsupported: %s in the output (a top-level function is not called; use "
                    "--nix to evaluate with nix-instantiate)",
                    reg_type_name(v));
        o->rc = M3_EUNSUPPORTED;
        return;
    }
}

int
reg_json(struct reg_ctx *c, struct reg_val *v, char **json, size_t *len)
{
    struct out o = {0};
    size_t i;

    o.cache = calloc(CACHE_SLOTS, sizeof(*o.cache));
    put(&o, "", 0);
    put_val(c, &o, v);
    for (i = 0; o.cache != NULL && i < CACHE_SLOTS; i++)
        free(o.cache[i].json);
    free(o.cache);
    if (o.rc != 0) {
        free(o.p);
        if (o.rc == M3_ENOMEM)
            m3_diag_set(c->d, o.rc, "out of memory");
        return o.rc;
    }
    *json = o.p;
    if (len != NULL)
        *len = o.n;
    return 0;
}
