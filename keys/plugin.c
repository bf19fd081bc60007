/* plugin.c: plugin recipients and identities: the recipient-v1 and identity-v1 state
 * machines of c2sp.org/age-plugin, client side, over keys/plugin_proto.c. */
#include "keys/keys.h"
#include "keys/plugin.h"
#include "libage/internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PLUGIN_TEXT_MAX 300   /* a plugin's message, as shown */
#define PLUGIN_SECRET_MAX 256 /* a PIN or passphrase typed for a plugin */
#define PLUGIN_DATA_MAX 4096  /* bech32 payload of a plugin identity */

static struct keys_plugin_ui ui = {.timeout_ms = KEYS_PLUGIN_TIMEOUT_DEFAULT_MS};
static pthread_mutex_t groups_lock = PTHREAD_MUTEX_INITIALIZER;

void
keys_plugin_set_ui(const struct keys_plugin_ui *u)
{
    ui = *u;
}

/* ---- Talking to the user ---------------------------------------------------------------- */

/* text_of: a plugin's body as one printable line (it comes from another program). */
static void
text_of(const struct keys_pmsg *m, char *out, size_t cap)
{
    size_t n = m->body_len < cap - 1 ? m->body_len : cap - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char ch = m->body[i];
        out[i] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch;
    }
    out[n] = '\0';
}

static int
reply(struct keys_pconn *c, const char *a0, const char *a1, const unsigned char *body, size_t len,
      struct m3_diag *d)
{
    const char *args[2] = {a0, a1};
    return keys_pconn_send(c, args, a1 ? 2 : 1, body, len, d);
}

/* answer_user: msg, confirm, request-public and request-secret, common to both machines.
 * Returns 1 when m was one of them (answered), 0 when not, < 0 on a transport error. */
static int
answer_user(struct keys_pconn *c, const struct keys_pmsg *m, struct m3_diag *d)
{
    const char *cmd = m->args[0];
    const char *plugin = c->name + 11;
    char text[PLUGIN_TEXT_MAX];
    int rc;

    if (strcmp(cmd, "msg") == 0) {
        c->interactive = true;
        text_of(m, text, sizeof(text));
        rc = ui.msg ? ui.msg(ui.ctx, plugin, text) : -1;
        return reply(c, rc == 0 ? "ok" : "fail", NULL, NULL, 0, d) ? -1 : 1;
    }
    if (strcmp(cmd, "confirm") == 0) {
        unsigned char yes[128] = {0}, no[128] = {0};
        size_t yl = 0, nl = 0;
        c->interactive = true;
        text_of(m, text, sizeof(text));
        if (m->nargs < 2 || m->nargs > 3 ||
            age_b64_decode(m->args[1], strlen(m->args[1]), yes, sizeof(yes) - 1, &yl) != 0 ||
            (m->nargs == 3 &&
             age_b64_decode(m->args[2], strlen(m->args[2]), no, sizeof(no) - 1, &nl) != 0))
            rc = -1;
        else {
            for (size_t i = 0; i < yl; i++)
                yes[i] = isprint(yes[i]) ? yes[i] : ' ';
            for (size_t i = 0; i < nl; i++)
                no[i] = isprint(no[i]) ? no[i] : ' ';
            rc = ui.confirm ? ui.confirm(ui.ctx, plugin, text, (char *)yes,
                                         m->nargs == 3 ? (char *)no : NULL)
                            : -1;
        }
        if (rc < 0)
            return reply(c, "fail", NULL, NULL, 0, d) ? -1 : 1;
        return reply(c, "ok", rc ? "yes" : "no", NULL, 0, d) ? -1 : 1;
    }
    if (strcmp(cmd, "request-public") == 0 || strcmp(cmd, "request-secret") == 0) {
        bool secret = cmd[8] == 's';
        char *buf = age_secret_alloc(PLUGIN_SECRET_MAX);
        if (buf == NULL)
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        c->interactive = true;
        text_of(m, text, sizeof(text));
        rc = ui.request ? ui.request(ui.ctx, plugin, text, secret, buf, PLUGIN_SECRET_MAX) : -1;
        if (rc == 0)
            rc = reply(c, "ok", NULL, (unsigned char *)buf, strlen(buf), d);
        else
            rc = reply(c, "fail", NULL, NULL, 0, d);
        age_secret_free(buf);
        return rc ? -1 : 1;
    }
    return 0;
}

/* parse_index: a decimal file index below n. */
static bool
parse_index(const char *s, size_t n, size_t *out)
{
    size_t v = 0;

    if (*s == '\0' || (s[0] == '0' && s[1] != '\0'))
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > n)
            return false;
        v = v * 10 + (size_t)(*s - '0');
    }
    *out = v;
    return v < n;
}

/* ---- recipient-v1 ---------------------------------------------------------------------- */

/* Stanzas wrapped ahead of time (keys_plugin_wrap_prefetch) for one file key, by a keyed
 * hash of the key. The first recipient of a session's set holds the file's stanzas; the
 * others of the set hold an empty list (the plugin does not say which stanza is whose). */
struct pwrapped {
    unsigned char digest[32];
    struct age_stanza_list sl;
};

struct precipient {
    char plugin[48];
    char *text; /* the recipient, or the identity (secret memory) when as_identity */
    bool as_identity;
    pthread_mutex_t lock;
    struct pwrapped *ready;
    size_t nready;
};

static unsigned char digest_key[32];
static pthread_once_t digest_once = PTHREAD_ONCE_INIT;

static void
digest_init(void)
{
    randombytes_buf(digest_key, sizeof(digest_key));
}

/* key_digest: a keyed hash of a file key (its key is random per process: nothing about the
 * file key can be learned from it). */
static void
key_digest(const unsigned char *file_key, unsigned char out[32])
{
    pthread_once(&digest_once, digest_init);
    crypto_generichash(out, 32, file_key, AGE_FILE_KEY_SIZE, digest_key, sizeof(digest_key));
}

/* run_wrap: one recipient-v1 session: the ns recipients (all of one plugin) and the nf file
 * keys; outs[f] receives file f's stanzas. */
static int
run_wrap(const struct precipient *const *rs, size_t ns, const unsigned char *const *fks, size_t nf,
         struct age_stanza_list *outs, struct m3_diag *d)
{
    struct keys_pconn c;
    struct keys_pmsg m = {0};
    char err[PLUGIN_TEXT_MAX] = "";
    size_t *count = calloc(nf + 1, sizeof(*count));
    int rc;

    if (count == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if ((rc = keys_pconn_start(&c, rs[0]->plugin, "recipient-v1", d)) != 0) {
        free(count);
        return rc;
    }
    c.timeout_ms = ui.timeout_ms;
    rc = keys_pconn_grease(&c, d);
    for (size_t i = 0; i < ns && rc == 0; i++) {
        const char *a[2] = {rs[i]->as_identity ? "add-identity" : "add-recipient", rs[i]->text};
        rc = keys_pconn_send(&c, a, 2, NULL, 0, d);
    }
    for (size_t f = 0; f < nf && rc == 0; f++) {
        const char *w[1] = {"wrap-file-key"};
        rc = keys_pconn_send(&c, w, 1, fks[f], AGE_FILE_KEY_SIZE, d);
    }
    if (rc == 0 && (rc = keys_pconn_grease(&c, d)) == 0) {
        const char *done[1] = {"done"};
        rc = keys_pconn_send(&c, done, 1, NULL, 0, d);
    }
    if (rc != 0)
        goto out;
    for (;;) {
        const char *cmd;
        size_t f;
        if ((rc = keys_pconn_recv(&c, &m, d)) != 0)
            goto out;
        cmd = m.args[0];
        if ((rc = answer_user(&c, &m, d)) < 0)
            goto out;
        if (rc == 1) {
            keys_pmsg_free(&m);
            continue;
        }
        if (strcmp(cmd, "done") == 0)
            break;
        if (strcmp(cmd, "recipient-stanza") == 0) {
            if (m.nargs < 3 || !parse_index(m.args[1], nf, &f)) {
                rc = m3_diag_set(d, M3_EIO,
                                 "%s: sent a recipient stanza for a file it was not given", c.name);
                goto out;
            }
            /* Spec: no more stanzas per file than recipients and identities. */
            if (count[f] == ns) {
                rc = m3_diag_set(d, M3_EINVAL, "%s: sent more stanzas than recipients", c.name);
                goto out;
            }
            count[f]++;
            rc = age_stanza_list_add(&outs[f], m.args[2], (const char *const *)m.args + 3,
                                     m.nargs - 3, m.body, m.body_len);
            if (rc != 0) {
                m3_diag_set(d, rc, "%s: sent a malformed recipient stanza", c.name);
                goto out;
            }
        } else if (strcmp(cmd, "error") == 0) {
            if (err[0] == '\0')
                text_of(&m, err, sizeof(err));
            if (err[0] == '\0')
                snprintf(err, sizeof(err), "%.40s", m.nargs > 1 ? m.args[1] : "error");
        } else {
            if ((rc = reply(&c, "unsupported", NULL, NULL, 0, d)) != 0)
                goto out;
            keys_pmsg_free(&m);
            continue;
        }
        if ((rc = reply(&c, "ok", NULL, NULL, 0, d)) != 0)
            goto out;
        keys_pmsg_free(&m);
    }
    if (err[0] != '\0')
        rc = m3_diag_set(d, M3_EINVAL, "%s: %s", c.name, err);
    for (size_t f = 0; rc == 0 && f < nf; f++)
        if (count[f] == 0)
            rc = m3_diag_set(d, M3_EIO, "%s: returned no stanza for a file key", c.name);
out:
    keys_pmsg_free(&m);
    keys_pconn_finish(&c, rc != 0);
    free(count);
    if (rc != 0)
        for (size_t f = 0; f < nf; f++)
            age_stanza_list_clear(&outs[f]);
    return rc;
}

static int
list_append(struct age_stanza_list *out, const struct age_stanza_list *in)
{
    int rc = 0;

    for (size_t i = 0; rc == 0 && i < in->n; i++)
        rc = age_stanza_list_add(out, in->v[i].type, (const char *const *)in->v[i].args,
                                 in->v[i].nargs, in->v[i].body, in->v[i].body_len);
    return rc;
}

static int
prcpt_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
           struct m3_diag *d)
{
    struct precipient *r = (struct precipient *)state;
    const struct precipient *one[1] = {r};
    struct age_stanza_list got = {0};
    unsigned char dg[32];
    int rc;

    key_digest(file_key, dg);
    pthread_mutex_lock(&r->lock);
    for (size_t i = 0; i < r->nready; i++)
        if (sodium_memcmp(r->ready[i].digest, dg, 32) == 0) {
            rc = list_append(out, &r->ready[i].sl);
            age_stanza_list_clear(&r->ready[i].sl);
            r->ready[i] = r->ready[--r->nready];
            pthread_mutex_unlock(&r->lock);
            return rc == 0 ? 0 : m3_diag_set(d, rc, "out of memory");
        }
    pthread_mutex_unlock(&r->lock);
    if ((rc = run_wrap(one, 1, &file_key, 1, &got, d)) == 0 && (rc = list_append(out, &got)))
        m3_diag_set(d, rc, "out of memory");
    age_stanza_list_clear(&got);
    return rc;
}

static const struct age_recipient_ops prcpt_ops;

/* A set of one plugin's recipients that some files share, and those files. */
struct wgroup {
    const struct precipient **rs;
    size_t ns;
    size_t *files;
    size_t nf;
};

/* file_set: the recipients of plugin `plugin` among rv, without repeats, into out. */
static size_t
file_set(struct age_recipient *const *rv, size_t n, const char *plugin,
         const struct precipient **out)
{
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        const struct precipient *p = rv[i]->state;
        bool dup = false;
        if (rv[i]->ops != &prcpt_ops || strcmp(p->plugin, plugin) != 0)
            continue;
        for (size_t j = 0; j < k && !dup; j++)
            dup = out[j] == p;
        if (!dup)
            out[k++] = p;
    }
    return k;
}

static int
wgroup_run(struct wgroup *g, const unsigned char *const *keys, struct m3_diag *d)
{
    const unsigned char **fks = calloc(g->nf + 1, sizeof(*fks));
    struct age_stanza_list *outs = calloc(g->nf + 1, sizeof(*outs));
    int rc = M3_ENOMEM;

    if (fks == NULL || outs == NULL)
        goto out;
    for (size_t f = 0; f < g->nf; f++)
        fks[f] = keys[g->files[f]];
    if ((rc = run_wrap(g->rs, g->ns, fks, g->nf, outs, d)) != 0)
        goto out;
    for (size_t s = 0; s < g->ns && rc == 0; s++) {
        struct precipient *r = (struct precipient *)g->rs[s];
        struct pwrapped *nv;
        pthread_mutex_lock(&r->lock);
        if ((nv = realloc(r->ready, (r->nready + g->nf) * sizeof(*nv))) == NULL) {
            pthread_mutex_unlock(&r->lock);
            rc = M3_ENOMEM;
            break;
        }
        r->ready = nv;
        for (size_t f = 0; f < g->nf; f++) {
            struct pwrapped *w = &r->ready[r->nready++];
            key_digest(fks[f], w->digest);
            w->sl = s == 0 ? outs[f] : (struct age_stanza_list){0};
            if (s == 0)
                outs[f] = (struct age_stanza_list){0};
        }
        pthread_mutex_unlock(&r->lock);
    }
out:
    for (size_t f = 0; outs != NULL && f < g->nf; f++)
        age_stanza_list_clear(&outs[f]);
    free(outs);
    free(fks);
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    return rc;
}

int
keys_plugin_wrap_prefetch(struct age_recipient *const *const *rcpts, const size_t *nr,
                          const unsigned char *const *keys, size_t n, struct m3_diag *d)
{
    struct wgroup *gs = NULL;
    size_t ng = 0;
    const struct precipient **set = NULL;
    int rc = 0;

    for (size_t f = 0; f < n && rc == 0; f++)
        for (size_t i = 0; i < nr[f] && rc == 0; i++) {
            const struct precipient *p = rcpts[f][i]->state;
            size_t k, gi;
            if (rcpts[f][i]->ops != &prcpt_ops)
                continue;
            free(set);
            if ((set = calloc(nr[f] + 1, sizeof(*set))) == NULL) {
                rc = M3_ENOMEM;
                break;
            }
            k = file_set(rcpts[f], nr[f], p->plugin, set);
            for (size_t j = 0; j < i && set[0] == p; j++)
                if (rcpts[f][j]->state == p)
                    set[0] = NULL;
            if (set[0] != p)
                continue; /* the set was met at its first member */
            for (gi = 0; gi < ng; gi++)
                if (gs[gi].ns == k && memcmp(gs[gi].rs, set, k * sizeof(*set)) == 0)
                    break;
            if (gi == ng) {
                struct wgroup *nv = realloc(gs, (ng + 1) * sizeof(*nv));
                if (nv == NULL) {
                    rc = M3_ENOMEM;
                    break;
                }
                gs = nv;
                memset(&gs[ng], 0, sizeof(gs[ng]));
                gs[ng].rs = set;
                gs[ng].ns = k;
                set = NULL;
                if ((gs[ng++].files = calloc(n, sizeof(size_t))) == NULL) {
                    rc = M3_ENOMEM;
                    break;
                }
            }
            gs[gi].files[gs[gi].nf++] = f;
        }
    free(set);
    for (size_t gi = 0; gi < ng && rc == 0; gi++)
        rc = wgroup_run(&gs[gi], keys, d);
    for (size_t gi = 0; gi < ng; gi++) {
        free(gs[gi].rs);
        free(gs[gi].files);
    }
    free(gs);
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    return rc;
}

static char *
prcpt_encode(const void *state)
{
    const struct precipient *r = state;
    return r->as_identity ? NULL : strdup(r->text);
}

static void
prcpt_free(void *state)
{
    struct precipient *r = state;
    if (r == NULL)
        return;
    age_secret_free(r->text);
    for (size_t i = 0; i < r->nready; i++)
        age_stanza_list_clear(&r->ready[i].sl);
    free(r->ready);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

static const struct age_recipient_ops prcpt_ops = {
    .type = "plugin",
    .wrap = prcpt_wrap,
    .encode = prcpt_encode,
    .free = prcpt_free,
};

static int
precipient_new(struct age_recipient **out, const char *text, const char *plugin, bool as_identity,
               struct m3_diag *d)
{
    struct precipient *r;
    char path[4096];
    int rc;

    *out = NULL;
    if ((rc = keys_plugin_find(plugin, path, sizeof(path), d)) != 0)
        return rc;
    if ((r = calloc(1, sizeof(*r))) == NULL || (r->text = age_secret_strdup(text)) == NULL) {
        free(r);
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    snprintf(r->plugin, sizeof(r->plugin), "%s", plugin);
    r->as_identity = as_identity;
    pthread_mutex_init(&r->lock, NULL);
    if ((*out = age_recipient_new(&prcpt_ops, r)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    return 0;
}

int
keys_plugin_recipient_new(struct age_recipient **out, const char *s, const char *plugin,
                          struct m3_diag *d)
{
    return precipient_new(out, s, plugin, false, d);
}

/* ---- identity-v1 ----------------------------------------------------------------------- */

/* What a session said about one header (by the digest of its stanzas). */
struct pentry {
    unsigned char digest[32];
    int rc;             /* 0: key holds the file key; M3_ENOMATCH otherwise */
    unsigned char *key; /* secret memory */
    char msg[448];      /* why not, when the plugin said or failed */
};

/* All identities of one plugin in this process: they go to the plugin together. */
struct pgroup {
    char plugin[48];
    char **ids; /* identity strings, secret memory */
    size_t nids;
    struct pentry *cache;
    size_t ncache;
    unsigned refs;
    pthread_mutex_t lock;
    struct pgroup *next;
};
static struct pgroup *groups;

struct pidentity {
    struct pgroup *g;
    size_t idx; /* its string in g->ids */
};

static void
digest_stanzas(const struct age_stanza *s, size_t n, unsigned char out[32])
{
    crypto_generichash_state st;
    static const unsigned char sep = 0;

    crypto_generichash_init(&st, NULL, 0, 32);
    for (size_t i = 0; i < n; i++) {
        unsigned char len[8];
        crypto_generichash_update(&st, (const unsigned char *)s[i].type, strlen(s[i].type) + 1);
        for (size_t j = 0; j < s[i].nargs; j++)
            crypto_generichash_update(&st, (const unsigned char *)s[i].args[j],
                                      strlen(s[i].args[j]) + 1);
        for (int b = 0; b < 8; b++)
            len[b] = (unsigned char)(s[i].body_len >> (8 * b));
        crypto_generichash_update(&st, &sep, 1);
        crypto_generichash_update(&st, len, sizeof(len));
        if (s[i].body_len)
            crypto_generichash_update(&st, s[i].body, s[i].body_len);
    }
    crypto_generichash_final(&st, out, 32);
}

static struct pentry *
cache_find(struct pgroup *g, const unsigned char digest[32])
{
    for (size_t i = 0; i < g->ncache; i++)
        if (memcmp(g->cache[i].digest, digest, 32) == 0)
            return &g->cache[i];
    return NULL;
}

/* send_stanza: (recipient-stanza, FILE_INDEX STANZA...). */
static int
send_stanza(struct keys_pconn *c, size_t file, const struct age_stanza *s, struct m3_diag *d)
{
    const char *args[2 + AGE_STANZA_MAX_ARGS + 1];
    char idx[24];

    if (s->nargs > AGE_STANZA_MAX_ARGS)
        return 0;
    snprintf(idx, sizeof(idx), "%zu", file);
    args[0] = "recipient-stanza";
    args[1] = idx;
    args[2] = s->type;
    for (size_t j = 0; j < s->nargs; j++)
        args[3 + j] = s->args[j];
    return keys_pconn_send(c, args, 3 + s->nargs, s->body, s->body_len, d);
}

/* run_unwrap: one identity-v1 session for the headers hs (their entries es, already in the
 * cache with rc M3_ENOMATCH). A protocol failure is every entry's message. */
static int
run_unwrap(struct pgroup *g, const struct age_header *const *hs, struct pentry **es, size_t n)
{
    struct keys_pconn c;
    struct keys_pmsg m = {0};
    struct m3_diag dd, *d = &dd;
    int rc;

    m3_diag_clear(d);
    if ((rc = keys_pconn_start(&c, g->plugin, "identity-v1", d)) != 0)
        goto out;
    c.timeout_ms = ui.timeout_ms;
    for (size_t i = 0; i < g->nids && rc == 0; i++) {
        const char *a[2] = {"add-identity", g->ids[i]};
        rc = keys_pconn_send(&c, a, 2, NULL, 0, d);
    }
    if (rc == 0)
        rc = keys_pconn_grease(&c, d);
    for (size_t f = 0; f < n && rc == 0; f++)
        for (size_t j = 0; j < hs[f]->nstanzas && rc == 0; j++)
            rc = send_stanza(&c, f, &hs[f]->stanzas[j], d);
    if (rc == 0) {
        const char *done[1] = {"done"};
        rc = keys_pconn_send(&c, done, 1, NULL, 0, d);
    }
    while (rc == 0) {
        const char *cmd;
        size_t f;
        if ((rc = keys_pconn_recv(&c, &m, d)) != 0)
            break;
        cmd = m.args[0];
        if ((rc = answer_user(&c, &m, d)) < 0)
            break;
        if (rc == 1) {
            rc = 0;
            keys_pmsg_free(&m);
            continue;
        }
        if (strcmp(cmd, "done") == 0)
            break;
        if (strcmp(cmd, "file-key") == 0) {
            if (m.nargs != 2 || !parse_index(m.args[1], n, &f)) {
                rc = m3_diag_set(d, M3_EIO, "%s: sent a file key for a file it was not given",
                                 c.name);
                break;
            }
            if (m.body_len != AGE_FILE_KEY_SIZE) {
                rc = m3_diag_set(d, M3_EIO, "%s: sent a file key of %zu bytes instead of %d",
                                 c.name, m.body_len, AGE_FILE_KEY_SIZE);
                break;
            }
            if (es[f]->rc == 0) {
                rc = m3_diag_set(d, M3_EIO, "%s: sent two file keys for one file", c.name);
                break;
            }
            memcpy(es[f]->key, m.body, AGE_FILE_KEY_SIZE);
            es[f]->rc = 0;
        } else if (strcmp(cmd, "error") == 0) {
            char text[PLUGIN_TEXT_MAX];
            bool stanza = m.nargs >= 3 && strcmp(m.args[1], "stanza") == 0;
            text_of(&m, text, sizeof(text));
            for (size_t i = 0; i < n; i++)
                if ((!stanza || (parse_index(m.args[2], n, &f) && f == i)) && es[i]->msg[0] == '\0')
                    snprintf(es[i]->msg, sizeof(es[i]->msg), "%s: %.300s", c.name,
                             text[0]       ? text
                             : m.nargs > 1 ? m.args[1]
                                           : "error");
        } else {
            rc = reply(&c, "unsupported", NULL, NULL, 0, d);
            keys_pmsg_free(&m);
            continue;
        }
        rc = reply(&c, "ok", NULL, NULL, 0, d);
        keys_pmsg_free(&m);
    }
out:
    keys_pmsg_free(&m);
    if (c.fd >= 0 || c.pid > 0)
        keys_pconn_finish(&c, rc != 0);
    if (rc != 0)
        /* Nothing from a failed session is trusted: no file key survives it. */
        for (size_t i = 0; i < n; i++) {
            es[i]->rc = M3_ENOMATCH;
            sodium_memzero(es[i]->key, AGE_FILE_KEY_SIZE);
            snprintf(es[i]->msg, sizeof(es[i]->msg), "%s", dd.msg);
        }
    return rc == M3_ENOMEM ? rc : 0;
}

/* group_run: adds cache entries for the headers not seen yet and runs one session for them.
 * Called with g->lock held. */
static int
group_run(struct pgroup *g, const struct age_header *const *hs, size_t n)
{
    const struct age_header **todo = calloc(n + 1, sizeof(*todo));
    struct pentry **es = calloc(n + 1, sizeof(*es));
    struct pentry *nc;
    size_t k = 0;
    int rc = M3_ENOMEM;

    if (todo == NULL || es == NULL)
        goto out;
    rc = 0;
    if (n == 0)
        goto out;
    rc = M3_ENOMEM;
    if ((nc = realloc(g->cache, (g->ncache + n) * sizeof(*nc))) == NULL)
        goto out;
    g->cache = nc;
    for (size_t i = 0; i < n; i++) {
        unsigned char dg[32];
        struct pentry *e;
        digest_stanzas(hs[i]->stanzas, hs[i]->nstanzas, dg);
        if (cache_find(g, dg) != NULL)
            continue;
        e = &g->cache[g->ncache];
        memset(e, 0, sizeof(*e));
        memcpy(e->digest, dg, 32);
        e->rc = M3_ENOMATCH;
        if ((e->key = age_secret_alloc(AGE_FILE_KEY_SIZE)) == NULL)
            goto out;
        g->ncache++;
        todo[k++] = hs[i];
    }
    /* es after the loop: the cache array no longer moves. */
    for (size_t i = 0; i < k; i++)
        es[i] = &g->cache[g->ncache - k + i];
    rc = k ? run_unwrap(g, todo, es, k) : 0;
out:
    free(todo);
    free(es);
    return rc;
}

static int
pid_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
           struct m3_diag *d)
{
    struct pgroup *g = ((struct pidentity *)state)->g;
    struct age_header h = {.stanzas = (struct age_stanza *)stanzas, .nstanzas = n};
    const struct age_header *hp = &h;
    unsigned char dg[32];
    struct pentry *e;
    int rc;

    digest_stanzas(stanzas, n, dg);
    pthread_mutex_lock(&g->lock);
    if ((e = cache_find(g, dg)) == NULL) {
        if ((rc = group_run(g, &hp, 1)) != 0) {
            pthread_mutex_unlock(&g->lock);
            return m3_diag_set(d, rc, "out of memory");
        }
        e = cache_find(g, dg);
    }
    rc = e ? e->rc : M3_ENOMATCH;
    if (rc == 0)
        memcpy(file_key, e->key, AGE_FILE_KEY_SIZE);
    else if (e != NULL && e->msg[0] != '\0')
        m3_diag_set(d, M3_ENOMATCH, "%s", e->msg);
    pthread_mutex_unlock(&g->lock);
    return rc;
}

static int
pid_recipient(const void *state, struct age_recipient **out)
{
    const struct pidentity *p = state;
    /* Encrypting "to an identity" (-i when encrypting) is add-identity in recipient-v1. */
    return precipient_new(out, p->g->ids[p->idx], p->g->plugin, true, NULL);
}

static void
group_unref(struct pgroup *g)
{
    struct pgroup **pp;

    pthread_mutex_lock(&groups_lock);
    if (--g->refs > 0) {
        pthread_mutex_unlock(&groups_lock);
        return;
    }
    for (pp = &groups; *pp != NULL; pp = &(*pp)->next)
        if (*pp == g) {
            *pp = g->next;
            break;
        }
    pthread_mutex_unlock(&groups_lock);
    for (size_t i = 0; i < g->nids; i++)
        age_secret_free(g->ids[i]);
    free(g->ids);
    for (size_t i = 0; i < g->ncache; i++)
        age_secret_free(g->cache[i].key);
    free(g->cache);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static void
pid_free(void *state)
{
    struct pidentity *p = state;
    if (p != NULL && p->g != NULL)
        group_unref(p->g);
    free(p);
}

static const struct age_identity_ops pid_ops = {
    .type = "plugin",
    .unwrap = pid_unwrap,
    .recipient = pid_recipient,
    .free = pid_free,
};

/* group_join: the group of plugin name, with s added to its identities. */
static int
group_join(const char *name, const char *s, struct pgroup **out, size_t *idx)
{
    struct pgroup *g;
    char **nv, *copy;
    int rc = M3_ENOMEM;

    pthread_mutex_lock(&groups_lock);
    for (g = groups; g != NULL && strcmp(g->plugin, name) != 0; g = g->next)
        ;
    if (g == NULL) {
        if ((g = calloc(1, sizeof(*g))) == NULL)
            goto out;
        snprintf(g->plugin, sizeof(g->plugin), "%s", name);
        pthread_mutex_init(&g->lock, NULL);
        g->next = groups;
        groups = g;
    }
    g->refs++;
    *out = g;
    if ((copy = age_secret_strdup(s)) == NULL ||
        (nv = realloc(g->ids, (g->nids + 1) * sizeof(*nv))) == NULL) {
        age_secret_free(copy);
        pthread_mutex_unlock(&groups_lock);
        group_unref(g);
        return M3_ENOMEM;
    }
    g->ids = nv;
    *idx = g->nids;
    g->ids[g->nids++] = copy;
    /* Headers already answered did not include this identity. */
    for (size_t i = 0; i < g->ncache; i++)
        age_secret_free(g->cache[i].key);
    g->ncache = 0;
    rc = 0;
out:
    pthread_mutex_unlock(&groups_lock);
    return rc;
}

static int
identity_new(struct age_identity **out, const char *name, const char *s, struct m3_diag *d)
{
    struct pidentity *p = calloc(1, sizeof(*p));

    if (p == NULL || group_join(name, s, &p->g, &p->idx) != 0) {
        free(p);
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    if ((*out = age_identity_new(&pid_ops, p)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    return 0;
}

int
keys_plugin_identity_parse(struct age_identity **out, const char *s, struct m3_diag *d)
{
    char hrp[96], name[64];
    unsigned char *data;
    size_t len, hl;
    int rc;

    *out = NULL;
    if (strncmp(s, "AGE-PLUGIN-", 11) != 0)
        return M3_ENOMATCH;
    if ((data = age_secret_alloc(PLUGIN_DATA_MAX)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    rc = age_bech32_decode(s, hrp, sizeof(hrp), data, PLUGIN_DATA_MAX, &len);
    age_secret_free(data);
    /* The identity is secret: the message never quotes it. */
    if (rc != 0)
        return m3_diag_set(d, M3_EINVAL, "malformed plugin identity (bad bech32 encoding)");
    for (const char *p = s; *p; p++)
        if (islower((unsigned char)*p))
            return m3_diag_set(d, M3_EINVAL, "malformed plugin identity (must be upper case)");
    hl = strlen(hrp);
    if (hl <= 12 || hrp[hl - 1] != '-' || hl - 12 >= sizeof(name))
        return m3_diag_set(d, M3_EINVAL, "malformed plugin identity (no plugin name)");
    memcpy(name, hrp + 11, hl - 12);
    name[hl - 12] = '\0';
    if (strchr(name, '/') != NULL)
        return m3_diag_set(d, M3_EINVAL, "malformed plugin identity (bad plugin name)");
    return identity_new(out, name, s, d);
}

int
keys_plugin_identity_default(struct age_identity **out, const char *name, struct m3_diag *d)
{
    char hrp[64], lower[48], enc[128];

    *out = NULL;
    if (name[0] == '\0' || strlen(name) > 40 || strchr(name, '/') != NULL)
        return m3_diag_set(d, M3_EINVAL, "'%.40s' is not a valid plugin name", name);
    for (size_t i = 0; name[i]; i++)
        if (name[i] <= ' ' || name[i] > '~')
            return m3_diag_set(d, M3_EINVAL, "'%.40s' is not a valid plugin name", name);
    for (size_t i = 0; i <= strlen(name); i++)
        lower[i] = (char)tolower((unsigned char)name[i]);
    snprintf(hrp, sizeof(hrp), "age-plugin-%s-", lower);
    if (age_bech32_encode(hrp, (const unsigned char *)"", 0, true, enc, sizeof(enc)) != 0)
        return m3_diag_set(d, M3_EINVAL, "'%.40s' is not a valid plugin name", name);
    return identity_new(out, lower, enc, d);
}

bool
keys_identity_is_plugin(const struct age_identity *id)
{
    return id != NULL && id->ops == &pid_ops;
}

const char *
keys_identity_plugin_name(const struct age_identity *id)
{
    return keys_identity_is_plugin(id) ? ((const struct pidentity *)id->state)->g->plugin : NULL;
}

int
keys_plugin_prefetch(struct age_identity *const *ids, size_t nids,
                     const struct age_header *const *hdrs, size_t n, struct m3_diag *d)
{
    for (size_t i = 0; i < nids; i++) {
        struct pgroup *g;
        bool seen = false;
        int rc;
        if (!keys_identity_is_plugin(ids[i]))
            continue;
        g = ((struct pidentity *)ids[i]->state)->g;
        for (size_t j = 0; j < i && !seen; j++)
            seen = keys_identity_is_plugin(ids[j]) && ((struct pidentity *)ids[j]->state)->g == g;
        if (seen)
            continue;
        pthread_mutex_lock(&g->lock);
        rc = group_run(g, hdrs, n);
        pthread_mutex_unlock(&g->lock);
        if (rc != 0)
            return m3_diag_set(d, rc, "out of memory");
    }
    return 0;
}
