/* repo.c: the repository: registry, secret paths, identities, and whole-file encrypt and
 * decrypt with atomic replacement. */
#include "secrets/repo.h"
#include "secrets/plan.h"
#include "libage/internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
/* valgrind 3.19 (Debian 12's) does not know openat2: under it every process would print a
 * five-line warning on its first secret before falling back to the walk below, and `make
 * valgrind` compares stderr. The client request is a no-op sequence of instructions when
 * not under valgrind; without the header (a build machine without valgrind) it is 0. */
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define M3_UNDER_VALGRIND() (RUNNING_ON_VALGRIND != 0)
#endif
#endif
#ifndef M3_UNDER_VALGRIND
#define M3_UNDER_VALGRIND() 0
#endif

static char *
dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int
secrets_repo_open(struct secrets_repo **out, const char *rules_opt, const char *rules_env,
                  struct m3_diag *d)
{
    struct secrets_repo *r;
    char cwd[PATH_MAX], real[PATH_MAX];
    char *dir = NULL;
    int rc = M3_ENOMEM;

    *out = NULL;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    r->lock_fd = -1;
    r->root_fd = -1;
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "cannot read the working directory: %s", strerror(errno));
        goto out;
    }
    if ((r->cwd = strdup(cwd)) == NULL)
        goto out;
    if ((rc = reg_locate(rules_opt, rules_env, cwd, &r->rules, &r->how, d)) != 0)
        goto out;
    if ((rc = reg_load_path(r->rules, &r->file, &r->reg, d)) != 0 ||
        (rc = reg_layout_entries(r->rules, r->reg, d)) != 0)
        goto out;
    rc = M3_ENOMEM;
    if ((dir = dir_of(r->rules)) == NULL)
        goto out;
    if (realpath(dir, real) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    if ((r->dir = strdup(real)) == NULL)
        goto out;
    if ((rc = reg_trust_root(r->dir, &r->root, d)) != 0)
        goto out;
    if ((r->root_fd = open(r->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", r->root, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    free(dir);
    if (rc != 0)
        secrets_repo_free(r);
    else
        *out = r;
    return rc;
}

void
secrets_repo_free(struct secrets_repo *r)
{
    if (r == NULL)
        return;
    if (r->lock_fd >= 0)
        close(r->lock_fd);
    if (r->root_fd >= 0)
        close(r->root_fd);
    free(r->root);
    reg_registry_free(r->reg);
    reg_file_free(r->file);
    free(r->rules);
    free(r->dir);
    free(r->cwd);
    free(r);
}

int
secrets_repo_lock(struct secrets_repo *r, struct m3_diag *d)
{
    if (r->lock_fd >= 0)
        return 0;
    /* The registry's folder is the lock: no extra file appears in the user's repository, and
     * unlike the registry file it is not replaced when secrets.nix is rewritten. */
    if ((r->lock_fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", r->dir, strerror(errno));
    if (flock(r->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(r->lock_fd);
        r->lock_fd = -1;
        if (e == EWOULDBLOCK)
            return m3_diag_set(d, M3_ESTATE, "%s: another m3age run is changing this repository",
                               r->rules);
        return m3_diag_set(d, M3_EIO, "%s: cannot lock: %s", r->rules, strerror(e));
    }
    return 0;
}

/* secrets_openat_walk: openat2's RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS for kernels without it
 * (before 5.6): rel (no "." or "..", from reg_path_within) one name at a time, each folder
 * opened O_NOFOLLOW | O_DIRECTORY, the last name O_NOFOLLOW. A link anywhere: ELOOP. */
int
secrets_openat_walk(int root_fd, const char *rel, int flags, mode_t mode)
{
    char *copy = strdup(rel), *save = NULL, *name, *next;
    int dfd = root_fd, fd = -1, e = 0;

    if (copy == NULL)
        return -ENOMEM;
    name = strtok_r(copy, "/", &save);
    while (name != NULL && e == 0) {
        next = strtok_r(NULL, "/", &save);
        if (next == NULL) {
            struct stat st;
            if ((fd = openat(dfd, name, flags | O_NOFOLLOW | O_CLOEXEC, mode)) < 0)
                e = errno == ENOTDIR && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode)
                        ? ELOOP
                        : errno;
        } else {
            int nd = openat(dfd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            struct stat st;
            if (nd < 0)
                e = errno == ENOTDIR && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
                            S_ISLNK(st.st_mode)
                        ? ELOOP
                        : errno;
            if (dfd != root_fd)
                close(dfd);
            dfd = nd;
        }
        name = next;
    }
    if (dfd != root_fd && dfd >= 0)
        close(dfd);
    free(copy);
    return e != 0 ? -e : fd;
}

int
secrets_openat_beneath(int root_fd, const char *rel, int flags, mode_t mode)
{
    struct open_how how = {
        .flags = (unsigned long long)(flags | O_CLOEXEC | O_NOFOLLOW),
        .mode = (flags & O_CREAT) ? mode : 0,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };
    static atomic_int have_openat2 = 1; /* rekey opens from several threads */
    long fd;

    if (have_openat2 && M3_UNDER_VALGRIND())
        have_openat2 = 0; /* the walk, as on kernels before 5.6 (see the includes) */
    if (have_openat2) {
        struct stat st;
        fd = syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        /* O_DIRECTORY on a link says ENOTDIR before RESOLVE_NO_SYMLINKS says ELOOP */
        if (errno == ENOTDIR && fstatat(root_fd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            return -ELOOP;
        if (errno != ENOSYS && errno != EPERM) /* EPERM: a seccomp filter that blocks it */
            return -errno;
        have_openat2 = 0;
    }
    return secrets_openat_walk(root_fd, rel, flags, mode);
}

/* open_error: why a secret file could not be opened (e: an errno); the caller names the
 * file, as for every message of these functions. */
static int
open_error(int e, struct m3_diag *d)
{
    if (e == ELOOP || e == EXDEV)
        return m3_diag_set(d, M3_EINVAL,
                           "a symbolic link (refused: a secret is read and written only inside "
                           "the repository, never through a link)");
    return m3_diag_set(d,
                       e == ENOENT   ? M3_ENOTFOUND
                       : e == ENOMEM ? M3_ENOMEM
                                     : M3_EIO,
                       "%s", strerror(e));
}

int
secrets_repo_open_file(const struct secrets_repo *r, const char *path, int flags, int *fd,
                       struct m3_diag *d)
{
    char *rel = NULL;
    struct stat st;
    int rc, f;

    *fd = -1;
    if ((rc = reg_path_within(r->root, r->cwd, path, &rel, d)) != 0)
        return rc;
    /* O_NONBLOCK: a named pipe in place of a secret must not hang the run (openat2 refuses
     * any flag beside O_PATH but O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW) */
    f = secrets_openat_beneath(r->root_fd, rel, flags | ((flags & O_PATH) ? 0 : O_NONBLOCK), 0);
    free(rel);
    if (f < 0)
        return open_error(-f, d);
    if ((flags & O_PATH) == 0 && (fstat(f, &st) != 0 || !S_ISREG(st.st_mode))) {
        close(f);
        return m3_diag_set(d, M3_EINVAL, "not a regular file");
    }
    if ((flags & O_PATH) == 0 && (flags & O_NONBLOCK) == 0)
        fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK);
    *fd = f;
    return 0;
}

int
secrets_repo_stat(const struct secrets_repo *r, const char *path, struct stat *st,
                  struct m3_diag *d)
{
    int fd, rc;

    if ((rc = secrets_repo_open_file(r, path, O_PATH, &fd, d)) != 0)
        return rc;
    rc = fstat(fd, st) != 0 ? m3_diag_set(d, M3_EIO, "%s", strerror(errno)) : 0;
    if (rc == 0 && S_ISLNK(st->st_mode)) /* the O_NOFOLLOW walk opens a final link itself */
        rc = open_error(ELOOP, d);
    else if (rc == 0 && !S_ISREG(st->st_mode))
        rc = m3_diag_set(d, M3_EINVAL, "not a regular file");
    close(fd);
    return rc;
}

/* open_parent: the folder of path (confined as secrets_repo_open_file), opened for renames
 * into it and fsync; *base (malloc'd) is the file's name in it. */
static int
open_parent(const struct secrets_repo *r, const char *path, int *dfd, char **base,
            struct m3_diag *d)
{
    char *rel = NULL, *slash;
    int rc, f;

    *dfd = -1;
    *base = NULL;
    if ((rc = reg_path_within(r->root, r->cwd, path, &rel, d)) != 0)
        return rc;
    slash = strrchr(rel, '/');
    if ((*base = strdup(slash ? slash + 1 : rel)) == NULL) {
        free(rel);
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    if (slash == NULL) {
        f = secrets_openat_beneath(r->root_fd, ".", O_RDONLY | O_DIRECTORY, 0);
    } else {
        *slash = '\0';
        f = secrets_openat_beneath(r->root_fd, rel, O_RDONLY | O_DIRECTORY, 0);
    }
    free(rel);
    if (f < 0) {
        free(*base);
        *base = NULL;
        return open_error(-f, d);
    }
    *dfd = f;
    return 0;
}

/* normalize: makes an absolute, "."/".."-free path of p (relative to cwd). */
static char *
normalize(const char *cwd, const char *p)
{
    size_t cap = strlen(cwd) + strlen(p) + 3;
    char *in = malloc(cap), *outp = malloc(cap);
    size_t o = 0;

    if (in == NULL || outp == NULL) {
        free(in);
        free(outp);
        return NULL;
    }
    if (p[0] == '/')
        snprintf(in, cap, "%s", p);
    else
        snprintf(in, cap, "%s/%s", cwd, p);
    for (char *save = NULL, *tok = strtok_r(in, "/", &save); tok != NULL;
         tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0 || *tok == '\0')
            continue;
        if (strcmp(tok, "..") == 0) {
            while (o > 0 && outp[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        outp[o++] = '/';
        memcpy(outp + o, tok, strlen(tok));
        o += strlen(tok);
    }
    if (o == 0)
        outp[o++] = '/';
    outp[o] = '\0';
    free(in);
    return outp;
}

int
secrets_repo_find(const struct secrets_repo *r, const char *arg, struct secrets_target *t,
                  struct m3_diag *d)
{
    const char *name = arg;
    char *abs = NULL;
    size_t dl = strlen(r->dir);

    memset(t, 0, sizeof(*t));
    while (strncmp(name, "./", 2) == 0)
        name += 2;
    t->entry = reg_registry_find(r->reg, name);
    if (t->entry == NULL) {
        /* ragenix's rule: the path relative to the registry's folder. */
        if ((abs = normalize(r->cwd, arg)) == NULL)
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        if (strncmp(abs, r->dir, dl) == 0 && (abs[dl] == '/' || dl == 1)) {
            t->entry = reg_registry_find(r->reg, abs + (dl == 1 ? 1 : dl + 1));
            t->via_dir = t->entry != NULL && strcmp(t->entry->name, name) != 0;
        }
        free(abs);
    }
    if (t->entry == NULL)
        return m3_diag_set(d, M3_ENOTFOUND, "There is no rule for %s in %s.", arg, r->rules);
    if ((t->path = strdup(arg)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    return 0;
}

char *
secrets_repo_entry_path(const struct secrets_repo *r, const struct reg_entry *e)
{
    char *p;
    size_t n;

    if (r->cwd_names || e->name[0] == '/' || strcmp(r->dir, r->cwd) == 0)
        return strdup(e->name);
    n = strlen(r->dir) + strlen(e->name) + 2;
    if ((p = malloc(n)) != NULL)
        snprintf(p, n, "%s/%s", r->dir, e->name);
    return p;
}

void
secrets_target_clear(struct secrets_target *t)
{
    free(t->path);
    memset(t, 0, sizeof(*t));
}

/* key_span: the "type base64" part of a key line (SSH), or the whole string. */
static void
key_span(const char *k, const char **s, size_t *len)
{
    const char *sp;

    while (*k == ' ' || *k == '\t')
        k++;
    *s = k;
    if (strncmp(k, "ssh-", 4) == 0 && (sp = strchr(k, ' ')) != NULL) {
        const char *e = sp + 1;
        while (*e != '\0' && *e != ' ' && *e != '\t' && *e != '\n')
            e++;
        *len = (size_t)(e - k);
        return;
    }
    *len = strcspn(k, " \t\n");
}

bool
secrets_keys_equal(const char *a, const char *b)
{
    const char *sa, *sb;
    size_t la, lb;

    key_span(a, &sa, &la);
    key_span(b, &sb, &lb);
    return la == lb && memcmp(sa, sb, la) == 0;
}

const char *
secrets_key_name(const struct secrets_repo *r, const char *key)
{
    for (size_t i = 0; i < r->reg->nkeybinds; i++) {
        const struct reg_keybind *kb = &r->reg->keybinds[i];
        if (!kb->is_list && kb->nvalues == 1 && secrets_keys_equal(kb->values[0], key))
            return kb->name;
    }
    return NULL;
}

int
secrets_host_key(const struct secrets_repo *r, const char *host, char **key, struct m3_diag *d)
{
    const struct reg_keybind *kb = reg_registry_keybind(r->reg, host);
    char *path = NULL, *buf = NULL;
    size_t len, n;
    int rc;

    *key = NULL;
    if (kb != NULL && !kb->is_list && kb->nvalues == 1) {
        if ((*key = strdup(kb->values[0])) == NULL)
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        return 0;
    }
    if (strchr(host, '/') != NULL || host[0] == '.' || host[0] == '\0')
        return m3_diag_set(d, M3_ENOTFOUND, "host '%s': not a host name", host);
    n = strlen(r->dir) + strlen(host) + 40;
    if ((path = malloc(n)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    snprintf(path, n, "%s/hosts/%s/ssh_host_ed25519_key.pub", r->dir, host);
    rc = reg_read_file(path, &buf, &len, NULL);
    free(path);
    if (rc != 0)
        return m3_diag_set(d, M3_ENOTFOUND,
                           "host '%s': no key named '%s' in %s and no "
                           "hosts/%s/ssh_host_ed25519_key.pub",
                           host, host, r->rules, host);
    buf[strcspn(buf, "\r\n")] = '\0';
    *key = buf;
    return 0;
}

int
secrets_entry_recipients(const struct reg_entry *e, struct keys_recipients *l, struct m3_diag *d)
{
    for (size_t i = 0; i < e->nkeys; i++) {
        struct m3_diag kd;
        m3_diag_clear(&kd);
        if (keys_recipients_add(l, e->keys[i], &kd) != 0)
            return m3_diag_set(d, kd.code ? kd.code : M3_EINVAL, "%s:%u:%u: %s: %s",
                               e->key_spans[i].file ? e->key_spans[i].file : "registry",
                               e->key_spans[i].line, e->key_spans[i].col, e->name, kd.msg);
    }
    return 0;
}

int
secrets_identities_load(struct keys_identities *ids, const char *const *files, size_t n,
                        const char *home, age_passphrase_fn cb, void *cb_ctx, size_t *loaded,
                        struct m3_diag *d)
{
    static const char *const defaults[] = {".ssh/id_ed25519", ".ssh/id_rsa"};
    size_t count = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        struct m3_diag kd;
        m3_diag_clear(&kd);
        if ((rc = keys_identities_load_file(ids, files[i], cb, cb_ctx, &kd)) != 0)
            return m3_diag_set(d, rc, "%s: %s", files[i], kd.msg[0] ? kd.msg : m3_strerror(rc));
        count++;
    }
    for (size_t i = 0; n == 0 && home != NULL && i < 2; i++) {
        char path[PATH_MAX];
        struct m3_diag kd;
        snprintf(path, sizeof(path), "%s/%s", home, defaults[i]);
        if (access(path, R_OK) != 0)
            continue;
        m3_diag_clear(&kd);
        if ((rc = keys_identities_load_file(ids, path, cb, cb_ctx, &kd)) != 0)
            return m3_diag_set(d, rc, "%s: %s", path, kd.msg[0] ? kd.msg : m3_strerror(rc));
        count++;
    }
    if (loaded != NULL)
        *loaded = count;
    return 0;
}

int
secrets_buf_append(struct secrets_buf *b, const void *p, size_t len)
{
    if (b->len + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        unsigned char *np;
        while (cap < b->len + len + 1)
            cap *= 2;
        if ((np = age_secret_alloc(cap)) == NULL)
            return M3_ENOMEM;
        if (b->len > 0)
            memcpy(np, b->p, b->len);
        age_secret_free(b->p);
        b->p = np;
        b->cap = cap;
    }
    if (len > 0)
        memcpy(b->p + b->len, p, len);
    b->len += len;
    b->p[b->len] = 0;
    return 0;
}

void
secrets_buf_free(struct secrets_buf *b)
{
    age_secret_free(b->p);
    memset(b, 0, sizeof(*b));
}

int
secrets_buf_write(void *ctx, const void *buf, size_t len)
{
    return secrets_buf_append(ctx, buf, len) == 0 ? 0 : -1;
}

static ssize_t
fd_read(void *ctx, void *buf, size_t len)
{
    int fd = *(int *)ctx;
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, (unsigned char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return got ? (ssize_t)got : -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* decrypt_fd: decrypts the open file fd with ids into out (secret memory). */
static int
decrypt_fd(int fd, struct age_identity *const *ids, size_t nids, struct secrets_buf *out,
           struct m3_diag *d)
{
    int rc;

    if (nids == 0)
        rc = m3_diag_set(d, M3_ENOMATCH, "no identity to decrypt with");
    else
        rc = age_decrypt(ids, nids, fd_read, &fd, secrets_buf_write, out, 1, d);
    if (rc == 0 && out->p == NULL)
        rc = secrets_buf_append(out, "", 0);
    return rc;
}

int
secrets_decrypt_file(const char *path, struct age_identity *const *ids, size_t nids,
                     struct secrets_buf *out, struct m3_diag *d)
{
    int fd, rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
        return m3_diag_set(d, M3_EIO, "%s", strerror(errno));
    rc = decrypt_fd(fd, ids, nids, out, d);
    close(fd);
    return rc;
}

int
secrets_repo_decrypt(const struct secrets_repo *r, const char *path,
                     struct age_identity *const *ids, size_t nids, struct secrets_buf *out,
                     struct m3_diag *d)
{
    int fd, rc;

    if ((rc = secrets_repo_open_file(r, path, O_RDONLY, &fd, d)) != 0)
        return rc;
    rc = decrypt_fd(fd, ids, nids, out, d);
    close(fd);
    return rc;
}

struct mem_writer {
    int fd;
};

static int
fd_write(void *ctx, const void *buf, size_t len)
{
    int fd = ((struct mem_writer *)ctx)->fd;
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
secrets_encrypt_file(const char *path, struct age_recipient *const *rcpts, size_t n, bool armor,
                     const void *plaintext, size_t len, struct m3_diag *d)
{
    return secrets_encrypt_file_nosync(path, rcpts, n, armor, plaintext, len, true, d);
}

/* encrypt_at: encrypts plaintext and replaces the file base in the folder dfd: a temp file
 * ".BASE.m3tmp.HEX" (O_EXCL, no link followed), fsync, rename, fsync of dfd when sync_dir.
 * path names the file in messages. A link in base's place is refused, not replaced. */
static int
encrypt_at(int dfd, const char *base, const char *path, struct age_recipient *const *rcpts,
           size_t n, bool armor, const void *plaintext, size_t len, bool sync_dir,
           const unsigned char *file_key, struct m3_diag *d)
{
    struct age_encrypt_opts eo = {.armor = armor, .threads = 1, .file_key = file_key};
    struct secrets_mem_rd mr = {.p = plaintext, .len = len};
    struct mem_writer mw = {.fd = -1};
    struct stat st;
    unsigned char rnd[6];
    char hex[13], *tmp = NULL;
    int rc = M3_ENOMEM;
    bool exists = fstatat(dfd, base, &st, AT_SYMLINK_NOFOLLOW) == 0;

    if (exists && !S_ISREG(st.st_mode))
        return S_ISLNK(st.st_mode) ? open_error(ELOOP, d)
                                   : m3_diag_set(d, M3_EINVAL, "not a regular file");
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    if (asprintf(&tmp, ".%s.m3tmp.%s", base, hex) < 0) {
        tmp = NULL;
        goto out;
    }
    if ((mw.fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666)) <
        0) {
        const char *sl = strrchr(path, '/');
        rc = m3_diag_set(d, M3_EIO, "cannot create a temp file in %.*s: %s",
                         sl == NULL   ? 1
                         : sl == path ? 1
                                      : (int)(sl - path),
                         sl == NULL ? "." : path, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    if (exists && fchmod(mw.fd, st.st_mode & 07777) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((rc = age_encrypt(rcpts, n, &eo, secrets_mem_read, &mr, fd_write, &mw, d)) != 0)
        goto out;
    if (fsync(mw.fd) != 0 || close(mw.fd) != 0) {
        mw.fd = -1;
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    mw.fd = -1;
    if (renameat(dfd, tmp, dfd, base) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: cannot replace: %s", path, strerror(errno));
        goto out;
    }
    free(tmp);
    tmp = NULL;
    if (sync_dir)
        fsync(dfd);
    rc = 0;
out:
    if (mw.fd >= 0)
        close(mw.fd);
    if (tmp != NULL) {
        unlinkat(dfd, tmp, 0);
        free(tmp);
    }
    return rc;
}

int
secrets_encrypt_file_nosync(const char *path, struct age_recipient *const *rcpts, size_t n,
                            bool armor, const void *plaintext, size_t len, bool sync_dir,
                            struct m3_diag *d)
{
    const char *base = strrchr(path, '/');
    char *dir = dir_of(path);
    int dfd, rc;

    base = base ? base + 1 : path;
    if (dir == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = m3_diag_set(d, M3_EIO, "cannot create a temp file in %s: %s", dir, strerror(errno));
    else
        rc = encrypt_at(dfd, base, path, rcpts, n, armor, plaintext, len, sync_dir, NULL, d);
    if (dfd >= 0)
        close(dfd);
    free(dir);
    return rc;
}

int
secrets_repo_encrypt(const struct secrets_repo *r, const char *path,
                     struct age_recipient *const *rcpts, size_t n, bool armor,
                     const void *plaintext, size_t len, bool sync_dir, struct m3_diag *d)
{
    return secrets_repo_encrypt_key(r, path, rcpts, n, armor, plaintext, len, sync_dir, NULL, d);
}

int
secrets_repo_encrypt_key(const struct secrets_repo *r, const char *path,
                         struct age_recipient *const *rcpts, size_t n, bool armor,
                         const void *plaintext, size_t len, bool sync_dir,
                         const unsigned char *file_key, struct m3_diag *d)
{
    char *base = NULL;
    int dfd, rc;

    if ((rc = open_parent(r, path, &dfd, &base, d)) != 0)
        return rc;
    rc = encrypt_at(dfd, base, path, rcpts, n, armor, plaintext, len, sync_dir, file_key, d);
    close(dfd);
    free(base);
    return rc;
}

int
secrets_repo_open_dir(const struct secrets_repo *r, const char *path, int *dfd, char **base,
                      struct m3_diag *d)
{
    return open_parent(r, path, dfd, base, d);
}

int
secrets_repo_encrypt_at(int dfd, const char *base, const char *path,
                        struct age_recipient *const *rcpts, size_t n, bool armor,
                        const void *plaintext, size_t len, bool sync_dir,
                        const unsigned char *file_key, struct m3_diag *d)
{
    return encrypt_at(dfd, base, path, rcpts, n, armor, plaintext, len, sync_dir, file_key, d);
}

/* is_temp_name: the name of a temp file encrypt_at makes: ".BASE.m3tmp." and 12 hex digits. */
static bool
is_temp_name(const char *name)
{
    size_t n = strlen(name);

    if (name[0] != '.' || n < sizeof(".x.m3tmp.") - 1 + 12 ||
        strncmp(name + n - 12 - 7, ".m3tmp.", 7) != 0)
        return false;
    for (size_t i = n - 12; i < n; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

size_t
secrets_repo_clean_temps(const struct secrets_repo *r, const char *path)
{
    char *base = NULL;
    struct dirent *de;
    struct stat st;
    size_t n = 0;
    int dfd, lfd;
    DIR *dh;

    /* Only in a folder inside the repository, reached without links; only m3age's names,
     * only regular files. */
    if (open_parent(r, path, &dfd, &base, NULL) != 0)
        return 0;
    free(base);
    if ((lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0)) < 0 || (dh = fdopendir(lfd)) == NULL) {
        if (lfd >= 0)
            close(lfd);
        close(dfd);
        return 0;
    }
    while ((de = readdir(dh)) != NULL) {
        if (is_temp_name(de->d_name) && fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISREG(st.st_mode) && unlinkat(dfd, de->d_name, 0) == 0)
            n++;
    }
    if (n > 0)
        fsync(dfd);
    closedir(dh);
    close(dfd);
    return n;
}

int
secrets_repo_sync_dir(const struct secrets_repo *r, const char *path, struct m3_diag *d)
{
    char *base = NULL;
    int dfd, rc;

    if ((rc = open_parent(r, path, &dfd, &base, d)) != 0)
        return rc;
    free(base);
    rc = fsync(dfd) != 0
             ? m3_diag_set(d, M3_EIO, "%s: cannot sync its folder: %s", path, strerror(errno))
             : 0;
    close(dfd);
    return rc;
}

int
secrets_entries_for_key(const struct secrets_repo *r, const char *key, const struct reg_entry ***v,
                        size_t *n)
{
    for (size_t i = 0; i < r->reg->nentries; i++) {
        const struct reg_entry *e = &r->reg->entries[i];
        bool has = false;
        for (size_t j = 0; j < e->nkeys && !has; j++)
            has = secrets_keys_equal(e->keys[j], key);
        if (!has)
            continue;
        bool dup = false;
        for (size_t j = 0; j < *n && !dup; j++)
            dup = (*v)[j] == e;
        if (dup)
            continue;
        const struct reg_entry **nv = realloc(*v, (*n + 1) * sizeof(**v));
        if (nv == NULL)
            return M3_ENOMEM;
        *v = nv;
        (*v)[(*n)++] = e;
    }
    return 0;
}
