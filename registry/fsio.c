/* fsio.c: the registry layer's only contact with the filesystem: a reader confined to the
 * repository root, locating secrets.nix, and atomic writes. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/fsdir.h"
#include "registry/registry.h"
#include "registry/syntax.h"

#define MAX_FILE (64u << 20)

/* read_fd: the rest of fd (named path in messages) into one malloc'd NUL-terminated buffer,
 * first sized by fstat (a file that grows while it is read, or a pipe, grows the buffer). */
static int
read_fd(int fd, const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    struct stat st;
    char *p = NULL, *np;
    size_t n = 0, cap;
    ssize_t got;
    int rc = 0;

    *buf = NULL;
    cap = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
                  (unsigned long long)st.st_size <= MAX_FILE
              ? (size_t)st.st_size + 2 /* the NUL, and room to see the end */
              : 8192;
    for (;;) {
        if (n + 1 >= cap || p == NULL) {
            if (p != NULL)
                cap *= 2;
            if (cap > MAX_FILE + 8192) {
                rc = m3_diag_set(d, M3_EIO, "%s: file too large", path);
                goto out;
            }
            if ((np = realloc(p, cap)) == NULL) {
                rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
                goto out;
            }
            p = np;
        }
        got = read(fd, p + n, cap - n - 1);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    p[n] = '\0';
    *buf = p;
    *len = n;
    p = NULL;
out:
    free(p);
    return rc;
}

/* open_ro: path opened for reading, or -1 with the reason in d (M3_ENOTFOUND, M3_EIO). */
static int
open_ro(const char *path, int *rc, struct m3_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        *rc = m3_diag_set(d, errno == ENOENT ? M3_ENOTFOUND : M3_EIO, "%s: %s", path,
                          strerror(errno));
    return fd;
}

int
reg_read_file(const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    int fd, rc;

    *buf = NULL;
    if ((fd = open_ro(path, &rc, d)) < 0)
        return rc;
    rc = read_fd(fd, path, buf, len, d);
    close(fd);
    return rc;
}

/* read_into: fills the len bytes of f->src from fd; 1 when the file is not that size any
 * more (it changed since fstat: the caller reads it again the general way), 0, or an error. */
static int
read_into(int fd, struct reg_file *f, size_t len, struct m3_diag *d)
{
    size_t n = 0;
    ssize_t got;
    char extra;

    while (n < len) {
        got = read(fd, f->src + n, len - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return m3_diag_set(d, M3_EIO, "%s: %s", f->name, strerror(errno));
        if (got == 0)
            return 1;
        n += (size_t)got;
    }
    while ((got = read(fd, &extra, 1)) < 0 && errno == EINTR)
        ;
    if (got < 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", f->name, strerror(errno));
    return got > 0;
}

int
reg_parse_path(const char *path, struct reg_file **out, struct m3_diag *d)
{
    struct stat st;
    struct reg_file *f = NULL;
    char *buf = NULL;
    size_t len = 0;
    int fd, rc;

    *out = NULL;
    if ((fd = open_ro(path, &rc, d)) < 0)
        return reg_layout_file(path, rc, d);
    /* A regular file of known size is read straight into the parsed file's arena; anything
     * else (a named pipe; a file that changes size while it is read, read again from its
     * start) goes through a buffer of its own. */
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (unsigned long long)st.st_size <= MAX_FILE) {
        if ((f = reg_file_alloc(path, (size_t)st.st_size)) == NULL) {
            rc = m3_diag_set(d, M3_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        if ((rc = read_into(fd, f, (size_t)st.st_size, d)) == 0) {
            if ((rc = reg_parse_src(f, d)) == 0) {
                *out = f;
                f = NULL;
            }
            goto out;
        }
        if (rc < 0)
            goto out;
        if (lseek(fd, 0, SEEK_SET) != 0) {
            rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
            goto out;
        }
    }
    if ((rc = read_fd(fd, path, &buf, &len, d)) == 0)
        rc = reg_parse(path, buf, len, out, d);
out:
    if (rc == M3_ESYNTAX)
        rc = reg_layout_file(path, rc, d);
    close(fd);
    reg_file_free(f);
    free(buf);
    return rc;
}

struct fs_reader {
    char *root; /* the repository root, resolved; NULL until found from dir */
    size_t len;
    char dir[]; /* reg_reader_repo: the folder whose repository it reads */
};

int
reg_fs_confine(void *ctx, const char *path, char *real, struct m3_diag *d)
{
    struct fs_reader *r = ctx;
    size_t rl;
    int rc;

    if (r->root == NULL) {
        if ((rc = reg_repo_root(r->dir, &r->root, d)) != 0)
            return rc;
        r->len = strlen(r->root);
    }
    rl = r->len;
    if (realpath(path, real) == NULL)
        return m3_diag_set(d, errno == ENOENT ? M3_ENOTFOUND : M3_EIO, "cannot read '%s': %s", path,
                           strerror(errno));
    if (!(strncmp(real, r->root, rl) == 0 &&
          (real[rl] == '/' || real[rl] == '\0' || strcmp(r->root, "/") == 0)))
        return m3_diag_set(d, M3_EINVAL, "'%s' is outside the repository '%s'", path, r->root);
    return 0;
}

static int
fs_read(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    struct fs_reader *r = ctx;
    char real[PATH_MAX];
    struct stat st;
    int rc;

    if ((rc = reg_fs_confine(r, path, real, d)) != 0)
        return rc;
    /* a folder is read by nobody (import asks is_dir first and reads its default.nix) */
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode))
        return m3_diag_set(d, M3_EINVAL, "cannot read '%s': Is a directory", path);
    return reg_read_file(real, buf, len, d);
}

static bool
fs_is_dir(void *ctx, const char *path)
{
    struct stat st;

    (void)ctx;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int
reg_reader_fs(const char *root, struct reg_reader *out)
{
    struct fs_reader *r = calloc(1, sizeof(*r) + 1);

    if (r == NULL)
        return M3_ENOMEM;
    if ((r->root = realpath(root, NULL)) == NULL) {
        free(r);
        return errno == ENOMEM ? M3_ENOMEM : M3_EINVAL;
    }
    r->len = strlen(r->root);
    out->read = fs_read;
    out->is_dir = fs_is_dir;
    out->kind = reg_fs_kind;
    out->list = reg_fs_list;
    out->ctx = r;
    return 0;
}

int
reg_reader_repo(const char *dir, struct reg_reader *out)
{
    size_t n = strlen(dir);
    struct fs_reader *r = calloc(1, sizeof(*r) + n + 1);

    if (r == NULL)
        return M3_ENOMEM;
    memcpy(r->dir, dir, n + 1);
    out->read = fs_read;
    out->is_dir = fs_is_dir;
    out->kind = reg_fs_kind;
    out->list = reg_fs_list;
    out->ctx = r;
    return 0;
}

void
reg_reader_fs_free(struct reg_reader *r)
{
    if (r == NULL)
        return;
    if (r->ctx != NULL)
        free(((struct fs_reader *)r->ctx)->root);
    free(r->ctx);
    r->ctx = NULL;
}

/* The folder walks below keep the folder in a heap string with room for one more name,
 * which they append in place to test for it: no PATH_MAX arrays on the stack (each one a
 * page of stack the process must fault in) and no formatting. */
#define NAME_ROOM sizeof("/secrets.nix")

/* has: whether the folder dir (n bytes, in a buffer with NAME_ROOM more) holds name (a name
 * of at most NAME_ROOM - 2 bytes); dir is as it was after. */
static int
has(char *dir, size_t n, const char *name)
{
    size_t at = n == 1 && dir[0] == '/' ? 0 : n;
    struct stat st;
    int r;

    dir[at] = '/';
    memcpy(dir + at + 1, name, strlen(name) + 1);
    r = stat(dir, &st) == 0;
    dir[n] = '\0';
    return r;
}

/* up: the length of dir's parent, cut in place ("/" stays "/"). */
static size_t
up(char *dir, size_t n)
{
    char *s = memrchr(dir, '/', n);

    n = s == NULL || s == dir ? 1 : (size_t)(s - dir);
    dir[n] = '\0';
    return n;
}

/* real_dir: path resolved, in a heap buffer with NAME_ROOM to spare; NULL with errno set. */
static char *
real_dir(const char *path, size_t *n)
{
    char *real = realpath(path, NULL), *dir;

    if (real == NULL)
        return NULL;
    *n = strlen(real);
    if ((dir = realloc(real, *n + NAME_ROOM)) == NULL)
        free(real);
    return dir;
}

int
reg_file_dir(const char *path, char **dir, struct m3_diag *d)
{
    char *real = realpath(path, NULL);

    if ((*dir = real) == NULL)
        return m3_diag_set(d, errno == ENOMEM ? M3_ENOMEM : M3_EIO, "%s: %s", path,
                           strerror(errno));
    up(real, strlen(real));
    return 0;
}

int
reg_repo_root(const char *path, char **root, struct m3_diag *d)
{
    char *dir, *start;
    size_t n;
    struct stat st;

    if ((dir = real_dir(path, &n)) == NULL)
        return m3_diag_set(d, errno == ENOMEM ? M3_ENOMEM : M3_EIO, "%s: %s", path,
                           strerror(errno));
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        n = up(dir, n);
    if ((start = strndup(dir, n)) == NULL) {
        free(dir);
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    for (;;) {
        if (has(dir, n, ".git") || has(dir, n, "flake.nix"))
            break;
        if (n == 1) { /* no marker up to "/": the folder itself */
            free(dir);
            *root = start;
            return 0;
        }
        n = up(dir, n);
    }
    free(start);
    *root = dir;
    return 0;
}

int
reg_locate(const char *rules_opt, const char *rules_env, const char *cwd, char **path,
           const char **how, struct m3_diag *d)
{
    char *dir;
    size_t n, start;
    int rc;
    const char *given = rules_opt != NULL                             ? rules_opt
                        : (rules_env != NULL && rules_env[0] != '\0') ? rules_env
                                                                      : NULL;

    *path = NULL;
    if (given != NULL) {
        if (how != NULL)
            *how = rules_opt != NULL ? "--rules" : "RULES";
        *path = strdup(given);
        return *path ? 0 : m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    if ((dir = real_dir(cwd, &n)) == NULL)
        return m3_diag_set(d, errno == ENOMEM ? M3_ENOMEM : M3_EIO, "%s: %s", cwd, strerror(errno));
    start = n;
    for (;;) {
        if (n == start && has(dir, n, "secrets.nix")) { /* as the user named it */
            free(dir);
            if (how != NULL)
                *how = "./secrets.nix";
            if (strcmp(cwd, ".") == 0)
                *path = strdup("secrets.nix");
            else if (asprintf(path, "%s/secrets.nix", cwd) < 0)
                *path = NULL;
            return *path ? 0 : m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        if (n != start && has(dir, n, "secrets.nix")) {
            memcpy(dir + (n == 1 ? 0 : n), "/secrets.nix", sizeof("/secrets.nix"));
            if (how != NULL)
                *how = "parent";
            *path = dir;
            return 0;
        }
        if (has(dir, n, ".git") || has(dir, n, "flake.nix") || n == 1)
            break;
        n = up(dir, n);
    }
    m3_diag_set(d, M3_ENOTFOUND,
                "no secrets.nix in '%s' or its parents up to the repository root '%s'", cwd, dir);
    rc = reg_layout_search(cwd, dir, M3_ENOTFOUND, d);
    free(dir);
    return rc;
}

int
reg_load_path(const char *path, struct reg_file **file, struct reg_registry **out,
              struct m3_diag *d)
{
    struct reg_reader reader = {0};
    struct reg_eval_opts opts = {0};
    struct reg_file *f = NULL;
    char *dir = NULL;
    int rc;

    if (file != NULL)
        *file = NULL;
    *out = NULL;
    if (reg_get_fallback() != NULL && reg_get_fallback()->always != NULL &&
        reg_get_fallback()->always(reg_get_fallback()->ctx))
        return reg_fallback_load(path, NULL, out, d);
    if ((rc = reg_parse_path(path, &f, d)) != 0 || (rc = reg_file_dir(path, &dir, d)) != 0)
        goto out;
    if ((rc = reg_reader_repo(dir, &reader)) != 0) {
        m3_diag_set(d, rc, "out of memory");
        goto out;
    }
    opts.reader = &reader;
    opts.base_dir = dir;
    if ((rc = reg_registry_load(f, &opts, out, d)) == M3_EUNSUPPORTED && reg_get_fallback() != NULL)
        rc = reg_fallback_load(path, d, out, d);
    if (rc != 0)
        goto out;
    if (file != NULL) {
        *file = f;
        f = NULL;
    }
out:
    reg_reader_fs_free(&reader);
    reg_file_free(f);
    free(dir);
    return rc;
}

int
reg_write_atomic(const char *path, const char *buf, size_t len, struct m3_diag *d)
{
    char dir[PATH_MAX], tmp[PATH_MAX + 32];
    const char *base;
    struct stat st;
    mode_t mode = 0644;
    int fd = -1, dfd = -1, rc = 0;
    size_t off = 0;

    snprintf(dir, sizeof(dir), "%s", path);
    base = strrchr(path, '/');
    if (base == NULL) {
        snprintf(dir, sizeof(dir), ".");
        base = path;
    } else {
        up(dir, strlen(dir));
        base++;
    }
    if (stat(path, &st) == 0)
        mode = st.st_mode & 07777;
    snprintf(tmp, sizeof(tmp), "%s/.%s.m3tmpXXXXXX", dir, base);
    if ((fd = mkstemp(tmp)) < 0) {
        rc =
            m3_diag_set(d, M3_EIO, "%s: cannot create a temporary file: %s", path, strerror(errno));
        tmp[0] = '\0';
        goto out;
    }
    if (fchmod(fd, mode) != 0)
        goto fail;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto fail;
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        goto fail;
    tmp[0] = '\0';
    if ((dfd = open(dir, O_RDONLY | O_DIRECTORY)) >= 0)
        fsync(dfd);
    goto out;
fail:
    rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (dfd >= 0)
        close(dfd);
    if (tmp[0] != '\0')
        unlink(tmp);
    return rc;
}
