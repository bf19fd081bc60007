/* json.c: values as JSON, byte for byte as `nix-instantiate --eval --strict --json` (Nix
 * 2.8) prints them: attributes sorted bytewise, no spaces, floats like C++ ostream's default
 * (%g), control characters as \u00XX, other bytes (UTF-8 included) as they are. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/eval.h"

struct out {
    char *p;
    size_t n, cap;
    int rc;
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
put_str(struct out *o, const char *s, size_t n)
{
    size_t i, run = 0;
    char esc[8];

    put(o, "\"", 1);
    for (i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        const char *e;
        if (ch >= 0x20 && ch != '"' && ch != '\\')
            continue;
        if (ch == '"')
            e = "\\\"";
        else if (ch == '\\')
            e = "\\\\";
        else if (ch == '\n')
            e = "\\n";
        else if (ch == '\r')
            e = "\\r";
        else if (ch == '\t')
            e = "\\t";
        else {
            snprintf(esc, sizeof(esc), "\\u%04x", ch);
            e = esc;
        }
        put(o, s + run, i - run);
        put(o, e, strlen(e));
        run = i + 1;
    }
    put(o, s + run, n - run);
    put(o, "\"", 1);
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

    put(&o, "", 0);
    put_val(c, &o, v);
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
