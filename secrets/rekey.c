/* rekey.c: re-encrypt secrets to the registry's recipients: lazily (headers compared with
 * the registry without decrypting), all or nothing (every file decrypted before any is
 * written), atomic per file (temp + fsync + rename + fsync of the folder), and in parallel.
 *
 * Crash safety: each file is replaced by rename(2), so after a kill at any moment every file
 * is its old or its new version; a killed run can leave only ".NAME.m3tmp.*" files, which
 * the next run removes before it starts. */
#include "libage/internal.h"
#include "libage/ssh.h"
#include "secrets/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What an identity of this run can open: an SSH wire key or an age1 recipient string. */
struct id_key {
    const unsigned char *wire;
    size_t wire_len;
    char *age1;
};

/* The SSH wire key of each distinct registry key, decoded once per run from the key text
 * (parsing a recipient converts the Ed25519 point, which the lazy check does not need). */
struct kwire {
    const char *key; /* points into the registry */
    unsigned char *wire;
    size_t wire_len; /* 0: not an SSH key */
};
struct kcache {
    struct kwire *v;
    size_t n, cap;
};

static const struct kwire *
kcache_get(struct kcache *c, const char *key)
{
    const char *b64, *end;
    size_t len;

    for (size_t i = 0; i < c->n; i++)
        if (c->v[i].key == key || strcmp(c->v[i].key, key) == 0)
            return &c->v[i];
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct kwire *nv = realloc(c->v, cap * sizeof(*nv));
        if (nv == NULL)
            return NULL;
        c->v = nv;
        c->cap = cap;
    }
    struct kwire *w = &c->v[c->n];
    memset(w, 0, sizeof(*w));
    w->key = key;
    while (*key == ' ' || *key == '\t')
        key++;
    if (strncmp(key, "ssh-", 4) == 0 && (b64 = strchr(key, ' ')) != NULL) {
        b64++;
        end = b64 + strcspn(b64, " \t\n");
        len = (size_t)(end - b64);
        if ((w->wire = malloc(len)) == NULL)
            return NULL;
        if (sodium_base642bin(w->wire, len, b64, len, NULL, &w->wire_len, NULL,
                              sodium_base64_VARIANT_ORIGINAL) != 0)
            w->wire_len = 0;
    }
    c->n++;
    return w;
}

static void
kcache_clear(struct kcache *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->v[i].wire);
    free(c->v);
    memset(c, 0, sizeof(*c));
}

static ssize_t
fd_read(void *ctx, void *buf, size_t len)
{
    int fd = *(int *)ctx;
    ssize_t n;

    do
        n = read(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n;
}

static int
push_name(char ***v, size_t *n, const char *buf)
{
    char **nv;

    if ((nv = realloc(*v, (*n + 1) * sizeof(**v))) == NULL)
        return M3_ENOMEM;
    *v = nv;
    if ((nv[*n] = strdup(buf)) == NULL)
        return M3_ENOMEM;
    (*n)++;
    return 0;
}

static bool
is_ssh_type(const char *t)
{
    return strcmp(t, "ssh-ed25519") == 0 || strcmp(t, "ssh-rsa") == 0;
}

static bool
is_grease(const char *t)
{
    size_t n = strlen(t);
    return n > 7 && strcmp(t + n - 7, "-grease") == 0;
}

/* read_header: the header of an open age file. A binary header is parsed from the first
 * bytes read (no decryptor, whose payload buffers cost more than the whole lazy check);
 * anything else (armor, a header larger than the buffer, an error) goes through
 * age_header_read, which also gives the precise message. */
static int
read_header(int fd, struct age_header **h, struct m3_diag *d)
{
    static const char magic[] = "age-encryption.org/v1\n";
    unsigned char buf[16384];
    size_t got = 0;
    ssize_t n;

    while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return m3_diag_set(d, M3_EIO, "%s", strerror(errno));
        got += (size_t)n;
    }
    if (got > sizeof(magic) && memcmp(buf, magic, sizeof(magic) - 1) == 0 &&
        age_header_parse(h, buf, got, NULL, NULL) == 0)
        return 0;
    if (lseek(fd, 0, SEEK_SET) != 0)
        return m3_diag_set(d, M3_EIO, "%s", strerror(errno));
    return age_header_read(h, fd_read, &fd, d);
}

/* compare: fills it->added/removed from the header; returns true when they differ. */
static int
compare(const struct secrets_repo *r, const struct keys_known *known, struct kcache *kc,
        struct secrets_rekey_item *it, const struct age_header *h, bool *differs)
{
    const struct reg_entry *e = it->entry;
    size_t nx_reg = 0, nx_hdr = 0, idx[8];
    char buf[160];
    int rc;

    *differs = h->armored != e->armor;
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct kwire *kw = kcache_get(kc, e->keys[i]);
        bool found = false;
        if (kw == NULL)
            return M3_ENOMEM;
        if (kw->wire_len == 0) {
            nx_reg++;
            continue;
        }
        for (size_t j = 0; j < h->nstanzas && !found; j++)
            found = age_stanza_matches_key(&h->stanzas[j], kw->wire, kw->wire_len);
        if (!found) {
            const char *nm = secrets_key_name(r, e->keys[i]);
            char shortk[40];
            if (nm == NULL) {
                snprintf(shortk, sizeof(shortk), "%.32s...", e->keys[i]);
                nm = shortk;
            }
            if ((rc = push_name(&it->added, &it->nadded, nm)) != 0)
                return rc;
        }
    }
    for (size_t j = 0; j < h->nstanzas; j++) {
        const struct age_stanza *s = &h->stanzas[j];
        bool wanted = false;
        if (strcmp(s->type, "X25519") == 0) {
            nx_hdr++;
            continue;
        }
        if (is_grease(s->type))
            continue;
        if (is_ssh_type(s->type)) {
            for (size_t i = 0; i < e->nkeys && !wanted; i++) {
                const struct kwire *kw = kcache_get(kc, e->keys[i]);
                if (kw == NULL)
                    return M3_ENOMEM;
                if (kw->wire_len > 0)
                    wanted = age_stanza_matches_key(s, kw->wire, kw->wire_len);
            }
        }
        if (wanted)
            continue;
        if (is_ssh_type(s->type) && keys_known_match(known, s, idx, 8) > 0)
            rc = push_name(&it->removed, &it->nremoved, known->v[idx[0]].name);
        else if (is_ssh_type(s->type) && s->nargs > 0)
            rc = (snprintf(buf, sizeof(buf), "ssh key with tag %.16s", s->args[0]) > 0)
                     ? push_name(&it->removed, &it->nremoved, buf)
                     : M3_ENOMEM;
        else
            rc = (snprintf(buf, sizeof(buf), "a %.40s stanza", s->type) > 0)
                     ? push_name(&it->removed, &it->nremoved, buf)
                     : M3_ENOMEM;
        if (rc != 0)
            return rc;
    }
    if (nx_reg > nx_hdr) {
        /* X25519 stanzas carry no tag: only their count can be compared. */
        for (size_t i = 0; i < e->nkeys && nx_reg > nx_hdr; i++) {
            if (strncmp(e->keys[i], "age1", 4) != 0)
                continue;
            const char *nm = secrets_key_name(r, e->keys[i]);
            if (snprintf(buf, sizeof(buf), "%.100s (X25519, by count)", nm ? nm : e->keys[i]) < 0 ||
                (rc = push_name(&it->added, &it->nadded, buf)) != 0)
                return M3_ENOMEM;
            nx_hdr++;
        }
    } else if (nx_hdr > nx_reg) {
        if (snprintf(buf, sizeof(buf), "%zu X25519 recipient(s) (by count)", nx_hdr - nx_reg) < 0 ||
            (rc = push_name(&it->removed, &it->nremoved, buf)) != 0)
            return M3_ENOMEM;
    }
    *differs = *differs || it->nadded > 0 || it->nremoved > 0;
    return 0;
}

static bool
ids_can_open(const struct id_key *ik, size_t nik, struct kcache *kc, const struct reg_entry *e)
{
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct kwire *kw = kcache_get(kc, e->keys[i]);
        for (size_t j = 0; kw != NULL && j < nik; j++) {
            if (kw->wire_len > 0 && ik[j].wire != NULL && ik[j].wire_len == kw->wire_len &&
                memcmp(ik[j].wire, kw->wire, kw->wire_len) == 0)
                return true;
            if (kw->wire_len == 0 && ik[j].age1 != NULL &&
                secrets_keys_equal(ik[j].age1, e->keys[i]))
                return true;
        }
    }
    return false;
}

static void
fail(struct secrets_rekey_item *it, const char *what, int rc, const struct m3_diag *d)
{
    it->state = SECRETS_ITEM_FAILED;
    const char *why = d != NULL && d->msg[0] ? d->msg : m3_strerror(rc);
    size_t wl = strlen(what);

    it->state = SECRETS_ITEM_FAILED;
    if (wl + 3 >= sizeof(it->msg))
        wl = 0;
    memcpy(it->msg, what, wl);
    if (wl > 0) {
        memcpy(it->msg + wl, ": ", 2);
        wl += 2;
    }
    for (size_t i = 0; why[i] != '\0' && wl + 1 < sizeof(it->msg); i++)
        it->msg[wl++] = why[i];
    it->msg[wl] = '\0';
}

/* plan_item: reads the header and decides what the item needs. */
static int
plan_item(const struct secrets_repo *r, const struct keys_known *known, struct kcache *kc,
          const struct id_key *ik, size_t nik, struct keys_identities *ids,
          const struct secrets_rekey_opts *o, struct secrets_rekey_item *it)
{
    struct age_header *h = NULL;
    struct m3_diag d;
    bool differs = false;
    int fd, rc;

    m3_diag_clear(&d);
    if ((fd = open(it->path, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno == ENOENT) {
            it->state = SECRETS_ITEM_MISSING;
            return 0;
        }
        m3_diag_set(&d, M3_EIO, "%s", strerror(errno));
        fail(it, "", M3_EIO, &d);
        return 0;
    }
    rc = read_header(fd, &h, &d);
    close(fd);
    if (rc != 0) {
        fail(it, "", rc, &d);
        return 0;
    }
    if ((rc = compare(r, known, kc, it, h, &differs)) != 0)
        goto out;
    for (size_t i = 0; i < ids->n && !it->locked_first; i++) {
        const unsigned char *wire;
        size_t wl;
        if (!keys_identity_is_locked(ids->v[i]) ||
            keys_identity_ssh_wire(ids->v[i], &wire, &wl) != 0)
            continue;
        for (size_t j = 0; j < h->nstanzas && !it->locked_first; j++)
            it->locked_first = age_stanza_matches_key(&h->stanzas[j], wire, wl);
    }
    it->state = (differs || o->force) ? SECRETS_ITEM_PLANNED : SECRETS_ITEM_UP_TO_DATE;
    if (it->state == SECRETS_ITEM_PLANNED) {
        if (it->entry->nkeys == 0) {
            m3_diag_set(&d, M3_EINVAL, "the registry gives it no recipients");
            fail(it, "refusing to write", M3_EINVAL, &d);
        } else if (!o->allow_lockout && !ids_can_open(ik, nik, kc, it->entry)) {
            m3_diag_set(&d, M3_EINVAL,
                        "none of this run's identities could open the new file "
                        "(use --allow-lockout to write it anyway)");
            fail(it, "refusing to write", M3_EINVAL, &d);
        }
    }
    rc = 0;
out:
    age_header_free(h);
    return rc;
}

/* ---- Parallel phases ----------------------------------------------------------------- */

enum phase { PHASE_DECRYPT, PHASE_ENCRYPT };

struct pool {
    struct secrets_rekey *k;
    struct keys_identities *ids;
    enum phase phase;
    atomic_size_t next;
    atomic_size_t done;
};

static void
work_one(struct pool *p, struct secrets_rekey_item *it)
{
    struct m3_diag d;
    int rc;

    m3_diag_clear(&d);
    if (p->phase == PHASE_DECRYPT) {
        if (it->state != SECRETS_ITEM_PLANNED || it->plain.p != NULL)
            return;
        if ((rc = secrets_decrypt_file(it->path, p->ids->v, p->ids->n, &it->plain, &d)) != 0) {
            secrets_buf_free(&it->plain);
            fail(it, "cannot decrypt", rc, &d);
        }
        return;
    }
    if (it->state != SECRETS_ITEM_PLANNED)
        return;
    if (it->rcpts.n == 0 && (rc = secrets_entry_recipients(it->entry, &it->rcpts, &d)) != 0) {
        fail(it, "", rc, &d);
        secrets_buf_free(&it->plain);
        return;
    }
    rc = secrets_encrypt_file(it->path, it->rcpts.v, it->rcpts.n, it->entry->armor, it->plain.p,
                              it->plain.len, &d);
    if (rc != 0)
        fail(it, "cannot write", rc, &d);
    else
        it->state = SECRETS_ITEM_REKEYED;
    secrets_buf_free(&it->plain);
}

static void *
worker(void *arg)
{
    struct pool *p = arg;
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->k->n) {
        work_one(p, &p->k->items[i]);
        atomic_fetch_add(&p->done, 1);
    }
    return NULL;
}

static void
run_phase(struct pool *p, unsigned jobs, const struct secrets_rekey_opts *o, const char *name)
{
    pthread_t th[64];
    unsigned started = 0;
    size_t i;

    atomic_store(&p->next, 0);
    atomic_store(&p->done, 0);
    if (jobs > 64)
        jobs = 64;
    for (unsigned j = 1; j < jobs; j++)
        if (pthread_create(&th[started], NULL, worker, p) == 0)
            started++;
    /* The calling thread works too, and reports progress. */
    while ((i = atomic_fetch_add(&p->next, 1)) < p->k->n) {
        work_one(p, &p->k->items[i]);
        size_t done = atomic_fetch_add(&p->done, 1) + 1;
        if (o->progress != NULL)
            o->progress(o->progress_ctx, name, done, p->k->n);
    }
    for (unsigned j = 0; j < started; j++)
        pthread_join(th[j], NULL);
    if (o->progress != NULL)
        o->progress(o->progress_ctx, name, p->k->n, p->k->n);
}

static int
build_id_keys(struct keys_identities *ids, struct id_key **out)
{
    struct id_key *ik = calloc(ids->n + 1, sizeof(*ik));

    *out = ik;
    if (ik == NULL)
        return M3_ENOMEM;
    for (size_t i = 0; i < ids->n; i++) {
        struct age_recipient *rc = NULL;
        if (keys_identity_ssh_wire(ids->v[i], &ik[i].wire, &ik[i].wire_len) == 0)
            continue;
        ik[i].wire = NULL;
        if (ids->v[i]->ops->recipient != NULL &&
            ids->v[i]->ops->recipient(ids->v[i]->state, &rc) == 0 && rc != NULL) {
            ik[i].age1 = age_recipient_string(rc);
            age_recipient_free(rc);
        }
    }
    return 0;
}

static void
tally(struct secrets_rekey *k)
{
    k->rekeyed = k->up_to_date = k->failed = k->missing = k->planned = k->held = 0;
    for (size_t i = 0; i < k->n; i++) {
        switch (k->items[i].state) {
        case SECRETS_ITEM_MISSING:
            k->missing++;
            break;
        case SECRETS_ITEM_UP_TO_DATE:
            k->up_to_date++;
            break;
        case SECRETS_ITEM_PLANNED:
            k->planned++;
            break;
        case SECRETS_ITEM_REKEYED:
            k->rekeyed++;
            break;
        case SECRETS_ITEM_FAILED:
            k->failed++;
            break;
        case SECRETS_ITEM_HELD:
            k->held++;
            break;
        }
    }
}

static int
clean_dirs(struct secrets_rekey *k)
{
    char **dirs = calloc(k->n + 1, sizeof(*dirs));
    size_t nd = 0;
    int rc = 0;

    if (dirs == NULL)
        return M3_ENOMEM;
    for (size_t i = 0; i < k->n; i++) {
        const char *p = k->items[i].path, *slash = strrchr(p, '/');
        char *dir = slash == p ? strdup("/")
                    : slash    ? strndup(p, (size_t)(slash - p))
                               : strdup(".");
        bool seen = false;
        if (dir == NULL) {
            rc = M3_ENOMEM;
            break;
        }
        for (size_t j = 0; j < nd && !seen; j++)
            seen = strcmp(dirs[j], dir) == 0;
        if (seen) {
            free(dir);
            continue;
        }
        dirs[nd++] = dir;
        k->temps_cleaned += secrets_clean_temps(dir);
    }
    for (size_t j = 0; j < nd; j++)
        free(dirs[j]);
    free(dirs);
    return rc;
}

int
secrets_rekey_run(struct secrets_repo *r, const struct reg_entry *const *es, size_t n,
                  struct keys_identities *ids, const struct secrets_rekey_opts *o,
                  struct secrets_rekey **out, struct m3_diag *d)
{
    struct secrets_rekey *k;
    struct keys_known known = {0};
    struct kcache kc = {0};
    struct id_key *ik = NULL;
    struct pool pool = {0};
    unsigned jobs = o->jobs ? o->jobs : 1;
    int rc = M3_ENOMEM;

    *out = NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    *out = k;
    if (!o->dry_run && (rc = secrets_repo_lock(r, d)) != 0)
        return rc;
    rc = M3_ENOMEM;
    k->n = n ? n : r->reg->nentries;
    if ((k->items = calloc(k->n + 1, sizeof(*k->items))) == NULL)
        goto out;
    for (size_t i = 0; i < k->n; i++) {
        struct secrets_rekey_item *it = &k->items[i];
        it->entry = n ? es[i] : &r->reg->entries[i];
        if ((it->path = secrets_repo_entry_path(r, it->entry)) == NULL)
            goto out;
    }
    /* Leftovers of a killed run, in every folder this run writes to. */
    if (!o->dry_run && clean_dirs(k) != 0)
        goto out;
    for (size_t i = 0; i < r->reg->nkeybinds; i++) {
        const struct reg_keybind *kb = &r->reg->keybinds[i];
        if (!kb->is_list && kb->nvalues == 1 && strncmp(kb->values[0], "ssh-", 4) == 0)
            keys_known_add_recipient(&known, kb->name, kb->values[0], NULL);
    }
    if ((rc = build_id_keys(ids, &ik)) != 0)
        goto out;
    for (size_t i = 0; i < k->n; i++)
        if ((rc = plan_item(r, &known, &kc, ik, ids->n, ids, o, &k->items[i])) != 0)
            goto out;
    tally(k);
    if (o->dry_run || k->planned == 0)
        goto done;
    /* Files that need a passphrase-protected key: here, one prompt per key, in order. */
    pool.k = k;
    pool.ids = ids;
    pool.phase = PHASE_DECRYPT;
    for (size_t i = 0; i < k->n; i++)
        if (k->items[i].locked_first)
            work_one(&pool, &k->items[i]);
    run_phase(&pool, jobs, o, "decrypting");
    tally(k);
    if (k->failed > 0 && !o->partial) {
        for (size_t i = 0; i < k->n; i++)
            if (k->items[i].state == SECRETS_ITEM_PLANNED) {
                k->items[i].state = SECRETS_ITEM_HELD;
                secrets_buf_free(&k->items[i].plain);
            }
        goto done;
    }
    pool.phase = PHASE_ENCRYPT;
    run_phase(&pool, jobs, o, "rekeying");
done:
    tally(k);
    rc = k->failed > 0 ? M3_EPAYLOAD : 0;
out:
    if (rc == M3_ENOMEM)
        m3_diag_set(d, M3_ENOMEM, "out of memory");
    for (size_t i = 0; k->items != NULL && i < k->n; i++)
        secrets_buf_free(&k->items[i].plain);
    for (size_t i = 0; ik != NULL && i < ids->n; i++)
        free(ik[i].age1);
    free(ik);
    keys_known_clear(&known);
    kcache_clear(&kc);
    return rc;
}

void
secrets_rekey_free(struct secrets_rekey *k)
{
    if (k == NULL)
        return;
    for (size_t i = 0; k->items != NULL && i < k->n; i++) {
        struct secrets_rekey_item *it = &k->items[i];
        free(it->path);
        for (size_t j = 0; j < it->nadded; j++)
            free(it->added[j]);
        for (size_t j = 0; j < it->nremoved; j++)
            free(it->removed[j]);
        free(it->added);
        free(it->removed);
        secrets_buf_free(&it->plain);
        keys_recipients_clear(&it->rcpts);
    }
    free(k->items);
    free(k);
}
