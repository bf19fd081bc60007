/* edit.c: format-preserving edits of secrets.nix. Each edit is a list of byte splices
 * computed from the syntax tree; the new text is parsed and evaluated again and compared
 * with the intended registry before it is handed back. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/syntax.h"

#define READ_ONLY "read-only: "

struct splice {
    size_t off, len;
    char *text;
};

struct edits {
    struct splice *v;
    size_t n;
    int oom;
};

static void
add_splice(struct edits *e, size_t off, size_t len, const char *text)
{
    struct splice *v = realloc(e->v, (e->n + 1) * sizeof(*v));

    if (v == NULL || (text = strdup(text)) == NULL) {
        if (v != NULL)
            e->v = v;
        e->oom = 1;
        return;
    }
    e->v = v;
    e->v[e->n].off = off;
    e->v[e->n].len = len;
    e->v[e->n].text = (char *)text;
    e->n++;
}

static void
edits_free(struct edits *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i].text);
    free(e->v);
}

static int
splice_cmp(const void *x, const void *y)
{
    const struct splice *a = x, *b = y;

    return a->off < b->off ? -1 : a->off > b->off;
}

/* crlf: whether f's lines end in "\r\n" (its first line's does). */
static int
crlf(const struct reg_file *f)
{
    const char *nl = memchr(f->src, '\n', f->len);

    return nl != NULL && nl > f->src && nl[-1] == '\r';
}

/* apply: the text of f with every splice made (splices must not overlap). The text spliced
 * in ends its lines with "\n", or with "\r\n" where the file's lines do. */
static int
apply(const struct reg_file *f, struct edits *e, char **out, size_t *len)
{
    size_t i, n = f->len, pos = 0, o = 0;
    int cr = crlf(f);
    char *p;

    if (e->oom)
        return M3_ENOMEM;
    qsort(e->v, e->n, sizeof(*e->v), splice_cmp);
    for (i = 0; i < e->n; i++)
        for (const char *t = e->v[i].text; *t != '\0'; t++)
            n += 1 + (cr && *t == '\n');
    if ((p = malloc(n + 1)) == NULL)
        return M3_ENOMEM;
    for (i = 0; i < e->n; i++) {
        const struct splice *s = &e->v[i];
        if (s->off < pos)
            continue; /* overlapping removal: already covered */
        memcpy(p + o, f->src + pos, s->off - pos);
        o += s->off - pos;
        for (const char *t = s->text; *t != '\0'; t++) {
            if (cr && *t == '\n')
                p[o++] = '\r';
            p[o++] = *t;
        }
        pos = s->off + s->len;
    }
    memcpy(p + o, f->src + pos, f->len - pos);
    o += f->len - pos;
    p[o] = '\0';
    *out = p;
    *len = o;
    return 0;
}

/* ---- syntax helpers ---- */

static const struct reg_node *
strip(const struct reg_node *n)
{
    while (n->kind == N_PAREN)
        n = n->a;
    return n;
}

static const struct reg_node *
top_let(const struct reg_file *f)
{
    const struct reg_node *n = strip(f->root->a);

    return n->kind == N_LET ? n : NULL;
}

static const struct reg_node *
top_set(const struct reg_file *f)
{
    const struct reg_node *n = reg_top_body(f);

    return n->kind == N_SET ? n : NULL;
}

/* static_name: the name an attribute element spells without evaluation, into buf. */
static int
static_name(const struct reg_node *a, char *buf, size_t size)
{
    size_t len;
    const char *s;

    if (a->kind == N_ATTR_ID) {
        s = reg_tok_text(a->file, a->tok, &len);
    } else if (a->kind == N_STR && a->nitems <= 1 &&
               (a->nitems == 0 || a->items[0]->kind == N_STRLIT)) {
        char *tmp;
        if (a->nitems == 0) {
            if (size > 0)
                buf[0] = '\0';
            return 0;
        }
        s = reg_tok_text(a->file, a->items[0]->tok, &len);
        if ((tmp = malloc(len + 1)) == NULL)
            return -1;
        len = reg_decode_str_part(s, len, 0, tmp);
        if (len + 1 > size) {
            free(tmp);
            return -1;
        }
        memcpy(buf, tmp, len);
        buf[len] = '\0';
        free(tmp);
        return memchr(buf, '\0', len) != NULL ? -1 : 0;
    } else {
        return -1;
    }
    if (len + 1 > size)
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

static size_t
line_start(const struct reg_file *f, size_t off)
{
    while (off > 0 && f->src[off - 1] != '\n')
        off--;
    return off;
}

/* starts_line: only spaces and tabs between the line start and off. */
static int
starts_line(const struct reg_file *f, size_t off)
{
    size_t i;

    for (i = line_start(f, off); i < off; i++)
        if (f->src[i] != ' ' && f->src[i] != '\t')
            return 0;
    return 1;
}

/* eol_len: the length of the line end at i: 2 for "\r\n", 1 for "\n", else 0. */
static size_t
eol_len(const struct reg_file *f, size_t i)
{
    if (i < f->len && f->src[i] == '\n')
        return 1;
    return i + 1 < f->len && f->src[i] == '\r' && f->src[i + 1] == '\n' ? 2 : 0;
}

/* rest_of_line: when only spaces or a # comment follow end on its line, the offset of that
 * line's end ("\n", or the "\r" of "\r\n"; or the file's end); else (size_t)-1. */
static size_t
rest_of_line(const struct reg_file *f, size_t end)
{
    size_t i = end;

    while (i < f->len && (f->src[i] == ' ' || f->src[i] == '\t'))
        i++;
    if (i < f->len && f->src[i] == '#') {
        while (i < f->len && f->src[i] != '\n')
            i++;
        if (i < f->len && f->src[i - 1] == '\r')
            i--;
    }
    if (i == f->len || eol_len(f, i) > 0)
        return i;
    return (size_t)-1;
}

static void
indent_of(const struct reg_file *f, size_t off, char *buf, size_t size)
{
    size_t s = line_start(f, off), i = s;

    while (i < off && (f->src[i] == ' ' || f->src[i] == '\t') && i - s + 1 < size)
        i++;
    memcpy(buf, f->src + s, i - s);
    buf[i - s] = '\0';
}

static int
multiline(const struct reg_node *n)
{
    size_t off = reg_node_off(n), end = reg_node_end(n);

    return memchr(n->file->src + off, '\n', end - off) != NULL;
}

/* remove_node: drops n; whole lines when n sits alone on its lines. */
static void
remove_node(const struct reg_file *f, const struct reg_node *n, struct edits *e)
{
    size_t off = reg_node_off(n), end = reg_node_end(n), eol = rest_of_line(f, end);

    if (starts_line(f, off) && eol != (size_t)-1) {
        size_t s = line_start(f, off);
        if (eol < f->len)
            eol += eol_len(f, eol);
        else if (s > 0) /* last line without a newline: take the newline before it */
            s -= s >= 2 && f->src[s - 2] == '\r' ? 2 : 1;
        add_splice(e, s, eol - s, "");
    } else {
        size_t triv = reg_tok_triv(f, n->t0);
        add_splice(e, triv, end - triv, "");
    }
}

/* insert_after: text as a new line after node n (keeping a trailing comment on n's line). */
static void
insert_after(const struct reg_file *f, const struct reg_node *n, const char *text, struct edits *e)
{
    size_t end = reg_node_end(n), eol = rest_of_line(f, end);
    char ind[64], *buf;
    size_t need;

    indent_of(f, reg_node_off(n), ind, sizeof(ind));
    need = strlen(ind) + strlen(text) + 4;
    if ((buf = malloc(need)) == NULL) {
        e->oom = 1;
        return;
    }
    if (starts_line(f, reg_node_off(n)) && eol != (size_t)-1) {
        snprintf(buf, need, "\n%s%s", ind, text);
        add_splice(e, eol, 0, buf);
    } else {
        snprintf(buf, need, " %s", text);
        add_splice(e, end, 0, buf);
    }
    free(buf);
}

/* quote: a Nix string literal for s. */
static char *
quote(const char *s)
{
    size_t n = strlen(s), i, o = 0;
    char *q = malloc(2 * n + 3);

    if (q == NULL)
        return NULL;
    q[o++] = '"';
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == '"' || c == '\\' || (c == '$' && s[i + 1] == '{'))
            q[o++] = '\\';
        if (c == '\n') {
            q[o++] = '\\';
            c = 'n';
        } else if (c == '\t') {
            q[o++] = '\\';
            c = 't';
        } else if (c == '\r') {
            q[o++] = '\\';
            c = 'r';
        }
        q[o++] = c;
    }
    q[o++] = '"';
    q[o] = '\0';
    return q;
}

static int
is_ident(const char *s)
{
    size_t i;

    if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
        return 0;
    for (i = 1; s[i] != '\0'; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-' || s[i] == '\''))
            return 0;
    static const char *kw[] = {"if",  "then", "else", "assert",  "with",
                               "let", "in",   "rec",  "inherit", "or"};
    for (i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
        if (strcmp(s, kw[i]) == 0)
            return 0;
    return 1;
}

/* let_bind: the `name = ...;` binding of the top let, or NULL. */
static const struct reg_node *
let_bind(const struct reg_file *f, const char *name)
{
    const struct reg_node *let = top_let(f);
    char buf[256];
    size_t i;

    for (i = 0; let != NULL && i < let->nitems; i++) {
        const struct reg_node *b = let->items[i];
        if (b->kind == N_BIND && b->a->nitems == 1 &&
            static_name(b->a->items[0], buf, sizeof(buf)) == 0 && strcmp(buf, name) == 0)
            return b;
    }
    return NULL;
}

/* ---- verification ---- */

struct want {
    const char *name;
    const char *const *keys;
    size_t nkeys;
    int armor;
};

static int
same_keys(const struct reg_entry *e, const char *const *keys, size_t n)
{
    size_t i;

    if (e->nkeys != n)
        return 0;
    for (i = 0; i < n; i++)
        if (strcmp(e->keys[i], keys[i]) != 0)
            return 0;
    return 1;
}

/* verify: parses and loads text, then checks every entry against want[0..n). */
static int
verify(const struct reg_file *f, const struct reg_eval_opts *opts, const char *text, size_t len,
       const struct want *want, size_t n, struct reg_registry **outr, struct m3_diag *d)
{
    struct reg_file *nf = NULL;
    struct reg_registry *nr = NULL;
    struct m3_diag sub = {0};
    size_t i;
    int rc;

    if ((rc = reg_parse(f->name, text, len, &nf, &sub)) != 0 ||
        (rc = reg_registry_load(nf, opts, &nr, &sub)) != 0) {
        rc = m3_diag_set(d, rc == M3_ENOMEM ? rc : M3_EEVAL,
                         "%s: the edited registry does not evaluate (%s); nothing written", f->name,
                         sub.msg);
        goto out;
    }
    if (nr->nentries != n) {
        rc = m3_diag_set(d, M3_EEVAL,
                         "%s: the edit would give %zu entries instead of %zu; nothing written",
                         f->name, nr->nentries, n);
        goto out;
    }
    for (i = 0; i < n; i++) {
        const struct reg_entry *e = reg_registry_find(nr, want[i].name);
        if (e == NULL || !same_keys(e, want[i].keys, want[i].nkeys) ||
            (int)e->armor != want[i].armor) {
            rc = m3_diag_set(d, M3_EEVAL,
                             "%s: after the edit '%s' would not be what was intended; nothing "
                             "written",
                             f->name, want[i].name);
            goto out;
        }
    }
    if (outr != NULL) {
        *outr = nr;
        nr = NULL;
    }
out:
    reg_registry_free(nr);
    reg_file_free(nf);
    return rc;
}

static struct want *
want_from(const struct reg_registry *r, size_t extra)
{
    struct want *w = calloc(r->nentries + extra + 1, sizeof(*w));
    size_t i;

    for (i = 0; w != NULL && i < r->nentries; i++) {
        w[i].name = r->entries[i].name;
        w[i].keys = (const char *const *)r->entries[i].keys;
        w[i].nkeys = r->entries[i].nkeys;
        w[i].armor = r->entries[i].armor;
    }
    return w;
}

/* ---- add ---- */

static const struct reg_node *
last_entry_bind(const struct reg_node *set)
{
    size_t i;

    for (i = set->nitems; i > 0; i--)
        if (set->items[i - 1]->kind == N_BIND)
            return set->items[i - 1];
    return NULL;
}

/* entry_style: how an entry binding is written: 1 `"x".publicKeys = ...;`, 2 `"x" = {
 * publicKeys = ...; };` on one line, 3 the same over several lines, 0 anything else. */
static int
entry_style(const struct reg_node *b)
{
    const struct reg_node *v = strip(b->b);

    if (b->a->nitems == 2)
        return 1;
    if (b->a->nitems == 1 && v->kind == N_SET)
        return multiline(v) ? 3 : 2;
    return 0;
}

/* style_model: the entry whose style a new entry copies: the last one written in the style
 * most entries use (the last entry's style on a tie). */
static const struct reg_node *
style_model(const struct reg_node *set, const struct reg_node *last)
{
    size_t count[4] = {0}, i;
    int best = entry_style(last), k;

    for (i = 0; i < set->nitems; i++)
        if (set->items[i]->kind == N_BIND)
            count[entry_style(set->items[i])]++;
    for (k = 1; k < 4; k++)
        if (count[k] > count[best])
            best = k;
    for (i = set->nitems; i > 0; i--)
        if (set->items[i - 1]->kind == N_BIND && entry_style(set->items[i - 1]) == best)
            return set->items[i - 1];
    return last;
}

/* publickeys_list: the list literal of a binding written `"x".publicKeys = [...]` or
 * `"x" = { publicKeys = [...]; }`, to copy its style; NULL if there is none. */
static const struct reg_node *
publickeys_list(const struct reg_node *b, const struct reg_node **inner_bind)
{
    const struct reg_node *v = strip(b->b);
    size_t i;
    char buf[32];

    *inner_bind = NULL;
    if (b->a->nitems == 2)
        return v->kind == N_LIST ? v : NULL;
    if (v->kind != N_SET)
        return NULL;
    for (i = 0; i < v->nitems; i++) {
        const struct reg_node *ib = v->items[i];
        if (ib->kind == N_BIND && ib->a->nitems == 1 &&
            static_name(ib->a->items[0], buf, sizeof(buf)) == 0 && strcmp(buf, "publicKeys") == 0) {
            *inner_bind = ib;
            return strip(ib->b)->kind == N_LIST ? strip(ib->b) : NULL;
        }
    }
    return NULL;
}

static char *format_list(const struct reg_node *model, const char *const *names, size_t n,
                         const char *base_indent);

/* format_keys: the publicKeys expression: list literals for key names, group names (lists
 * of keys) as they are, joined by ++ (`users ++ [ m3-ares ]`). */
static char *
format_keys(const struct reg_registry *r, const struct reg_node *model, const char *const *names,
            size_t n, const char *base_indent)
{
    size_t i, start = 0, cap = 16, o = 0;
    char *out = malloc(cap), *piece;

    if (out == NULL)
        return NULL;
    out[0] = '\0';
    for (i = 0; i <= n; i++) {
        const struct reg_keybind *kb = i < n ? reg_registry_keybind(r, names[i]) : NULL;
        if (i < n && !kb->is_list)
            continue;
        piece = NULL;
        if (i > start &&
            (piece = format_list(model, names + start, i - start, base_indent)) == NULL)
            goto oom;
        for (int twice = 0; twice < 2; twice++) {
            const char *add = twice == 0 ? piece : (i < n ? names[i] : NULL);
            size_t need;
            if (add == NULL)
                continue;
            need = o + strlen(add) + 5;
            if (need > cap) {
                char *np;
                cap = need * 2;
                if ((np = realloc(out, cap)) == NULL) {
                    free(piece);
                    goto oom;
                }
                out = np;
            }
            o += (size_t)sprintf(out + o, "%s%s", o ? " ++ " : "", add);
        }
        free(piece);
        start = i + 1;
    }
    return out;
oom:
    free(out);
    return NULL;
}

/* format_list: `[ a b ]`, or one element per line like the model list. */
static char *
format_list(const struct reg_node *model, const char *const *names, size_t n,
            const char *base_indent)
{
    char item_ind[64] = "", *buf;
    size_t need = 64 + strlen(base_indent), i, o = 0;
    int multi = model != NULL && multiline(model) && model->nitems > 0;
    int tight = model != NULL && model->file->src[reg_node_off(model) + 1] != ' ' &&
                model->file->src[reg_node_off(model) + 1] != '\n' &&
                model->file->src[reg_node_off(model) + 1] != '\r' && model->nitems > 0;

    if (multi)
        indent_of(model->file, reg_node_off(model->items[0]), item_ind, sizeof(item_ind));
    for (i = 0; i < n; i++)
        need += strlen(names[i]) + strlen(item_ind) + 2;
    if ((buf = malloc(need)) == NULL)
        return NULL;
    o += (size_t)snprintf(buf + o, need - o, "[");
    for (i = 0; i < n; i++) {
        if (multi)
            o += (size_t)snprintf(buf + o, need - o, "\n%s%s", item_ind, names[i]);
        else
            o += (size_t)snprintf(buf + o, need - o, "%s%s", tight && i == 0 ? "" : " ", names[i]);
    }
    if (multi)
        snprintf(buf + o, need - o, "\n%s]", base_indent);
    else
        snprintf(buf + o, need - o, "%s]", tight ? "" : " ");
    return buf;
}

int
reg_edit_add(const struct reg_file *f, const struct reg_registry *r,
             const struct reg_eval_opts *opts, const char *name, const char *const *keynames,
             size_t n, char **out, size_t *len, struct m3_diag *d)
{
    const struct reg_node *set = top_set(f), *last, *sty = NULL, *model = NULL, *inner = NULL;
    struct edits e = {0};
    struct want *w = NULL;
    const char **allkeys = NULL;
    size_t i, k, nall = 0, total = 0;
    char *qname = NULL, *list = NULL, *text = NULL, ind[64] = "";
    int rc;

    *out = NULL;
    if (r->computed || set == NULL)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s: " READ_ONLY "the registry is computed, not a set literal; add "
                           "'%s' by hand",
                           f->name, name);
    if (reg_registry_find(r, name) != NULL)
        return m3_diag_set(d, M3_EINVAL, "%s: '%s' already exists", f->name, name);
    if (n == 0)
        return m3_diag_set(d, M3_EINVAL, "%s: '%s' needs at least one key name", f->name, name);
    for (i = 0; i < n; i++) {
        const struct reg_keybind *kb = reg_registry_keybind(r, keynames[i]);
        if (kb == NULL || !is_ident(keynames[i]))
            return m3_diag_set(d, M3_EINVAL,
                               "%s: '%s' is not a key bound in the top-level let (try "
                               "'m3age registry set-key %s KEY')",
                               f->name, keynames[i], keynames[i]);
        total += kb->nvalues;
    }
    rc = M3_ENOMEM;
    if ((allkeys = calloc(total + 1, sizeof(*allkeys))) == NULL || (w = want_from(r, 1)) == NULL ||
        (qname = quote(name)) == NULL)
        goto out;
    for (i = 0; i < n; i++) {
        const struct reg_keybind *kb = reg_registry_keybind(r, keynames[i]);
        for (k = 0; k < kb->nvalues; k++)
            allkeys[nall++] = kb->values[k];
    }
    last = last_entry_bind(set);
    if (last != NULL) {
        sty = style_model(set, last);
        model = publickeys_list(sty, &inner);
        indent_of(f, reg_node_off(last), ind, sizeof(ind));
    }
    if (sty != NULL && sty->a->nitems == 1 && strip(sty->b)->kind == N_SET &&
        multiline(strip(sty->b)) && inner != NULL) {
        char iind[64];
        indent_of(f, reg_node_off(inner), iind, sizeof(iind));
        list = format_keys(r, model, keynames, n, iind);
        if (list == NULL || (text = malloc(strlen(qname) + strlen(list) + 2 * strlen(iind) +
                                           strlen(ind) + 64)) == NULL)
            goto out;
        sprintf(text, "%s = {\n%spublicKeys = %s;\n%s};", qname, iind, list, ind);
    } else if (sty != NULL && sty->a->nitems == 1 && strip(sty->b)->kind == N_SET) {
        list = format_keys(r, model, keynames, n, ind);
        if (list == NULL || (text = malloc(strlen(qname) + strlen(list) + 64)) == NULL)
            goto out;
        sprintf(text, "%s = { publicKeys = %s; };", qname, list);
    } else {
        list = format_keys(r, model, keynames, n, ind);
        if (list == NULL || (text = malloc(strlen(qname) + strlen(list) + 64)) == NULL)
            goto out;
        sprintf(text, "%s.publicKeys = %s;", qname, list);
    }
    if (last != NULL) {
        insert_after(f, last, text, &e);
    } else {
        /* empty set: a line before the closing brace, or inline */
        const struct reg_token *close = &f->toks[set->t1];
        if (multiline(set)) {
            char *buf = malloc(strlen(text) + 80);
            indent_of(f, close->off, ind, sizeof(ind));
            if (buf == NULL)
                goto out;
            sprintf(buf, "%s  %s\n", ind, text);
            add_splice(&e, line_start(f, close->off), 0, buf);
            free(buf);
        } else {
            char *buf = malloc(strlen(text) + 4);
            if (buf == NULL)
                goto out;
            sprintf(buf, " %s", text);
            add_splice(&e, f->toks[set->t0].off + 1, 0, buf);
            free(buf);
        }
    }
    if ((rc = apply(f, &e, out, len)) != 0)
        goto out;
    w[r->nentries].name = name;
    w[r->nentries].keys = allkeys;
    w[r->nentries].nkeys = nall;
    rc = verify(f, opts, *out, *len, w, r->nentries + 1, NULL, d);
out:
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    edits_free(&e);
    free(allkeys);
    free(w);
    free(qname);
    free(list);
    free(text);
    return rc;
}

/* ---- rm ---- */

int
reg_edit_rm(const struct reg_file *f, const struct reg_registry *r,
            const struct reg_eval_opts *opts, const char *name, char **out, size_t *len,
            struct m3_diag *d)
{
    const struct reg_node *set = top_set(f);
    struct edits e = {0};
    struct want *w = NULL;
    size_t i, o = 0, found = 0;
    char buf[1024];
    int rc;

    *out = NULL;
    if (reg_registry_find(r, name) == NULL)
        return m3_diag_set(d, M3_ENOTFOUND, "%s: there is no entry '%s'", f->name, name);
    if (r->computed || set == NULL)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s: " READ_ONLY "the registry is computed; remove '%s' by hand",
                           f->name, name);
    for (i = 0; i < set->nitems; i++) {
        const struct reg_node *b = set->items[i];
        if (b->kind != N_BIND)
            continue;
        if (static_name(b->a->items[0], buf, sizeof(buf)) == 0 && strcmp(buf, name) == 0) {
            remove_node(f, b, &e);
            found++;
        }
    }
    if (found == 0) {
        edits_free(&e);
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s: " READ_ONLY "'%s' is not written as a plain binding; remove it "
                           "by hand",
                           f->name, name);
    }
    rc = M3_ENOMEM;
    if ((w = want_from(r, 0)) == NULL)
        goto out;
    for (i = 0; i < r->nentries; i++)
        if (strcmp(w[i].name, name) != 0)
            w[o++] = w[i];
    if ((rc = apply(f, &e, out, len)) != 0)
        goto out;
    rc = verify(f, opts, *out, *len, w, o, NULL, d);
out:
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    edits_free(&e);
    free(w);
    return rc;
}

/* ---- set-key ---- */

static int
span_is(const struct reg_span *a, const struct reg_span *b)
{
    return a->file != NULL && b->file != NULL && strcmp(a->file, b->file) == 0 &&
           a->off == b->off && a->len == b->len;
}

/* keys_without: for every entry, its keys with those coming from the literal at sp replaced
 * by repl (or dropped when repl is NULL). */
static int
keys_replaced(const struct reg_registry *r, const struct reg_span *sp, const char *repl,
              struct want *w, const char ***store)
{
    size_t i, k;

    for (i = 0; i < r->nentries; i++) {
        const struct reg_entry *en = &r->entries[i];
        const char **keys = calloc(en->nkeys + 1, sizeof(*keys));
        size_t o = 0;
        if (keys == NULL)
            return M3_ENOMEM;
        store[i] = keys;
        for (k = 0; k < en->nkeys; k++) {
            if (span_is(&en->key_spans[k], sp)) {
                if (repl != NULL)
                    keys[o++] = repl;
            } else {
                keys[o++] = en->keys[k];
            }
        }
        w[i].keys = keys;
        w[i].nkeys = o;
    }
    return 0;
}

static void
free_store(const char ***store, size_t n)
{
    for (size_t i = 0; store != NULL && i < n; i++)
        free(store[i]);
    free(store);
}

int
reg_edit_set_key(const struct reg_file *f, const struct reg_registry *r,
                 const struct reg_eval_opts *opts, const char *keyname, const char *key, char **out,
                 size_t *len, struct m3_diag *d)
{
    const struct reg_node *let = top_let(f), *b;
    const struct reg_keybind *kb;
    struct edits e = {0};
    struct want *w = NULL;
    const char ***store = NULL;
    struct reg_registry *nr = NULL;
    char *q = NULL, *text = NULL;
    int rc;

    *out = NULL;
    if (!is_ident(keyname))
        return m3_diag_set(d, M3_EINVAL, "'%s' is not a valid Nix identifier", keyname);
    if (strchr(key, '\n') != NULL || key[0] == '\0')
        return m3_diag_set(d, M3_EINVAL, "the key for '%s' must be one non-empty line", keyname);
    /* without a top-level let, one is put around the set literal (anything else stays) */
    if (let == NULL && top_set(f) == NULL)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s: " READ_ONLY "there is no top-level 'let ... in' to bind '%s' in, "
                           "nor a set literal to put one around",
                           f->name, keyname);
    rc = M3_ENOMEM;
    if ((q = quote(key)) == NULL || (w = want_from(r, 0)) == NULL ||
        (store = calloc(r->nentries + 1, sizeof(*store))) == NULL)
        goto out;
    b = let_bind(f, keyname);
    kb = reg_registry_keybind(r, keyname);
    if (b != NULL) {
        const struct reg_node *v = strip(b->b);
        if (kb == NULL || kb->is_list ||
            !((v->kind == N_STR || v->kind == N_IND_STR) &&
              (v->nitems == 0 || (v->nitems == 1 && v->items[0]->kind == N_STRLIT)))) {
            rc = m3_diag_set(d, M3_EUNSUPPORTED,
                             "%s:%u:%u: " READ_ONLY "'%s' is not bound to a string literal",
                             f->name, kb ? kb->span.line : 0, kb ? kb->span.col : 0, keyname);
            goto out;
        }
        add_splice(&e, reg_node_off(v), reg_node_end(v) - reg_node_off(v), q);
        {
            struct reg_span sp;
            reg_node_span(v, &sp);
            sp.file = r->path;
            if ((rc = keys_replaced(r, &sp, key, w, store)) != 0)
                goto out;
        }
    } else if (let == NULL) {
        /* `let\n  NAME = "KEY";\nin\n` before the set, indented as its entries are */
        const struct reg_node *set = top_set(f);
        char ind[64] = "  ";
        if (set->nitems > 0 && multiline(set) && starts_line(f, reg_node_off(set->items[0])))
            indent_of(f, reg_node_off(set->items[0]), ind, sizeof(ind));
        if (ind[0] == '\0') /* entries at the left margin: bindings are still indented */
            strcpy(ind, "  ");
        if ((text = malloc(strlen(ind) + strlen(keyname) + strlen(q) + 16)) == NULL)
            goto out;
        sprintf(text, "let\n%s%s = %s;\nin\n", ind, keyname, q);
        add_splice(&e, reg_node_off(f->root->a), 0, text);
    } else {
        const struct reg_node *after = NULL;
        size_t i;
        for (i = 0; i < let->nitems; i++) {
            const struct reg_node *lb = let->items[i];
            if (lb->kind == N_BIND && (strip(lb->b)->kind == N_STR || after == NULL))
                after = lb;
        }
        if ((text = malloc(strlen(keyname) + strlen(q) + 8)) == NULL)
            goto out;
        sprintf(text, "%s = %s;", keyname, q);
        if (after != NULL) {
            insert_after(f, after, text, &e);
        } else {
            char *buf = malloc(strlen(text) + 8);
            if (buf == NULL)
                goto out;
            sprintf(buf, "\n  %s", text);
            add_splice(&e,
                       reg_node_end(&(struct reg_node){.file = f, .t0 = let->t0, .t1 = let->t0}), 0,
                       buf);
            free(buf);
        }
    }
    if ((rc = apply(f, &e, out, len)) != 0)
        goto out;
    if ((rc = verify(f, opts, *out, *len, w, r->nentries, &nr, d)) != 0)
        goto out;
    kb = reg_registry_keybind(nr, keyname);
    if (kb == NULL || kb->is_list || strcmp(kb->values[0], key) != 0)
        rc = m3_diag_set(d, M3_EEVAL,
                         "%s: after the edit '%s' would not be bound to the key; "
                         "nothing written",
                         f->name, keyname);
out:
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    reg_registry_free(nr);
    edits_free(&e);
    free_store(store, r->nentries);
    free(w);
    free(q);
    free(text);
    return rc;
}

/* ---- rm-key ---- */

struct refwalk {
    const char *name;
    struct edits *e;
    const struct reg_node *skip;  /* the binding being removed */
    const struct reg_node *other; /* a use that cannot be removed textually */
    const char *rename;           /* when set: list references are renamed to it, not removed */
};

/* only_refs: whether n is a non-empty list literal whose every element is a reference to
 * name, i.e. one that removing name would leave as `[ ]`. */
static int
only_refs(const struct reg_node *n, const char *name)
{
    size_t i, len;
    const char *s;

    if (n->kind != N_LIST || n->nitems == 0)
        return 0;
    for (i = 0; i < n->nitems; i++) {
        if (n->items[i]->kind != N_VAR)
            return 0;
        s = reg_tok_text(n->file, n->items[i]->tok, &len);
        if (strlen(name) != len || memcmp(s, name, len) != 0)
            return 0;
    }
    return 1;
}

static void
walk_refs(struct refwalk *w, const struct reg_node *n, const struct reg_node *parent)
{
    struct reg_node *fixed[3];
    size_t i, len;
    const char *s;

    if (n == w->skip)
        return;
    reg_node_fixed(n, fixed);
    /* removing: `a ++ [ name ]` becomes `a`, `[ name ] ++ a` becomes `a`: no `++ [ ]` left
     * behind (a rename keeps the list, its element renamed) */
    if (w->rename == NULL && n->kind == N_BINOP && n->flag == TK_CONCAT &&
        only_refs(n->b, w->name)) {
        size_t from = reg_node_end(n->a);
        add_splice(w->e, from, reg_node_end(n->b) - from, "");
        walk_refs(w, n->a, n);
        return;
    }
    if (w->rename == NULL && n->kind == N_BINOP && n->flag == TK_CONCAT &&
        only_refs(n->a, w->name)) {
        size_t from = reg_node_off(n->a);
        add_splice(w->e, from, reg_node_off(n->b) - from, "");
        walk_refs(w, n->b, n);
        return;
    }
    if (n->kind == N_VAR) {
        s = reg_tok_text(n->file, n->tok, &len);
        if (strlen(w->name) == len && memcmp(s, w->name, len) == 0) {
            if (parent != NULL && parent->kind == N_LIST && w->rename != NULL)
                add_splice(w->e, reg_node_off(n), reg_node_end(n) - reg_node_off(n), w->rename);
            else if (parent != NULL && parent->kind == N_LIST)
                remove_node(n->file, n, w->e);
            else if (w->other == NULL)
                w->other = n;
        }
        return;
    }
    if (n->kind == N_INHERIT && n->a == NULL) {
        for (i = 0; i < n->nitems; i++) {
            char buf[256];
            if (static_name(n->items[i], buf, sizeof(buf)) == 0 && strcmp(buf, w->name) == 0 &&
                w->other == NULL)
                w->other = n->items[i];
        }
    }
    for (i = 0; i < 3; i++)
        if (fixed[i] != NULL)
            walk_refs(w, fixed[i], n);
    for (i = 0; i < reg_node_nitems(n); i++)
        walk_refs(w, n->items[i], n);
}

/* key_edit_end: the end of reg_edit_rename_ref and reg_edit_rm_key: "out of memory" for
 * M3_ENOMEM, *out freed on failure, the edits and the wanted-keys tables freed. Returns rc. */
static int
key_edit_end(int rc, struct edits *e, const char ***store, struct want *w, size_t n, char **out,
             struct m3_diag *d)
{
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    if (rc != 0) {
        free(*out);
        *out = NULL;
    }
    edits_free(e);
    free_store(store, n);
    free(w);
    return rc;
}

/* walk_list_refs: walk_refs over the whole file for rw->name (rw->skip: its binding), which
 * the writers can edit only where it stands in a list literal: a use anywhere else is one
 * line naming it, and rw's edits are freed. */
static int
walk_list_refs(const struct reg_file *f, struct refwalk *rw, struct m3_diag *d)
{
    unsigned line, col;

    walk_refs(rw, f->root, NULL);
    if (rw->other == NULL)
        return 0;
    reg_linecol(f, reg_node_off(rw->other), &line, &col);
    edits_free(rw->e);
    return m3_diag_set(d, M3_EUNSUPPORTED,
                       "%s:%u:%u: " READ_ONLY "'%s' is used outside a list literal; edit that "
                       "use by hand",
                       f->name, line, col, rw->name);
}

int
reg_edit_rename_ref(const struct reg_file *f, const struct reg_registry *r,
                    const struct reg_eval_opts *opts, const char *from, const char *to, char **out,
                    size_t *len, struct m3_diag *d)
{
    const struct reg_node *b = let_bind(f, from);
    const struct reg_keybind *kb = reg_registry_keybind(r, from), *kt = reg_registry_keybind(r, to);
    struct edits e = {0};
    struct refwalk rw = {.name = from, .e = &e, .rename = to};
    struct want *w = NULL;
    const char ***store = NULL;
    int rc;

    *out = NULL;
    if (b == NULL || kb == NULL || kb->is_list || kt == NULL || kt->is_list || kt->nvalues != 1)
        return m3_diag_set(d, M3_ENOTFOUND,
                           "%s: '%s' and '%s' must be keys bound in the top-level let", f->name,
                           from, to);
    rw.skip = b;
    if ((rc = walk_list_refs(f, &rw, d)) != 0)
        return rc;
    rc = M3_ENOMEM;
    if ((w = want_from(r, 0)) == NULL || (store = calloc(r->nentries + 1, sizeof(*store))) == NULL)
        goto out;
    if ((rc = keys_replaced(r, &kb->value_span, kt->values[0], w, store)) != 0 ||
        (rc = apply(f, &e, out, len)) != 0)
        goto out;
    rc = verify(f, opts, *out, *len, w, r->nentries, NULL, d);
out:
    return key_edit_end(rc, &e, store, w, r->nentries, out, d);
}

int
reg_edit_rm_key(const struct reg_file *f, const struct reg_registry *r,
                const struct reg_eval_opts *opts, const char *keyname, char **out, size_t *len,
                struct m3_diag *d)
{
    const struct reg_node *b = let_bind(f, keyname);
    const struct reg_keybind *kb = reg_registry_keybind(r, keyname);
    struct edits e = {0};
    struct refwalk rw = {.name = keyname, .e = &e};
    struct want *w = NULL;
    const char ***store = NULL;
    size_t i;
    int rc;

    *out = NULL;
    if (b == NULL)
        return m3_diag_set(d, M3_ENOTFOUND, "%s: '%s' is not bound in the top-level let", f->name,
                           keyname);
    rw.skip = b;
    if ((rc = walk_list_refs(f, &rw, d)) != 0)
        return rc;
    remove_node(f, b, &e);
    rc = M3_ENOMEM;
    if ((w = want_from(r, 0)) == NULL || (store = calloc(r->nentries + 1, sizeof(*store))) == NULL)
        goto out;
    if (kb != NULL && !kb->is_list) {
        if ((rc = keys_replaced(r, &kb->value_span, NULL, w, store)) != 0)
            goto out;
        for (i = 0; i < r->nentries; i++)
            if (w[i].nkeys == 0) {
                rc = m3_diag_set(d, M3_EINVAL,
                                 "%s: removing '%s' would leave '%s' without keys; run 'm3age "
                                 "registry rm %s' first",
                                 f->name, keyname, w[i].name, w[i].name);
                goto out;
            }
    }
    if ((rc = apply(f, &e, out, len)) != 0)
        goto out;
    rc = verify(f, opts, *out, *len, w, r->nentries, NULL, d);
out:
    return key_edit_end(rc, &e, store, w, r->nentries, out, d);
}
