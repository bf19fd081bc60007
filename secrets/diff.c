/* diff.c: the recipient plan, in-memory decryption of git blobs and plaintext diffs (see
 * diff.h). */
#include "secrets/diff.h"
#include "libage/internal.h"
#include "registry/registry.h"
#include "secrets/audit.h"
#include "secrets/interrupt.h"
#include "secrets/plan.h"
#include "secrets/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CAPTURE (256u << 20)

static char **
names_of(const struct secrets_key *const *keys, size_t n)
{
    char **v = calloc(n + 1, sizeof(*v));
    for (size_t i = 0; v != NULL && i < n; i++)
        if ((v[i] = strdup(keys[i]->name)) == NULL)
            return v; /* partial: freed by the caller's item free */
    return v;
}

/* A registry's place: its folder and the root its secret files are opened beneath. */
struct place {
    char *dir;  /* the registry's folder, absolute */
    char *root; /* reg_trust_root of dir */
    int root_fd;
};

static int
plan_item(const struct secrets_keyset *ks, const struct reg_entry *e, const struct place *pl,
          struct secrets_plan_item *it)
{
    struct age_header *h = NULL;
    struct secrets_drift dr = {0};
    struct m3_diag d = {0};
    unsigned char *buf = NULL;
    char *rel = NULL;
    size_t len = 0;
    int rc, fd;

    if ((it->file = strdup(e->name)) == NULL)
        return M3_ENOMEM;
    /* as edit and rekey reach it: inside the root, never through a link */
    if ((rc = reg_check_name(pl->root, pl->dir, e, &rel, &d)) != 0) {
        it->state = SECRETS_PLAN_BROKEN;
        it->error = strdup(d.msg);
        return rc == M3_ENOMEM ? rc : 0;
    }
    fd = secrets_openat_beneath(pl->root_fd, rel, O_RDONLY | O_NONBLOCK, 0);
    free(rel);
    if (fd == -ELOOP || fd == -EXDEV) {
        it->state = SECRETS_PLAN_BROKEN;
        it->error = strdup("a symbolic link (refused: a secret is read and written only inside "
                           "the repository, never through a link)");
        return 0;
    }
    if ((rc = fd < 0 ? (errno = -fd, fd == -ENOENT ? M3_ENOTFOUND : M3_EIO)
                     : secrets_slurp_fd(fd, &buf, &len)) != 0) {
        it->state = rc == M3_ENOTFOUND ? SECRETS_PLAN_MISSING : SECRETS_PLAN_BROKEN;
        it->error = strdup(strerror(errno));
        return 0;
    }
    rc = secrets_header_from_buf(buf, len, &h, &d);
    free(buf);
    if (rc != 0) {
        it->state = SECRETS_PLAN_BROKEN;
        it->error = strdup(d.msg[0] ? d.msg : m3_strerror(rc));
        return 0;
    }
    if ((rc = secrets_drift_compute(ks, e, h, &dr)) != 0)
        goto out;
    it->x25519_want = dr.x25519_want;
    it->x25519_have = dr.x25519_have;
    it->pq_want = dr.pq_want;
    it->pq_have = dr.pq_have;
    it->state = secrets_drift_none(&dr) ? SECRETS_PLAN_SAME : SECRETS_PLAN_CHANGE;
    it->add = names_of(dr.missing, dr.nmissing);
    it->nadd = dr.nmissing;
    it->remove = calloc(dr.nstale + 1, sizeof(char *));
    for (size_t i = 0; it->remove != NULL && i < dr.nstale; i++)
        it->remove[i] = strdup(dr.stale[i].desc);
    it->nremove = dr.nstale;
    it->unattributed = calloc(dr.nunattributed + 1, sizeof(char *));
    for (size_t i = 0; it->unattributed != NULL && i < dr.nunattributed; i++) {
        char what[96];
        secrets_unattributed_text(&dr.unattributed[i], what, sizeof(what));
        if ((it->unattributed[i] = strdup(what)) == NULL)
            rc = M3_ENOMEM;
        it->nunattributed++;
    }
    if (dr.x25519_want > dr.x25519_have && (it->x25519_added = secrets_x25519_added_text(
                                                ks, e, dr.x25519_want - dr.x25519_have)) == NULL)
        rc = M3_ENOMEM;
    if (dr.pq_want > dr.pq_have &&
        (it->pq_added = secrets_pq_added_text(ks, e, dr.pq_want - dr.pq_have)) == NULL)
        rc = M3_ENOMEM;
    if (it->add == NULL || it->remove == NULL || it->unattributed == NULL)
        rc = M3_ENOMEM;
    for (size_t i = 0; rc == 0 && i < it->nadd; i++)
        if (it->add[i] == NULL)
            rc = M3_ENOMEM;
    for (size_t i = 0; rc == 0 && i < it->nremove; i++)
        if (it->remove[i] == NULL)
            rc = M3_ENOMEM;
out:
    secrets_drift_clear(&dr);
    age_header_free(h);
    return rc;
}

int
secrets_plan_build(const char *registry, struct secrets_plan **out, struct m3_diag *d)
{
    struct reg_registry *reg = NULL;
    struct secrets_keyset ks = {0};
    struct secrets_plan *p = calloc(1, sizeof(*p));
    struct place pl = {.root_fd = -1};
    int rc;

    *out = NULL;
    if (p == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    if ((rc = reg_load_path(registry, NULL, &reg, d)) != 0 ||
        (rc = reg_layout_entries(registry, reg, d)) != 0 ||
        (rc = reg_file_dir(registry, &pl.dir, d)) != 0 ||
        (rc = reg_trust_root(pl.dir, &pl.root, d)) != 0)
        goto out;
    if ((pl.root_fd = open(pl.root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", pl.root, strerror(errno));
        goto out;
    }
    if ((rc = secrets_keyset_build(&ks, reg)) != 0 ||
        (p->v = calloc(reg->nentries + 1, sizeof(*p->v))) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < reg->nentries && rc == 0; i++) {
        rc = plan_item(&ks, &reg->entries[i], &pl, &p->v[i]);
        p->n++;
        if (p->v[i].state == SECRETS_PLAN_CHANGE)
            p->nchange++;
    }
out:
    secrets_keyset_clear(&ks);
    reg_registry_free(reg);
    if (pl.root_fd >= 0)
        close(pl.root_fd);
    free(pl.root);
    free(pl.dir);
    if (rc != 0)
        secrets_plan_free(p);
    else
        *out = p;
    return rc;
}

void
secrets_plan_free(struct secrets_plan *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->n; i++) {
        struct secrets_plan_item *it = &p->v[i];
        for (size_t j = 0; it->add && j < it->nadd; j++)
            free(it->add[j]);
        for (size_t j = 0; it->remove && j < it->nremove; j++)
            free(it->remove[j]);
        for (size_t j = 0; it->unattributed && j < it->nunattributed; j++)
            free(it->unattributed[j]);
        free(it->add);
        free(it->remove);
        free(it->unattributed);
        free(it->x25519_added);
        free(it->pq_added);
        free(it->file);
        free(it->error);
    }
    free(p->v);
    free(p);
}

/* ---- decryption into secret memory ---------------------------------------------------- */

struct sbuf {
    unsigned char *p;
    size_t len, cap;
};

/* sbuf_write: appends to a secret buffer, moving to a larger one (old one wiped) as needed. */
static int
sbuf_write(void *ctx, const void *buf, size_t len)
{
    struct sbuf *b = ctx;

    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + len + 1)
            cap *= 2;
        unsigned char *np = age_secret_alloc(cap);
        if (np == NULL) {
            errno = ENOMEM;
            return -1;
        }
        if (b->len)
            memcpy(np, b->p, b->len);
        age_secret_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    memcpy(b->p + b->len, buf, len);
    b->len += len;
    return 0;
}

int
secrets_decrypt_mem(const unsigned char *ct, size_t len, struct age_identity *const *ids,
                    size_t nids, unsigned char **pt, size_t *pt_len, struct m3_diag *d)
{
    struct secrets_mem_rd m = {ct, len, 0};
    struct sbuf b = {0};
    int rc;

    *pt = NULL;
    *pt_len = 0;
    if ((rc = age_decrypt(ids, nids, secrets_mem_read, &m, sbuf_write, &b, 1, d)) != 0) {
        age_secret_free(b.p);
        return rc;
    }
    if (b.p == NULL && (b.p = age_secret_alloc(1)) == NULL)
        return M3_ENOMEM;
    *pt = b.p;
    *pt_len = b.len;
    return 0;
}

/* ---- running programs ----------------------------------------------------------------- */

int
secrets_run_capture(const char *const *argv, bool quiet, char **out, size_t *len, int *status,
                    struct m3_diag *d)
{
    int pfd[2], st;
    pid_t pid;
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (out != NULL)
        *out = NULL;
    char **envp = secrets_child_environ();

    if (envp == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        free(envp);
        return m3_diag_set(d, M3_EIO, "pipe: %s", strerror(errno));
    }
    if ((pid = fork()) < 0) {
        free(envp);
        close(pfd[0]);
        close(pfd[1]);
        return m3_diag_set(d, M3_EIO, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(pfd[1], 1);
        if (quiet)
            dup2(null, 2);
        execvpe(argv[0], (char *const *)argv, envp);
        _exit(127);
    }
    free(envp);
    close(pfd[1]);
    /* an interrupted operation stops the program rather than wait for it (interrupt.h) */
    secrets_interrupt_child(pid);
    if (secrets_interrupted())
        kill(pid, SIGTERM);
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? cap * 2 : 65536 * 2;
            char *nb = cap <= MAX_CAPTURE ? realloc(buf, cap) : NULL;
            if (nb == NULL) {
                free(buf);
                close(pfd[0]);
                kill(pid, SIGTERM);
                waitpid(pid, NULL, 0);
                secrets_interrupt_child(0);
                return m3_diag_set(d, M3_EIO, "%s: output too large", argv[0]);
            }
            buf = nb;
        }
        ssize_t r = read(pfd[0], buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(pfd[0]);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    secrets_interrupt_child(0);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (*status == 127) {
        free(buf);
        return m3_diag_set(d, M3_EIO, "cannot run '%s'", argv[0]);
    }
    buf[n] = '\0';
    if (out != NULL) {
        *out = buf;
        if (len != NULL)
            *len = n;
    } else {
        free(buf);
    }
    return 0;
}

int
secrets_git_blob(const char *rev, const char *path, unsigned char **out, size_t *len, bool *found,
                 struct m3_diag *d)
{
    char spec[PATH_MAX + 256], *o = NULL;
    size_t n = 0;
    int st, rc;

    *out = NULL;
    *len = 0;
    *found = false;
    /* does the revision exist at all? (else a typo would read as "file absent") */
    if (rev[0] != '\0') {
        snprintf(spec, sizeof(spec), "%s^{commit}", rev);
        const char *argv[] = {"git", "rev-parse", "--verify", "--quiet", spec, NULL};
        if ((rc = secrets_run_capture(argv, true, NULL, NULL, &st, d)) != 0)
            return rc;
        if (st != 0)
            return m3_diag_set(d, M3_ENOTFOUND, "'%s' is not a git revision here", rev);
    }
    snprintf(spec, sizeof(spec), "%s:./%s", rev, path);
    const char *argv[] = {"git", "cat-file", "-e", spec, NULL};
    if ((rc = secrets_run_capture(argv, true, NULL, NULL, &st, d)) != 0)
        return rc;
    if (st != 0)
        return 0;
    const char *argv2[] = {"git", "cat-file", "blob", spec, NULL};
    if ((rc = secrets_run_capture(argv2, false, &o, &n, &st, d)) != 0)
        return rc;
    if (st != 0) {
        free(o);
        return m3_diag_set(d, M3_EIO, "git cat-file blob %s failed", spec);
    }
    *out = (unsigned char *)o;
    *len = n;
    *found = true;
    return 0;
}

/* memfd_with: an anonymous in-memory file holding buf, without close-on-exec so a child
 * can open it as /proc/self/fd/N. */
static int
memfd_with(const char *name, const unsigned char *buf, size_t len)
{
    int fd = memfd_create(name, 0);
    size_t off = 0;

    if (fd < 0)
        return -1;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)w;
    }
    return fd;
}

static void
memfd_wipe(int fd)
{
    if (fd >= 0) {
        (void)!ftruncate(fd, 0); /* frees the pages of the plaintext */
        close(fd);
    }
}

int
secrets_unified_diff(const unsigned char *a, size_t alen, const char *label_a,
                     const unsigned char *b, size_t blen, const char *label_b, bool color,
                     int out_fd, struct m3_diag *d)
{
    int fa = memfd_with("m3age-diff-a", a, alen), fb = memfd_with("m3age-diff-b", b, blen);
    char pa[64], pb[64], **envp = NULL;
    pid_t pid;
    int st, rc;

    if (fa < 0 || fb < 0) {
        rc = m3_diag_set(d, M3_EIO, "memfd_create: %s", strerror(errno));
        goto out;
    }
    snprintf(pa, sizeof(pa), "/proc/self/fd/%d", fa);
    snprintf(pb, sizeof(pb), "/proc/self/fd/%d", fb);
    if ((envp = secrets_child_environ()) == NULL) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    if ((pid = fork()) < 0) {
        rc = m3_diag_set(d, M3_EIO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        const char *argv[] = {"diff",    "-u",    color ? "--color=always" : "--color=never",
                              "--label", label_a, "--label",
                              label_b,   pa,      pb,
                              NULL};
        if (out_fd != 1)
            dup2(out_fd, 1);
        execvpe("diff", (char *const *)argv, envp);
        _exit(127);
    }
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    st = WIFEXITED(st) ? WEXITSTATUS(st) : 2;
    if (st == 0 || st == 1)
        rc = st;
    else
        rc = m3_diag_set(d, M3_EIO, "diff -u failed (status %d)", st);
out:
    free(envp);
    memfd_wipe(fa);
    memfd_wipe(fb);
    return rc;
}
