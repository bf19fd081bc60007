/* rekey.c: re-encrypt secrets to the registry's recipients: lazily (headers compared with
 * the registry without decrypting, recipients parsed and identities loaded only when a file
 * differs), all or nothing (every file decrypted before any is written), atomic per file
 * (temp + fsync + rename), and in parallel.
 *
 * Crash safety: each file is replaced by rename(2), so after a kill at any moment every file
 * is its old or its new version; a killed run can leave only ".NAME.m3tmp.*" files, which
 * the next run removes before it starts. Durability: each folder is synced once after its
 * last rename and before the run reports any file rekeyed (the temp file itself is synced
 * before its rename, so a rename made durable never names an empty file). */
#include "libage/internal.h"
#include "libage/ssh.h"
#include "secrets/plan.h"
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

/* A secret file's bytes, read whole while its header was read (plan phase). */
struct raw_file {
    unsigned char *p; /* malloc'd, or NULL: the file was larger than the header read */
    size_t len;
};

/* What an identity of this run can open: an SSH wire key or an age1 recipient string. */
struct id_key {
    const unsigned char *wire;
    size_t wire_len;
    char *age1;
    const char *plugin; /* a plugin identity's plugin name */
};

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

/* read_header: the header of an open age file. A binary header is parsed from the first
 * bytes read (no decryptor, whose payload buffers cost more than the whole lazy check);
 * anything else (armor, a header larger than the buffer, an error) goes through
 * age_header_read, which also gives the precise message. */
static int
read_header(int fd, struct age_header **h, struct raw_file *raw, struct m3_diag *d)
{
    static const char magic[] = "age-encryption.org/v1\n";
    unsigned char buf[16384];
    size_t got = 0;
    ssize_t n = -1;

    while (got < sizeof(buf) && (n = read(fd, buf + got, sizeof(buf) - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return m3_diag_set(d, M3_EIO, "%s", strerror(errno));
        got += (size_t)n;
    }
    /* The whole file is in buf (most secrets are a few hundred bytes): keep it, so that
     * decrypting it later does not open it again. Ciphertext: not secret memory. */
    if (n == 0 && (raw->p = malloc(got ? got : 1)) != NULL) {
        memcpy(raw->p, buf, got);
        raw->len = got;
    }
    if (got > sizeof(magic) && memcmp(buf, magic, sizeof(magic) - 1) == 0 &&
        age_header_parse(h, buf, got, NULL, NULL) == 0)
        return 0;
    if (lseek(fd, 0, SEEK_SET) != 0)
        return m3_diag_set(d, M3_EIO, "%s", strerror(errno));
    return age_header_read(h, fd_read, &fd, d);
}

/* note_drift: it->added and it->removed from the drift, by registry name; unattributed
 * stanzas go to it->kept, or to it->removed when forced. */
static int
note_drift(const struct secrets_keyset *ks, struct secrets_rekey_item *it,
           const struct secrets_drift *dr, bool force)
{
    const struct reg_entry *e = it->entry;
    char buf[160];
    int rc;

    for (size_t i = 0; i < dr->nmissing; i++)
        if ((rc = push_name(&it->added, &it->nadded, dr->missing[i]->name)) != 0)
            return rc;
    /* X25519 stanzas carry no tag: only their count can be compared, so no key is named as
     * the one added (that could name the wrong one): the candidates are listed. */
    if (dr->x25519_want > dr->x25519_have) {
        char *t = secrets_x25519_added_text(ks, e, dr->x25519_want - dr->x25519_have);
        rc = t == NULL ? M3_ENOMEM : push_name(&it->added, &it->nadded, t);
        free(t);
        if (rc != 0)
            return rc;
    }
    if (dr->pq_want > dr->pq_have) {
        char *t = secrets_pq_added_text(ks, e, dr->pq_want - dr->pq_have);
        rc = t == NULL ? M3_ENOMEM : push_name(&it->added, &it->nadded, t);
        free(t);
        if (rc != 0)
            return rc;
    }
    for (size_t i = 0; i < dr->nstale; i++)
        if ((rc = push_name(&it->removed, &it->nremoved, dr->stale[i].desc)) != 0)
            return rc;
    if (dr->x25519_have > dr->x25519_want) {
        size_t n = dr->x25519_have - dr->x25519_want;
        snprintf(buf, sizeof(buf),
                 "%zu X25519 recipient%s no longer in the registry (the header cannot tell which)",
                 n, n == 1 ? "" : "s");
        if ((rc = push_name(&it->removed, &it->nremoved, buf)) != 0)
            return rc;
    }
    if (dr->pq_have > dr->pq_want) {
        size_t n = dr->pq_have - dr->pq_want;
        snprintf(buf, sizeof(buf),
                 "%zu post-quantum (mlkem768x25519) recipient%s no longer in the registry (the "
                 "header cannot tell which)",
                 n, n == 1 ? "" : "s");
        if ((rc = push_name(&it->removed, &it->nremoved, buf)) != 0)
            return rc;
    }
    for (size_t i = 0; i < dr->nunattributed; i++) {
        secrets_unattributed_text(&dr->unattributed[i], buf, sizeof(buf));
        if (force)
            strncat(buf, " not attributable to any key", sizeof(buf) - strlen(buf) - 1);
        if ((rc = force ? push_name(&it->removed, &it->nremoved, buf)
                        : push_name(&it->kept, &it->nkept, buf)) != 0)
            return rc;
    }
    return 0;
}

/* bad_key: the index of the first key of e that is not a valid recipient (or, when
 * writing, one m3age cannot encrypt to: a plugin recipient), or -1. */
static long
bad_key(const struct secrets_keyset *ks, const struct reg_entry *e, bool writing)
{
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[i]);
        if (k == NULL || k->kind == SECRETS_KEY_INVALID ||
            (writing && k->kind == SECRETS_KEY_PLUGIN && k->rcpt == NULL))
            return (long)i;
    }
    return -1;
}

static bool
ids_can_open(const struct id_key *ik, size_t nik, const struct secrets_keyset *ks,
             const struct reg_entry *e)
{
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[i]);
        for (size_t j = 0; k != NULL && j < nik; j++) {
            if (k->kind == SECRETS_KEY_SSH && ik[j].wire != NULL && ik[j].wire_len == k->wire_len &&
                memcmp(ik[j].wire, k->wire, k->wire_len) == 0)
                return true;
            if ((k->kind == SECRETS_KEY_X25519 || k->kind == SECRETS_KEY_PQ) &&
                ik[j].age1 != NULL && secrets_keys_equal(ik[j].age1, k->text))
                return true;
            /* Only the plugin knows which of its keys an identity is: the same plugin is
             * taken as able to open it. */
            if (k->kind == SECRETS_KEY_PLUGIN && ik[j].plugin != NULL &&
                strcmp(ik[j].plugin, k->plugin.plugin) == 0)
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

/* plan_item: reads the header and compares it with the registry (no key is needed). The
 * header of a file to rewrite is kept in *hp for check_item. */
static int
plan_item(const struct secrets_repo *r, const struct secrets_keyset *ks,
          const struct secrets_rekey_opts *o, struct secrets_rekey_item *it, struct age_header **hp,
          struct raw_file *raw)
{
    const struct reg_entry *e = it->entry;
    struct age_header *h = NULL;
    struct secrets_drift dr = {0};
    struct m3_diag d;
    int fd, rc;

    m3_diag_clear(&d);
    if ((rc = secrets_repo_open_file(r, it->path, O_RDONLY, &fd, &d)) != 0) {
        if (rc == M3_ENOTFOUND) {
            it->state = SECRETS_ITEM_MISSING;
            return 0;
        }
        fail(it, "", rc, &d);
        return 0;
    }
    rc = read_header(fd, &h, raw, &d);
    close(fd);
    if (rc != 0) {
        fail(it, "", rc, &d);
        rc = 0; /* reported: the run goes on */
        goto out;
    }
    if ((rc = secrets_drift_compute(ks, e, h, &dr)) != 0 ||
        (rc = note_drift(ks, it, &dr, o->force)) != 0)
        goto out;
    if (o->force || h->armored != e->armor || !secrets_drift_none(&dr) ||
        bad_key(ks, e, false) >= 0) {
        it->state = SECRETS_ITEM_PLANNED;
        *hp = h;
        h = NULL;
        /* A stanza no key can be told from may be for a key of the entry (a plugin's): a
         * rewrite would drop it and lock its holder out. */
        if (!o->force && dr.nunattributed > 0) {
            char what[96];
            secrets_unattributed_text(&dr.unattributed[0], what, sizeof(what));
            m3_diag_set(&d, M3_EINVAL,
                        "it would drop %s%s not attributable to any key, which may be for a key "
                        "of its entry (use --force to drop %s)",
                        what, dr.nunattributed > 1 ? " and others" : "",
                        secrets_drift_unattributed(&dr) == 1 ? "it" : "them");
            fail(it, "", M3_EINVAL, &d);
        }
    } else {
        it->state = SECRETS_ITEM_UP_TO_DATE;
    }
out:
    if (it->state != SECRETS_ITEM_PLANNED) { /* only a file to rewrite is decrypted */
        free(raw->p);
        raw->p = NULL;
    }
    secrets_drift_clear(&dr);
    age_header_free(h);
    return rc;
}

/* check_item: whether a planned file may be written (recipients valid, not locked out), and
 * whether it needs a passphrase-protected identity. ks must have been parsed. */
static void
check_item(const struct secrets_keyset *ks, const struct id_key *ik, struct keys_identities *ids,
           const struct secrets_rekey_opts *o, struct secrets_rekey_item *it,
           const struct age_header *h)
{
    const struct reg_entry *e = it->entry;
    struct m3_diag d;
    long bad = bad_key(ks, e, true);
    char names[512];
    size_t first;

    m3_diag_clear(&d);
    for (size_t i = 0; i < ids->n && !it->locked_first; i++) {
        const unsigned char *wire;
        size_t wl;
        if (!keys_identity_is_locked(ids->v[i]) ||
            keys_identity_ssh_wire(ids->v[i], &wire, &wl) != 0)
            continue;
        for (size_t j = 0; j < h->nstanzas && !it->locked_first; j++)
            it->locked_first = age_stanza_matches_key(&h->stanzas[j], wire, wl);
    }
    if (e->nkeys == 0) {
        m3_diag_set(&d, M3_EINVAL, "the registry gives it no recipients");
        fail(it, "refusing to write", M3_EINVAL, &d);
    } else if (bad >= 0) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[bad]);
        m3_diag_set(
            &d, M3_EINVAL, "%s:%u:%u: %s%s%s",
            e->key_spans[bad].file ? e->key_spans[bad].file : "registry", e->key_spans[bad].line,
            e->key_spans[bad].col, k && k->kind == SECRETS_KEY_PLUGIN ? k->name : "",
            k && k->kind == SECRETS_KEY_PLUGIN ? ": " : "", k ? k->error : "not a recipient");
        fail(it, "", M3_EINVAL, &d);
    } else if (secrets_entry_pq_mix(ks, e, &first, names, sizeof(names))) {
        /* libage refuses it too, but can name the keys only by their text */
        m3_diag_set(&d, M3_EINVAL,
                    "post-quantum recipients cannot be mixed with classical ones, which would "
                    "make the file not post-quantum; classical: %s",
                    names);
        fail(it, "refusing to write", M3_EINVAL, &d);
    } else if (!o->allow_lockout && !ids_can_open(ik, ids->n, ks, e)) {
        m3_diag_set(&d, M3_EINVAL,
                    "none of this run's identities could open the new file "
                    "(use --allow-lockout to write it anyway)");
        fail(it, "refusing to write", M3_EINVAL, &d);
    }
}

/* ---- Parallel phases ----------------------------------------------------------------- */

enum phase { PHASE_PLAN, PHASE_DECRYPT, PHASE_ENCRYPT };

struct pool {
    const struct secrets_repo *r;
    struct secrets_rekey *k;
    struct keys_identities *ids;
    const struct secrets_keyset *ks;
    const struct secrets_rekey_opts *o;
    struct age_header **hdrs; /* PHASE_PLAN: the headers of the files to rewrite */
    unsigned char **fkeys;    /* PHASE_ENCRYPT: file keys wrapped ahead by plugins, or NULL */
    struct raw_file *raw;     /* PHASE_PLAN: the whole bytes of small files to rewrite */
    int *dfd;                 /* PHASE_ENCRYPT: each item's folder, opened once per run, or -1 */
    int *dirs;                /* the folders opened (ndirs), closed at the end of the run */
    size_t ndirs;
    enum phase phase;
    atomic_size_t next;
    atomic_size_t done;
};

/* decrypt_item: the planned file's plaintext into it->plain (secret memory), from the bytes
 * the plan phase kept, or from the file (opened again only when it was too large to keep). */
static int
decrypt_item(const struct pool *p, struct secrets_rekey_item *it, const struct raw_file *raw,
             struct m3_diag *d)
{
    struct secrets_mem_rd m = {raw->p, raw->len, 0};
    int rc;

    if (raw->p == NULL)
        return secrets_repo_decrypt(p->r, it->path, p->ids->v, p->ids->n, &it->plain, d);
    if (p->ids->n == 0)
        return m3_diag_set(d, M3_ENOMATCH, "no identity to decrypt with");
    rc = age_decrypt(p->ids->v, p->ids->n, secrets_mem_read, &m, secrets_buf_write, &it->plain, 1,
                     d);
    if (rc == 0 && it->plain.p == NULL)
        rc = secrets_buf_append(&it->plain, "", 0);
    return rc;
}

/* item_rcpts: the entry's recipients, each parsed once per run (the keyset's), without
 * duplicates, into *out (malloc'd). */
static int
item_rcpts(const struct secrets_keyset *ks, const struct secrets_rekey_item *it,
           struct age_recipient ***out, size_t *nout, struct m3_diag *d)
{
    const struct reg_entry *e = it->entry;
    struct age_recipient **rv = calloc(e->nkeys + 1, sizeof(*rv));
    size_t n = 0;

    *out = NULL;
    if (rv == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[i]);
        bool dup = false;
        if (k == NULL || k->rcpt == NULL) {
            free(rv);
            return m3_diag_set(d, M3_EINVAL, "%s: not a recipient", e->keys[i]);
        }
        for (size_t j = 0; j < n && !dup; j++)
            dup = rv[j] == k->rcpt;
        if (!dup)
            rv[n++] = k->rcpt;
    }
    *out = rv;
    *nout = n;
    return 0;
}

/* encrypt_one: with the file key wrapped ahead (plugin recipients) or a fresh one, into the
 * item's folder opened once per run (dfd) or, when -1, opened for this file; the folder is
 * synced once per batch by the caller. */
static int
encrypt_one(const struct secrets_repo *r, const struct secrets_keyset *ks,
            struct secrets_rekey_item *it, int dfd, const unsigned char *file_key,
            struct m3_diag *d)
{
    struct age_recipient **rv;
    size_t n;
    int rc;

    if ((rc = item_rcpts(ks, it, &rv, &n, d)) != 0)
        return rc;
    if (dfd >= 0)
        rc = secrets_repo_encrypt_at(dfd, strrchr(it->path, '/') + 1, it->path, rv, n,
                                     it->entry->armor, it->plain.p, it->plain.len, false, file_key,
                                     d);
    else
        rc = secrets_repo_encrypt_key(r, it->path, rv, n, it->entry->armor, it->plain.p,
                                      it->plain.len, false, file_key, d);
    free(rv);
    return rc;
}

static void
work_one(struct pool *p, struct secrets_rekey_item *it)
{
    struct m3_diag d;
    int rc;

    m3_diag_clear(&d);
    if (p->phase == PHASE_PLAN) {
        if (plan_item(p->r, p->ks, p->o, it, &p->hdrs[it - p->k->items],
                      &p->raw[it - p->k->items]) != 0) {
            m3_diag_set(&d, M3_ENOMEM, "out of memory");
            fail(it, "", M3_ENOMEM, &d);
        }
        return;
    }
    if (p->phase == PHASE_DECRYPT) {
        if (it->state != SECRETS_ITEM_PLANNED || it->plain.p != NULL)
            return;
        rc = decrypt_item(p, it, &p->raw[it - p->k->items], &d);
        free(p->raw[it - p->k->items].p);
        p->raw[it - p->k->items].p = NULL;
        if (rc != 0) {
            secrets_buf_free(&it->plain);
            fail(it, "cannot decrypt", rc, &d);
        }
        return;
    }
    if (it->state != SECRETS_ITEM_PLANNED)
        return;
    if ((rc = encrypt_one(p->r, p->ks, it, p->dfd[it - p->k->items],
                          p->fkeys ? p->fkeys[it - p->k->items] : NULL, &d)) != 0)
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
        if (o->progress != NULL && name != NULL)
            o->progress(o->progress_ctx, name, done, p->k->n);
    }
    for (unsigned j = 0; j < started; j++)
        pthread_join(th[j], NULL);
    if (o->progress != NULL && name != NULL)
        o->progress(o->progress_ctx, name, p->k->n, p->k->n);
}

/* wrap_ahead: when files go to plugin recipients, their file keys are made now and wrapped in
 * one session per plugin for all files (one start, one PIN), before any file is written: a
 * plugin that fails stops the run with every file as it was. */
static int
wrap_ahead(struct pool *p, struct m3_diag *d)
{
    struct secrets_rekey *k = p->k;
    struct age_recipient ***rvs = calloc(k->n + 1, sizeof(*rvs));
    size_t *nr = calloc(k->n + 1, sizeof(*nr)), nf = 0;
    const unsigned char **keys = calloc(k->n + 1, sizeof(*keys));
    bool any = false;
    int rc = M3_ENOMEM;

    if (rvs == NULL || nr == NULL || keys == NULL)
        goto out;
    for (size_t i = 0; i < k->n && !any; i++) {
        const struct reg_entry *e = k->items[i].entry;
        for (size_t j = 0; k->items[i].state == SECRETS_ITEM_PLANNED && j < e->nkeys; j++) {
            const struct secrets_key *sk = secrets_keyset_find(p->ks, e->keys[j]);
            any = any || (sk != NULL && sk->kind == SECRETS_KEY_PLUGIN && !sk->native);
        }
    }
    rc = 0;
    if (!any)
        goto out;
    rc = M3_ENOMEM;
    if ((p->fkeys = calloc(k->n + 1, sizeof(*p->fkeys))) == NULL)
        goto out;
    for (size_t i = 0; i < k->n; i++) {
        if (k->items[i].state != SECRETS_ITEM_PLANNED)
            continue;
        if ((rc = item_rcpts(p->ks, &k->items[i], &rvs[nf], &nr[nf], d)) != 0)
            goto out;
        rc = M3_ENOMEM;
        if ((p->fkeys[i] = age_secret_alloc(AGE_FILE_KEY_SIZE)) == NULL)
            goto out;
        randombytes_buf(p->fkeys[i], AGE_FILE_KEY_SIZE);
        keys[nf++] = p->fkeys[i];
    }
    rc = keys_plugin_wrap_prefetch((struct age_recipient *const *const *)rvs, nr, keys, nf, d);
out:
    for (size_t i = 0; rvs != NULL && i < nf; i++)
        free(rvs[i]);
    free(rvs);
    free(nr);
    free(keys);
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
    return rc;
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
        if ((ik[i].plugin = keys_identity_plugin_name(ids->v[i])) != NULL)
            continue;
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

enum dir_op { DIR_CLEAN, DIR_SYNC };

/* open_dirs: opens the folder of each planned file once (beneath the root, as
 * secrets_repo_encrypt does) and gives it to every planned file in it, so that writing 500
 * files in one folder opens it once, not 500 times. A file whose name is not a plain last
 * component of its path, or whose folder cannot be opened here, keeps -1: it is written by
 * secrets_repo_encrypt, which reports what is wrong with it. */
static void
open_dirs(const struct secrets_repo *r, struct pool *p)
{
    struct secrets_rekey *k = p->k;

    for (size_t i = 0; i < k->n; i++) {
        const char *path = k->items[i].path, *slash = strrchr(path, '/');
        char *base = NULL;
        struct m3_diag d;
        int fd;
        if (k->items[i].state != SECRETS_ITEM_PLANNED || p->dfd[i] >= 0 || slash == NULL ||
            slash == path || strcmp(slash + 1, ".") == 0 || strcmp(slash + 1, "..") == 0 ||
            slash[1] == '\0')
            continue;
        m3_diag_clear(&d);
        if (secrets_repo_open_dir(r, path, &fd, &base, &d) != 0)
            continue;
        if (strcmp(base, slash + 1) != 0) {
            close(fd);
            free(base);
            continue;
        }
        free(base);
        p->dirs[p->ndirs++] = fd;
        /* every later planned file whose path has the same folder part */
        for (size_t j = i; j < k->n; j++) {
            const char *q = k->items[j].path, *qs = strrchr(q, '/');
            if (k->items[j].state == SECRETS_ITEM_PLANNED && p->dfd[j] < 0 && qs != NULL &&
                qs - q == slash - path && memcmp(q, path, (size_t)(slash - path)) == 0 &&
                qs[1] != '\0' && strcmp(qs + 1, ".") != 0 && strcmp(qs + 1, "..") != 0)
                p->dfd[j] = fd;
        }
    }
}

/* for_each_dir: cleans (before the run) or syncs (after its renames) each folder the items
 * are in, once. Syncing one folder after all its renames is what one sync per file would
 * give when the batch completes, and no file is reported rekeyed before it: a crash before
 * it leaves each file its old or its new version, as rename(2) alone guarantees. */
static int
for_each_dir(const struct secrets_repo *r, struct secrets_rekey *k, enum dir_op op,
             struct m3_diag *d)
{
    char **dirs = calloc(k->n + 1, sizeof(*dirs));
    size_t nd = 0;
    int rc = 0;

    if (dirs == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    for (size_t i = 0; i < k->n && rc == 0; i++) {
        const char *p = k->items[i].path, *slash = strrchr(p, '/');
        char *dir;
        bool seen = false;
        if (op == DIR_SYNC && k->items[i].state != SECRETS_ITEM_REKEYED)
            continue;
        dir = slash == p ? strdup("/") : slash ? strndup(p, (size_t)(slash - p)) : strdup(".");
        if (dir == NULL) {
            rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
            break;
        }
        for (size_t j = 0; j < nd && !seen; j++)
            seen = strcmp(dirs[j], dir) == 0;
        if (seen) {
            free(dir);
            continue;
        }
        dirs[nd++] = dir;
        if (op == DIR_CLEAN)
            k->temps_cleaned += secrets_repo_clean_temps(r, p);
        else
            rc = secrets_repo_sync_dir(r, p, d);
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
    struct secrets_keyset ks = {0};
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
    if ((k->items = calloc(k->n + 1, sizeof(*k->items))) == NULL ||
        (pool.hdrs = calloc(k->n + 1, sizeof(*pool.hdrs))) == NULL ||
        (pool.raw = calloc(k->n + 1, sizeof(*pool.raw))) == NULL ||
        (pool.dfd = malloc((k->n + 1) * sizeof(*pool.dfd))) == NULL ||
        (pool.dirs = calloc(k->n + 1, sizeof(*pool.dirs))) == NULL)
        goto out;
    for (size_t i = 0; i < k->n; i++) {
        struct secrets_rekey_item *it = &k->items[i];
        it->entry = n ? es[i] : &r->reg->entries[i];
        if ((it->path = secrets_repo_entry_path(r, it->entry)) == NULL)
            goto out;
    }
    /* Leftovers of a killed run, in every folder this run writes to. */
    if (!o->dry_run && (rc = for_each_dir(r, k, DIR_CLEAN, d)) != 0)
        goto out;
    /* What differs needs no key and no recipient: an up-to-date repository costs the
     * headers only. */
    if ((rc = secrets_keyset_build_light(&ks, r->reg)) != 0)
        goto out;
    pool.r = r;
    pool.k = k;
    pool.ids = ids;
    pool.ks = &ks;
    pool.o = o;
    pool.phase = PHASE_PLAN;
    run_phase(&pool, k->n >= 64 ? jobs : 1, o, NULL);
    tally(k);
    if (k->planned == 0)
        goto done;
    if (o->load_ids != NULL && (rc = o->load_ids(o->load_ids_ctx, ids, d)) != 0)
        goto out;
    secrets_keyset_parse(&ks);
    if ((rc = build_id_keys(ids, &ik)) != 0)
        goto out;
    for (size_t i = 0; i < k->n; i++)
        if (k->items[i].state == SECRETS_ITEM_PLANNED)
            check_item(&ks, ik, ids, o, &k->items[i], pool.hdrs[i]);
    tally(k);
    if (o->dry_run || k->planned == 0)
        goto done;
    /* Plugin identities: one session per plugin for all files (one PIN, one touch). */
    {
        const struct age_header **hv = calloc(k->n + 1, sizeof(*hv));
        size_t nh = 0;
        if (hv == NULL)
            goto out;
        for (size_t i = 0; i < k->n; i++)
            if (k->items[i].state == SECRETS_ITEM_PLANNED && pool.hdrs[i] != NULL)
                hv[nh++] = pool.hdrs[i];
        rc = keys_plugin_prefetch(ids->v, ids->n, hv, nh, d);
        free(hv);
        if (rc != 0)
            goto out;
    }
    /* Files that need a passphrase-protected key: here, one prompt per key, in order. */
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
    if ((rc = wrap_ahead(&pool, d)) != 0)
        goto out;
    for (size_t i = 0; i < k->n; i++)
        pool.dfd[i] = -1;
    open_dirs(r, &pool);
    pool.phase = PHASE_ENCRYPT;
    run_phase(&pool, jobs, o, "rekeying");
    if ((rc = for_each_dir(r, k, DIR_SYNC, d)) != 0)
        goto out;
done:
    tally(k);
    rc = k->failed > 0 ? M3_EPAYLOAD : 0;
out:
    if (rc == M3_ENOMEM)
        m3_diag_set(d, M3_ENOMEM, "out of memory");
    for (size_t i = 0; k->items != NULL && i < k->n; i++)
        secrets_buf_free(&k->items[i].plain);
    for (size_t i = 0; pool.hdrs != NULL && i < k->n; i++)
        age_header_free(pool.hdrs[i]);
    free(pool.hdrs);
    for (size_t i = 0; pool.fkeys != NULL && i < k->n; i++)
        age_secret_free(pool.fkeys[i]);
    free(pool.fkeys);
    for (size_t i = 0; pool.raw != NULL && i < k->n; i++)
        free(pool.raw[i].p);
    free(pool.raw);
    for (size_t i = 0; i < pool.ndirs; i++)
        close(pool.dirs[i]);
    free(pool.dirs);
    free(pool.dfd);
    for (size_t i = 0; ik != NULL && i < ids->n; i++)
        free(ik[i].age1);
    free(ik);
    secrets_keyset_clear(&ks);
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
        for (size_t j = 0; j < it->nkept; j++)
            free(it->kept[j]);
        free(it->added);
        free(it->removed);
        free(it->kept);
        secrets_buf_free(&it->plain);
    }
    free(k->items);
    free(k);
}
