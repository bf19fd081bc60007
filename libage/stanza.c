/* stanza.c: the age header: stanza lists, the strict text parser and the serializer. */
#include "libage/header.h"
#include "libage/internal.h"

#include <stdlib.h>
#include <string.h>

static const char version_line[] = "age-encryption.org/v1";

/* age_stanza_arg_ok_n: n bytes of visible ASCII (no CR, no spaces). */
static int
age_stanza_arg_ok_n(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 33 || (unsigned char)s[i] > 126)
            return 0;
    return 1;
}

static void
stanza_clear(struct age_stanza *s)
{
    free(s->type);
    for (size_t i = 0; i < s->nargs; i++)
        free(s->args[i]);
    free(s->args);
    free(s->body);
    memset(s, 0, sizeof(*s));
}

int
age_stanza_list_add(struct age_stanza_list *l, const char *type, const char *const *args,
                    size_t nargs, const unsigned char *body, size_t body_len)
{
    struct age_stanza s = {0};

    if (!age_stanza_arg_ok(type))
        return M3_EINVAL;
    for (size_t i = 0; i < nargs; i++)
        if (!age_stanza_arg_ok(args[i]))
            return M3_EINVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 4;
        struct age_stanza *v = realloc(l->v, cap * sizeof(*v));
        if (v == NULL)
            return M3_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    s.type = strdup(type);
    s.args = calloc(nargs ? nargs : 1, sizeof(char *));
    s.body = malloc(body_len ? body_len : 1);
    if (s.type == NULL || s.args == NULL || s.body == NULL)
        goto nomem;
    for (s.nargs = 0; s.nargs < nargs; s.nargs++)
        if ((s.args[s.nargs] = strdup(args[s.nargs])) == NULL)
            goto nomem;
    if (body_len)
        memcpy(s.body, body, body_len);
    s.body_len = body_len;
    l->v[l->n++] = s;
    return 0;
nomem:
    stanza_clear(&s);
    return M3_ENOMEM;
}

void
age_stanza_list_clear(struct age_stanza_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        stanza_clear(&l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

void
age_header_free(struct age_header *h)
{
    if (h == NULL)
        return;
    for (size_t i = 0; i < h->nstanzas; i++)
        stanza_clear(&h->stanzas[i]);
    free(h->stanzas);
    free(h);
}

/* ---- parsing ------------------------------------------------------------------------ */

struct lines {
    const unsigned char *p;
    size_t len, pos;
    unsigned lineno;
};

/* next_line: the next '\n'-terminated line (without the '\n'). 0, or M3_EHEADER when the
 * input ends without a newline. */
static int
next_line(struct lines *ls, const char **line, size_t *n, struct m3_diag *d)
{
    const unsigned char *nl;

    if (ls->pos >= ls->len)
        return m3_diag_set(d, M3_EHEADER, "header is truncated");
    nl = memchr(ls->p + ls->pos, '\n', ls->len - ls->pos);
    if (nl == NULL)
        return m3_diag_set(d, M3_EHEADER, "header is truncated (line %u has no end)",
                           ls->lineno + 1);
    *line = (const char *)ls->p + ls->pos;
    *n = (size_t)(nl - (ls->p + ls->pos));
    ls->pos += *n + 1;
    ls->lineno++;
    return 0;
}

static int
is_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

static int
parse_stanza_args(struct age_stanza *s, const char *line, size_t n, unsigned lineno,
                  struct m3_diag *d)
{
    size_t start = 3, count = 0;
    char **args = NULL;

    /* "-> " then arguments separated by exactly one space, each one or more VCHARs. */
    for (size_t i = 3; i <= n; i++) {
        if (i == n || line[i] == ' ') {
            char *a, **na;
            if (i == start)
                goto bad;
            if (count > AGE_STANZA_MAX_ARGS) {
                for (size_t k = 0; k < count; k++)
                    free(args[k]);
                free(args);
                return m3_diag_set(d, M3_EHEADER,
                                   "header line %u: stanza has more than %u arguments", lineno,
                                   AGE_STANZA_MAX_ARGS);
            }
            if ((a = strndup(line + start, i - start)) == NULL)
                goto nomem;
            if ((na = realloc(args, (count + 1) * sizeof(char *))) == NULL) {
                free(a);
                goto nomem;
            }
            args = na;
            args[count++] = a;
            start = i + 1;
        } else if ((unsigned char)line[i] < 33 || (unsigned char)line[i] > 126) {
            goto bad;
        }
    }
    if (count == 0)
        goto bad;
    s->type = args[0];
    s->nargs = count - 1;
    s->args = calloc(count, sizeof(char *));
    if (s->args == NULL) {
        s->type = NULL;
        goto nomem;
    }
    for (size_t i = 1; i < count; i++)
        s->args[i - 1] = args[i];
    free(args);
    return 0;
bad:
    for (size_t i = 0; i < count; i++)
        free(args[i]);
    free(args);
    return m3_diag_set(d, M3_EHEADER, "header line %u: malformed stanza line", lineno);
nomem:
    for (size_t i = 0; i < count; i++)
        free(args[i]);
    free(args);
    return M3_ENOMEM;
}

static int
parse_stanza_body(struct age_stanza *s, struct lines *ls, struct m3_diag *d)
{
    unsigned char *body = NULL;
    size_t blen = 0;
    int rc;

    for (;;) {
        const char *line;
        size_t n, got = 0;
        unsigned char *nb;

        if ((rc = next_line(ls, &line, &n, d)) != 0)
            goto fail;
        if (n > 64) {
            rc = m3_diag_set(d, M3_EHEADER,
                             "header line %u: stanza body line longer than 64 columns", ls->lineno);
            goto fail;
        }
        for (size_t i = 0; i < n; i++)
            if (!is_b64_char((unsigned char)line[i])) {
                rc = m3_diag_set(d, M3_EHEADER, "header line %u: invalid character in stanza body",
                                 ls->lineno);
                goto fail;
            }
        if ((nb = realloc(body, blen + 48 + 1)) == NULL) {
            rc = M3_ENOMEM;
            goto fail;
        }
        body = nb;
        if (n > 0 && age_b64_decode(line, n, body + blen, 48, &got) != 0) {
            rc = m3_diag_set(d, M3_EHEADER, "header line %u: stanza body is not canonical base64",
                             ls->lineno);
            goto fail;
        }
        blen += got;
        if (n < 64)
            break; /* a short line (possibly empty) ends the body */
    }
    s->body = body;
    s->body_len = blen;
    return 0;
fail:
    free(body);
    return rc;
}

int
age_header_parse(struct age_header **out, const unsigned char *buf, size_t len, size_t *consumed,
                 struct m3_diag *d)
{
    struct lines ls = {buf, len, 0, 0};
    struct age_header *h;
    const char *line;
    size_t n;
    int rc;

    *out = NULL;
    if ((h = calloc(1, sizeof(*h))) == NULL)
        return M3_ENOMEM;
    if ((rc = next_line(&ls, &line, &n, d)) != 0) {
        if (len == 0)
            m3_diag_set(d, M3_EHEADER, "empty file, not an age file");
        else if (len < 22 || memcmp(buf, version_line, 19) != 0)
            m3_diag_set(d, M3_EHEADER, "not an age file (no age-encryption.org header line)");
        goto fail;
    }
    if (n != sizeof(version_line) - 1 || memcmp(line, version_line, n) != 0) {
        if (n > 19 && memcmp(line, version_line, 19) == 0 && age_stanza_arg_ok_n(line, n))
            rc = m3_diag_set(d, M3_EUNSUPPORTED, "unsupported age format version '%.*s'",
                             (int)(n > 40 ? 40 : n), line);
        else
            rc = m3_diag_set(d, M3_EHEADER, "not an age file (no age-encryption.org header line)");
        goto fail;
    }
    for (;;) {
        size_t line_start = ls.pos;
        struct age_stanza s = {0}, *ns;

        if ((rc = next_line(&ls, &line, &n, d)) != 0)
            goto fail;
        if (ls.pos > AGE_HEADER_MAX) {
            rc = m3_diag_set(d, M3_EHEADER, "header larger than %u bytes", AGE_HEADER_MAX);
            goto fail;
        }
        if (n >= 3 && memcmp(line, "---", 3) == 0) {
            size_t mac_len = 0;
            if (n != 4 + 43 || line[3] != ' ' ||
                age_b64_decode(line + 4, n - 4, h->mac, sizeof(h->mac), &mac_len) != 0 ||
                mac_len != AGE_MAC_SIZE) {
                rc = m3_diag_set(d, M3_EHEADER, "header line %u: malformed MAC line", ls.lineno);
                goto fail;
            }
            h->mac_off = line_start + 3;
            break;
        }
        if (n < 3 || memcmp(line, "-> ", 3) != 0) {
            rc = m3_diag_set(d, M3_EHEADER, "header line %u: expected a stanza or the MAC line",
                             ls.lineno);
            goto fail;
        }
        /* hostile headers: refused before anything is unwrapped (see AGE_HEADER_MAX) */
        if (h->nstanzas == AGE_HEADER_MAX_STANZAS) {
            rc = m3_diag_set(d, M3_EHEADER, "header has more than %u recipient stanzas",
                             AGE_HEADER_MAX_STANZAS);
            goto fail;
        }
        if ((rc = parse_stanza_args(&s, line, n, ls.lineno, d)) != 0)
            goto fail;
        if ((rc = parse_stanza_body(&s, &ls, d)) != 0) {
            stanza_clear(&s);
            goto fail;
        }
        if ((ns = realloc(h->stanzas, (h->nstanzas + 1) * sizeof(*ns))) == NULL) {
            stanza_clear(&s);
            rc = M3_ENOMEM;
            goto fail;
        }
        h->stanzas = ns;
        h->stanzas[h->nstanzas++] = s;
    }
    if (h->nstanzas == 0) {
        rc = m3_diag_set(d, M3_EHEADER, "header has no recipient stanzas");
        goto fail;
    }
    h->header_len = ls.pos;
    if (consumed != NULL)
        *consumed = ls.pos;
    *out = h;
    return 0;
fail:
    age_header_free(h);
    return rc;
}

/* ---- serializing ---------------------------------------------------------------------- */

static int
buf_put(struct age_buf *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        unsigned char *nb;
        while (cap < b->len + n)
            cap *= 2;
        if ((nb = realloc(b->p, cap)) == NULL)
            return M3_ENOMEM;
        b->p = nb;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

int
age_header_serialize(const struct age_stanza *v, size_t n, struct age_buf *out)
{
    int rc = 0;

    rc |= buf_put(out, version_line, sizeof(version_line) - 1);
    rc |= buf_put(out, "\n", 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        char *b64;
        size_t blen;

        rc |= buf_put(out, "-> ", 3);
        rc |= buf_put(out, v[i].type, strlen(v[i].type));
        for (size_t j = 0; j < v[i].nargs; j++) {
            rc |= buf_put(out, " ", 1);
            rc |= buf_put(out, v[i].args[j], strlen(v[i].args[j]));
        }
        rc |= buf_put(out, "\n", 1);
        if ((b64 = age_b64_encode(v[i].body, v[i].body_len)) == NULL)
            return M3_ENOMEM;
        blen = strlen(b64);
        /* Full 64-column lines, then always a final short (possibly empty) line. */
        for (size_t off = 0;; off += 64) {
            size_t take = blen - off < 64 ? blen - off : 64;
            rc |= buf_put(out, b64 + off, take);
            rc |= buf_put(out, "\n", 1);
            if (take < 64)
                break;
        }
        free(b64);
    }
    rc |= buf_put(out, "---", 3);
    return rc ? M3_ENOMEM : 0;
}
