/* json.c: values as JSON, byte for byte as `nix-instantiate --eval --strict --json` (Nix
 * 2.8) prints them: attributes sorted bytewise, no spaces, floats like C++ ostream's default
 * (%g), control characters as \u00XX, other bytes (UTF-8 included) as they are.
 *
 * The value is forced while it is printed, in the order --strict forces it (lists in order,
 * sets by name), so evaluation and printing are one walk into a buffer. Errors that are ours
 * rather than the evaluation's (a path or a function in the output) are kept until the walk
 * ends, so an evaluation error later in the value wins as it does in Nix, which forces
 * before printing. Output streamed to a descriptor takes two walks: check_val forces and
 * checks in the same order, then put_val prints what can no longer fail. */
#include <errno.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "registry/eval.h"

#define MAX_NEST 4000

struct out {
    char *p;
    size_t n, cap;
    size_t hint; /* the first capacity */
    int rc;      /* M3_EUNSUPPORTED kept for the end, M3_ENOMEM, or M3_EIO (fd) */
    unsigned depth;
    int fd;    /* >= 0: the buffer is written there whenever it fills */
    int err;   /* errno of a failed write to fd */
    int owned; /* p is malloc'd (else it is arena memory) */
};

/* Bytes that JSON strings must escape. */
static const unsigned char needs_escape[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
};

#define HUGE_SIZE ((size_t)2 << 20)

/* flush: writes the buffer to o->fd; -1 (o->rc M3_EIO) when that fails. */
static int
flush(struct out *o)
{
    size_t done = 0;

    while (done < o->n) {
        ssize_t w = write(o->fd, o->p + done, o->n - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            o->err = w < 0 ? errno : EIO;
            o->rc = M3_EIO;
            return -1;
        }
        done += (size_t)w;
    }
    o->n = 0;
    return 0;
}

/* STREAM_BUF: the most of the evaluation arena's free room that streamed output uses as
 * its buffer (memory already mapped: no page to fault in), and STREAM_SMALL the least. With
 * less room, or once a smaller buffer has filled (the value is larger than a small registry's
 * few KiB), it takes a malloc'd buffer of STREAM_MIN. */
#define STREAM_BUF ((size_t)1 << 20)
#define STREAM_MIN ((size_t)64 << 10)
#define STREAM_SMALL ((size_t)4 << 10)

/* grow: room for need more bytes. Small outputs grow by realloc; once the buffer reaches
 * 2 MiB it moves to 2 MiB-aligned memory advised to be huge pages, as the arenas do (a
 * fresh 4 KiB page at a time was a large part of printing a big registry). Streaming to
 * o->fd, the buffer is written out instead and grows only for one piece larger than it. */
static int
grow(struct out *o, size_t need)
{
    size_t cap = o->cap ? o->cap * 2 : o->hint;
    char *p;

    if (o->rc == M3_ENOMEM || o->rc == M3_EIO)
        return -1;
    if (o->fd >= 0) {
        if (flush(o) != 0)
            return -1;
        if (o->cap > need && (o->owned || o->cap >= STREAM_MIN))
            return 0;
        if ((p = malloc(cap = need * 2 > STREAM_MIN ? need * 2 : STREAM_MIN)) == NULL) {
            o->rc = M3_ENOMEM;
            return -1;
        }
        if (o->owned)
            free(o->p);
        o->p = p;
        o->cap = cap;
        o->owned = 1;
        return 0;
    }
    while (cap < o->n + need)
        cap *= 2;
    if (cap >= HUGE_SIZE) {
        cap = (cap + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
        if ((p = aligned_alloc(HUGE_SIZE, cap)) == NULL) {
            o->rc = M3_ENOMEM;
            return -1;
        }
#ifdef MADV_HUGEPAGE
        madvise(p, cap, MADV_HUGEPAGE);
#endif
        if (o->n > 0)
            memcpy(p, o->p, o->n);
        free(o->p);
    } else if ((p = realloc(o->p, cap)) == NULL) {
        o->rc = M3_ENOMEM;
        return -1;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

/* reserve: room for n more bytes (and a NUL); 0 or -1 (out of memory). */
static inline int
reserve(struct out *o, size_t n)
{
    if (o->cap - o->n > n)
        return 0;
    return grow(o, n + 1);
}

static inline void
put(struct out *o, const char *s, size_t n)
{
    if (reserve(o, n) != 0)
        return;
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static inline void
put1(struct out *o, char ch)
{
    if (reserve(o, 1) != 0)
        return;
    o->p[o->n++] = ch;
}

static void
put_escaped(struct out *o, const char *s, size_t n)
{
    size_t i = 0, run = 0;
    char esc[8];

    put1(o, '"');
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
    put1(o, '"');
}

/* is_plain: whether no byte of s needs escaping; eight bytes at a time (a byte below 0x20,
 * '"' or '\\' in a word is found with the usual "has a zero byte" bit trick). */
static int
is_plain(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        uint64_t w, q, b;
        memcpy(&w, s + i, 8);
        q = w ^ (ones * '"');
        b = w ^ (ones * '\\');
        /* (x - ones) & ~x & highs: non-zero iff x has a zero byte; w - 0x20.. finds bytes
         * below 0x20 among those without the high bit */
        if ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((b - ones) & ~b)) & highs)
            break;
    }
    for (; i < n; i++)
        if (needs_escape[(unsigned char)s[i]])
            return 0;
    return 1;
}

static void
put_plain(struct out *o, const char *s, size_t n)
{
    if (reserve(o, n + 2) != 0)
        return;
    o->p[o->n] = '"';
    memcpy(o->p + o->n + 1, s, n);
    o->p[o->n + n + 1] = '"';
    o->n += n + 2;
}

/* put_strval: a string value; whether it needs escaping is remembered in the value, which
 * registries share between many lists (a let-bound key). */
static inline void
put_strval(struct out *o, struct reg_val *v)
{
    if (v->plain == 0)
        v->plain = is_plain(v->str.s, v->str.n) ? 1 : 2;
    if (v->plain == 1)
        put_plain(o, v->str.s, v->str.n);
    else
        put_escaped(o, v->str.s, v->str.n);
}

/* put_plain_list: a list made only of evaluated plain strings (a publicKeys list), in one
 * reservation; 0 (nothing written) when the list is anything else. */
static int
put_plain_list(struct out *o, struct reg_val *v)
{
    size_t i, total = 2, n = v->list.n;
    char *p;

    for (i = 0; i < n; i++) {
        struct reg_val *e = v->list.v[i];
        if (e->t != V_STR)
            return 0;
        if (e->plain == 0)
            e->plain = is_plain(e->str.s, e->str.n) ? 1 : 2;
        if (e->plain != 1)
            return 0;
        total += e->str.n + 3;
    }
    if (reserve(o, total) != 0)
        return 1;
    p = o->p + o->n;
    *p++ = '[';
    for (i = 0; i < n; i++) {
        const struct reg_val *e = v->list.v[i];
        if (i)
            *p++ = ',';
        *p++ = '"';
        memcpy(p, e->str.s, e->str.n);
        p += e->str.n;
        *p++ = '"';
    }
    *p++ = ']';
    o->n = (size_t)(p - o->p);
    return 1;
}

static void
put_str(struct out *o, const char *s, size_t n)
{
    if (is_plain(s, n))
        put_plain(o, s, n);
    else
        put_escaped(o, s, n);
}

/* unsupported_out: records (without leaving the walk) why the value cannot be printed. */
static void
unsupported_out(struct reg_ctx *c, struct out *o, const struct reg_node *at, const char *what,
                const char *why)
{
    unsigned line = 0, col = 0;

    if (at != NULL) {
        reg_linecol(at->file, reg_node_off(at), &line, &col);
        m3_diag_set(c->d, M3_EUNSUPPORTED,
                    "%s:%u:%u: %s is not supported by m3age's evaluator (%s); use --nix to "
                    "evaluate with nix-instantiate",
                    at->file->name, line, col, what, why);
    } else {
        m3_diag_set(c->d, M3_EUNSUPPORTED,
                    "%s is not supported by m3age's evaluator (%s); use --nix to evaluate with "
                    "nix-instantiate",
                    what, why);
    }
    if (c->d != NULL) {
        c->d->line = line;
        c->d->col = col;
    }
    o->rc = M3_EUNSUPPORTED;
}

/* outpath: the set's outPath attribute or NULL; a small set (every entry of a registry) is
 * scanned for a 7-byte name rather than searched. */
static const struct reg_attr *
outpath(const struct reg_set *s)
{
    size_t i;

    if (s->n > 8)
        return reg_set_get(s, "outPath", 7);
    for (i = 0; i < s->n; i++)
        if (s->a[i].len == 7 && memcmp(s->a[i].name, "outPath", 7) == 0)
            return &s->a[i];
    return NULL;
}

/* nest: one level deeper into lists and sets; Nix's own limit, as an evaluation error. */
static inline void
nest(struct reg_ctx *c, struct out *o, const struct reg_node *at)
{
    if (++o->depth > MAX_NEST)
        reg_throw(c, M3_EEVAL, at, "stack overflow (value nested too deeply)");
}

/* forced_pending: forces v; true when an error of ours is pending, in which case only the
 * evaluation goes on (v forced deeply) and nothing more is printed or checked. */
static int
forced_pending(struct reg_ctx *c, struct out *o, struct reg_val *v, const struct reg_node *at)
{
    reg_force(c, v, at);
    if (o->rc == 0)
        return 0;
    reg_force_deep(c, v, at);
    return 1;
}

static void
put_val(struct reg_ctx *c, struct out *o, struct reg_val *v, const struct reg_node *at)
{
    char num[64];
    size_t i;
    const struct reg_attr *a;

    if (forced_pending(c, o, v, at))
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
        put_strval(o, v);
        return;
    case V_LIST:
        nest(c, o, at);
        if (o->rc == 0 && put_plain_list(o, v))
            goto list_done;
        put1(o, '[');
        for (i = 0; i < v->list.n; i++) {
            struct reg_val *e = v->list.v[i];
            if (i)
                put1(o, ',');
            /* the common element, an evaluated plain string, without the call */
            if (e->t == V_STR && o->rc == 0)
                put_strval(o, e);
            else
                put_val(c, o, e, v->src ? v->src : at);
        }
        put1(o, ']');
    list_done:
        o->depth--;
        return;
    case V_SET:
        if ((a = outpath(v->set)) != NULL) {
            reg_force_deep(c, v, at);
            put_val(c, o, a->v, a->pos ? a->pos : at);
            return;
        }
        nest(c, o, at);
        put1(o, '{');
        for (i = 0; i < v->set->n; i++) {
            if (i)
                put1(o, ',');
            put_str(o, v->set->a[i].name, v->set->a[i].len);
            put1(o, ':');
            put_val(c, o, v->set->a[i].v, v->set->a[i].pos ? v->set->a[i].pos : at);
        }
        put1(o, '}');
        o->depth--;
        return;
    case V_PATH:
        unsupported_out(c, o, v->src != NULL ? v->src : at, "a path in the output",
                        "Nix copies it to the store and prints the store path");
        return;
    default:
        unsupported_out(c, o, v->src != NULL ? v->src : at, "a function in the output",
                        "JSON has no functions");
        return;
    }
}

/* check_val: put_val without the printing: forces v in the order put_val does (so that the
 * same evaluation error wins) and records in o->rc the first value JSON cannot hold. */
static void
check_val(struct reg_ctx *c, struct out *o, struct reg_val *v, const struct reg_node *at)
{
    size_t i;
    const struct reg_attr *a;

    if (forced_pending(c, o, v, at))
        return;
    switch (v->t) {
    case V_NULL:
    case V_BOOL:
    case V_INT:
    case V_FLOAT:
    case V_STR:
        return;
    case V_LIST:
        nest(c, o, at);
        for (i = 0; i < v->list.n; i++)
            if (v->list.v[i]->t != V_STR || o->rc != 0)
                check_val(c, o, v->list.v[i], v->src ? v->src : at);
        o->depth--;
        return;
    case V_SET:
        if ((a = outpath(v->set)) != NULL) {
            reg_force_deep(c, v, at);
            check_val(c, o, a->v, a->pos ? a->pos : at);
            return;
        }
        nest(c, o, at);
        for (i = 0; i < v->set->n; i++)
            check_val(c, o, v->set->a[i].v, v->set->a[i].pos ? v->set->a[i].pos : at);
        o->depth--;
        return;
    default:
        put_val(c, o, v, at); /* a path or a function: its error, as put_val words it */
        return;
    }
}

/* stream: v (forced and checked) printed to o->fd through a buffer. */
static void
stream(struct reg_ctx *c, struct out *o, struct reg_val *v)
{
    size_t room = (size_t)(c->arena->end - c->arena->cur);

    if (room >= STREAM_SMALL) {
        /* a multiple of 16, which the arena would otherwise round up past its room */
        o->cap = (room < STREAM_BUF ? room : STREAM_BUF) & ~(size_t)15;
        o->p = reg_arena_alloc_raw(c->arena, o->cap);
    } else if ((o->p = malloc(STREAM_MIN)) != NULL) {
        o->cap = STREAM_MIN;
        o->owned = 1;
    }
    if (o->p == NULL) {
        o->rc = M3_ENOMEM;
        return;
    }
    put_val(c, o, v, NULL);
    if (o->rc == 0)
        flush(o);
}

int
reg_json(struct reg_ctx *c, struct reg_val *v, int fd, char **json, size_t *len)
{
    /* a registry prints as about 15 times its source (keys repeat): start near that */
    struct out o = {.hint = (size_t)4 << 10, .fd = -1, .owned = 1};
    jmp_buf jb, *saved = c->jmp;
    volatile int rc = 0;

    if (c->files[0].f->len * 16 > o.hint)
        o.hint = c->files[0].f->len * 16;
    c->jmp = &jb;
    if (setjmp(jb) == 0) {
        if (fd >= 0) {
            /* Streamed, nothing may be written before the whole value is known to print:
             * a first walk forces it in the order printing would (so the same error wins)
             * and finds what JSON cannot hold, then the second prints. */
            check_val(c, &o, v, NULL);
            o.owned = 0;
            if (o.rc == 0) {
                reg_check_rest(c); /* the names of what was not evaluated */
                o.fd = fd;
                stream(c, &o, v);
            }
        } else {
            put_val(c, &o, v, NULL);
            if (o.rc == 0 && reserve(&o, 0) != 0)
                o.rc = M3_ENOMEM;
            if (o.rc == 0)
                reg_check_rest(c);
        }
        rc = o.rc;
    } else {
        rc = c->rc; /* thrown: the evaluator's message is already in c->d */
    }
    c->jmp = saved;
    if (rc != 0 && rc != M3_ENOMEM && rc != M3_EIO)
        rc = reg_check_after(c, rc); /* a parse error of Nix's comes first */
    if (rc == M3_ENOMEM && o.rc == M3_ENOMEM) /* the output buffer itself */
        m3_diag_set(c->d, rc, "out of memory");
    if (rc == M3_EIO && fd == STDOUT_FILENO)
        m3_diag_set(c->d, rc, "standard output: %s", strerror(o.err));
    else if (rc == M3_EIO)
        m3_diag_set(c->d, rc, "file descriptor %d: %s", fd, strerror(o.err));
    if (rc != 0 || fd >= 0) {
        if (o.owned)
            free(o.p);
        return rc;
    }
    o.p[o.n] = '\0';
    *json = o.p;
    if (len != NULL)
        *len = o.n;
    return 0;
}
