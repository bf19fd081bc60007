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
        return rc;
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
    close(fd);
    reg_file_free(f);
    free(buf);
    return rc;
}

struct fs_reader {
    char root[PATH_MAX];
};

static int
fs_read(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    const struct fs_reader *r = ctx;
    char real[PATH_MAX];
    size_t rl = strlen(r->root);
    struct stat st;

    if (realpath(path, real) == NULL)
        return m3_diag_set(d, errno == ENOENT ? M3_ENOTFOUND : M3_EIO, "cannot read '%s': %s", path,
                           strerror(errno));
    if (!(strncmp(real, r->root, rl) == 0 &&
          (real[rl] == '/' || real[rl] == '\0' || strcmp(r->root, "/") == 0)))
        return m3_diag_set(d, M3_EINVAL, "'%s' is outside the repository '%s'", path, r->root);
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode)) {
        char def[PATH_MAX + 16];
        snprintf(def, sizeof(def), "%s/default.nix", real);
        return reg_read_file(def, buf, len, d);
    }
    return reg_read_file(real, buf, len, d);
}

int
reg_reader_fs(const char *root, struct reg_reader *out)
{
    struct fs_reader *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return M3_ENOMEM;
    if (realpath(root, r->root) == NULL) {
        free(r);
        return M3_EINVAL;
    }
    out->read = fs_read;
    out->ctx = r;
    return 0;
}

void
reg_reader_fs_free(struct reg_reader *r)
{
    if (r == NULL)
        return;
    free(r->ctx);
    r->ctx = NULL;
}

static int
exists(const char *dir, const char *name)
{
    char p[PATH_MAX];
    struct stat st;

    if ((size_t)snprintf(p, sizeof(p), "%s/%s", dir, name) >= sizeof(p))
        return 0;
    return stat(p, &st) == 0;
}

static void
parent(char *dir)
{
    char *s = strrchr(dir, '/');

    if (s == dir)
        s[1] = '\0';
    else if (s != NULL)
        *s = '\0';
}

int
reg_repo_root(const char *path, char **root, struct m3_diag *d)
{
    char dir[PATH_MAX], start[PATH_MAX];
    struct stat st;

    if (realpath(path, dir) == NULL)
        return m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        parent(dir);
    memcpy(start, dir, sizeof(dir));
    for (;;) {
        if (exists(dir, ".git") || exists(dir, "flake.nix"))
            break;
        if (strcmp(dir, "/") == 0) {
            memcpy(dir, start, sizeof(dir));
            break;
        }
        parent(dir);
    }
    if ((*root = strdup(dir)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    return 0;
}

int
reg_locate(const char *rules_opt, const char *rules_env, const char *cwd, char **path,
           const char **how, struct m3_diag *d)
{
    char dir[PATH_MAX], cand[PATH_MAX + 16];
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
    if (exists(cwd, "secrets.nix")) {
        if (how != NULL)
            *how = "./secrets.nix";
        if (strcmp(cwd, ".") == 0)
            *path = strdup("secrets.nix");
        else if (asprintf(path, "%s/secrets.nix", cwd) < 0)
            *path = NULL;
        return *path ? 0 : m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    if (realpath(cwd, dir) == NULL)
        return m3_diag_set(d, M3_EIO, "%s: %s", cwd, strerror(errno));
    for (;;) {
        if (exists(dir, "secrets.nix")) {
            snprintf(cand, sizeof(cand), "%s/secrets.nix", strcmp(dir, "/") ? dir : "");
            if (how != NULL)
                *how = "parent";
            *path = strdup(cand);
            return *path ? 0 : m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        if (exists(dir, ".git") || exists(dir, "flake.nix") || strcmp(dir, "/") == 0)
            break;
        parent(dir);
    }
    return m3_diag_set(d, M3_ENOTFOUND,
                       "no secrets.nix in '%s' or its parents up to the repository root '%s'", cwd,
                       dir);
}

int
reg_load_path(const char *path, struct reg_file **file, struct reg_registry **out,
              struct m3_diag *d)
{
    struct reg_reader reader = {0};
    struct reg_eval_opts opts = {0};
    struct reg_file *f = NULL;
    char *root = NULL, dir[PATH_MAX];
    int rc;

    if (file != NULL)
        *file = NULL;
    *out = NULL;
    if ((rc = reg_parse_path(path, &f, d)) != 0)
        goto out;
    if (realpath(path, dir) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    parent(dir);
    if ((rc = reg_repo_root(dir, &root, d)) != 0)
        goto out;
    if ((rc = reg_reader_fs(root, &reader)) != 0) {
        m3_diag_set(d, rc, "%s: cannot open the repository root", root);
        goto out;
    }
    opts.reader = &reader;
    opts.base_dir = dir;
    if ((rc = reg_registry_load(f, &opts, out, d)) != 0)
        goto out;
    if (file != NULL) {
        *file = f;
        f = NULL;
    }
out:
    reg_reader_fs_free(&reader);
    reg_file_free(f);
    free(root);
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
        parent(dir);
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
