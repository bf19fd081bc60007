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
reg_fs_root(void *ctx, const char **root, struct m3_diag *d)
{
    struct fs_reader *r = ctx;
    int rc;

    if (r->root == NULL) {
        if ((rc = reg_trust_root(r->dir, &r->root, d)) != 0)
            return rc;
        r->len = strlen(r->root);
    }
    *root = r->root;
    return 0;
}

int
reg_fs_confine(void *ctx, const char *path, char **real, struct m3_diag *d)
{
    const char *root;
    int rc;

    *real = NULL;
    if ((rc = reg_fs_root(ctx, &root, d)) != 0)
        return rc;
    return reg_confine(root, path, real, d);
}

/* gitcrypt_locked: whether buf is a file as git-crypt stores it, which a clone shows until
 * 'git-crypt unlock' (its header: "\0GITCRYPT\0"). */
static bool
gitcrypt_locked(const char *buf, size_t len)
{
    static const char magic[] = "\0GITCRYPT\0";

    return len >= sizeof(magic) - 1 && memcmp(buf, magic, sizeof(magic) - 1) == 0;
}

/* fs_read: the reader's read. A file still encrypted by git-crypt is refused by name, as a
 * locked registry is (layout.c): an imported one would fail on its first byte, a read one
 * would be ciphertext. */
static int
fs_read(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    struct fs_reader *r = ctx;
    char *real = NULL;
    const char *name;
    struct stat st;
    int rc;

    if ((rc = reg_fs_confine(ctx, path, &real, d)) != 0)
        return rc;
    /* a folder is read by nobody (import asks is_dir first and reads its default.nix) */
    if (stat(real, &st) == 0 && S_ISDIR(st.st_mode))
        rc = m3_diag_set(d, M3_EINVAL, "cannot read '%s': Is a directory", path);
    else if ((rc = reg_read_file(real, buf, len, d)) == 0 && gitcrypt_locked(*buf, *len)) {
        free(*buf);
        *buf = NULL;
        *len = 0;
        /* named from the repository's root, as the registry's own files are */
        name =
            strncmp(real, r->root, r->len) == 0 && real[r->len] == '/' ? real + r->len + 1 : real;
        rc = m3_diag_set(d, M3_ESTATE,
                         "%s: encrypted by git-crypt (the repository is locked); run "
                         "'git-crypt unlock' and try again",
                         name);
    }
    free(real);
    return rc;
}

static bool
fs_is_dir(void *ctx, const char *path)
{
    char *real = NULL;
    struct stat st;
    bool is = false;

    /* confined as reads are: what lies outside is not even said to exist */
    if (reg_fs_confine(ctx, path, &real, NULL) == 0)
        is = stat(real, &st) == 0 && S_ISDIR(st.st_mode);
    free(real);
    return is;
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

/* is_module: dir/secrets.nix is a function at the top (`{ config, ... }: { ... }`): a NixOS
 * module that happens to have the name (hosts/<h>/secrets.nix), never a registry, which agenix
 * imports as a value. The walk goes on past it. */
static bool
is_module(char *dir, size_t n)
{
    size_t at = n == 1 && dir[0] == '/' ? 0 : n;
    struct reg_file *f = NULL;
    bool fn;

    memcpy(dir + at, "/secrets.nix", sizeof("/secrets.nix"));
    fn = reg_parse_path(dir, &f, NULL) == 0 && f->root != NULL && f->root->a != NULL &&
         f->root->a->kind == N_LAMBDA;
    dir[n] = '\0';
    reg_file_free(f);
    return fn;
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
        bool found = has(dir, n, "secrets.nix") && !is_module(dir, n);

        if (n == start && found) { /* as the user named it */
            free(dir);
            if (how != NULL)
                *how = "./secrets.nix";
            if (strcmp(cwd, ".") == 0)
                *path = strdup("secrets.nix");
            else if (asprintf(path, "%s/secrets.nix", cwd) < 0)
                *path = NULL;
            return *path ? 0 : m3_diag_set(d, M3_ENOMEM, "out of memory");
        }
        if (n != start && found) {
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
    if (n == 1) /* no .git or flake.nix on the way: "/" is no repository root */
        m3_diag_set(d, M3_ENOTFOUND, "no secrets.nix in '%s' or any folder above it", cwd);
    else
        m3_diag_set(d, M3_ENOTFOUND,
                    "no secrets.nix in '%s' or its parents up to the repository root '%s'", cwd,
                    dir);
    rc = reg_layout_search(cwd, dir, M3_ENOTFOUND, d);
    free(dir);
    return rc;
}

/* load_path: reg_load_path; with check, every secret name must stay inside the root. */
static int
load_path(const char *path, struct reg_file **file, struct reg_registry **out, bool check,
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
    if (check && (rc = reg_check_names(*out, dir, d)) != 0) {
        reg_registry_free(*out);
        *out = NULL;
        goto out;
    }
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
reg_load_path(const char *path, struct reg_file **file, struct reg_registry **out,
              struct m3_diag *d)
{
    return load_path(path, file, out, true, d);
}

int
reg_load_path_lax(const char *path, struct reg_file **file, struct reg_registry **out,
                  struct m3_diag *d)
{
    return load_path(path, file, out, false, d);
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

/* ---- The repository root and the rules that confine reads and secret names ------------- */

/* index_has: whether the git index file at index lists a file inside the folder rel (which
 * ends in '/'): whether git tracks anything there.
 * Reads index versions 2 to 4 (SHA-1 or SHA-256 object names); anything it cannot read
 * counts as not tracked: the registry is then its own root, the narrow choice. */
static bool
index_has(const char *index, size_t hashlen, const char *rel)
{
    char *buf = NULL, prev[PATH_MAX];
    size_t len = 0, off = 12, rl = strlen(rel), pl = 0;
    unsigned ver, n;
    bool found = false;

    if (reg_read_file(index, &buf, &len, NULL) != 0)
        return false;
    if (len < 12 || memcmp(buf, "DIRC", 4) != 0)
        goto out;
    ver = (unsigned)(unsigned char)buf[7] | (unsigned)(unsigned char)buf[6] << 8;
    n = (unsigned)(unsigned char)buf[11] | (unsigned)(unsigned char)buf[10] << 8 |
        (unsigned)(unsigned char)buf[9] << 16 | (unsigned)(unsigned char)buf[8] << 24;
    if (ver < 2 || ver > 4 || buf[4] != 0 || buf[5] != 0)
        goto out;
    for (unsigned i = 0; i < n && !found; i++) {
        size_t start = off, fixed = 40 + hashlen + 2, nl;
        unsigned flags;
        const char *name;
        /* off passes len when the last entry's NUL padding is cut off */
        if (off > len || len - off < fixed)
            goto out;
        flags = (unsigned)(unsigned char)buf[off + fixed - 2] << 8 |
                (unsigned)(unsigned char)buf[off + fixed - 1];
        off += fixed;
        if (ver >= 3 && (flags & 0x4000u)) /* extended flags */
            off += 2;
        if (off >= len)
            goto out;
        if (ver == 4) { /* prefix-compressed: strip N bytes of the previous name, add a suffix */
            size_t strip = 0;
            unsigned char c;
            do {
                if (off >= len)
                    goto out;
                c = (unsigned char)buf[off++];
                strip = (strip << 7) | (c & 0x7fu);
                if (c & 0x80u)
                    strip++;
            } while ((c & 0x80u) && strip < PATH_MAX);
            name = buf + off;
            nl = strnlen(name, len - off);
            if (strip > pl || off + nl >= len || pl - strip + nl >= sizeof(prev))
                goto out;
            memcpy(prev + pl - strip, name, nl);
            pl = pl - strip + nl;
            prev[pl] = '\0';
            off += nl + 1;
            found = pl > rl && memcmp(prev, rel, rl) == 0;
            continue;
        }
        name = buf + off;
        nl = strnlen(name, len - off);
        if (off + nl >= len)
            goto out;
        found = nl > rl && memcmp(name, rel, rl) == 0;
        off += nl + 1;
        off = start + ((off - start + 7) & ~(size_t)7); /* NUL padding to a multiple of 8 */
    }
out:
    free(buf);
    return found;
}

/* git_tracks: whether the git work tree top (holding .git, a folder or a "gitdir:" file)
 * tracks files in its folder rel (relative to top, ending in '/'). */
static bool
git_tracks(const char *top, const char *rel)
{
    char *dotgit = NULL, *gitdir = NULL, *index = NULL, *cfg = NULL;
    size_t len = 0, hashlen = 20;
    struct stat st;
    bool r = false;

    if (asprintf(&dotgit, "%s/.git", strcmp(top, "/") == 0 ? "" : top) < 0)
        return false;
    if (lstat(dotgit, &st) == 0 && S_ISDIR(st.st_mode)) {
        gitdir = dotgit;
        dotgit = NULL;
    } else if (S_ISREG(st.st_mode) && reg_read_file(dotgit, &cfg, &len, NULL) == 0 &&
               strncmp(cfg, "gitdir: ", 8) == 0) {
        char *p = cfg + 8;
        p[strcspn(p, "\r\n")] = '\0';
        if (p[0] == '/' ? (gitdir = strdup(p)) == NULL : asprintf(&gitdir, "%s/%s", top, p) < 0)
            gitdir = NULL;
    }
    free(cfg);
    cfg = NULL;
    if (gitdir == NULL)
        goto out;
    /* A SHA-256 repository says so in its config (a linked work tree: in the common one,
     * whose object names the index uses as well; both are looked at). */
    if (asprintf(&index, "%s/config", gitdir) >= 0 && reg_read_file(index, &cfg, &len, NULL) == 0 &&
        strstr(cfg, "sha256") != NULL)
        hashlen = 32;
    free(index);
    free(cfg);
    cfg = NULL;
    if (hashlen == 20 && asprintf(&index, "%s/commondir", gitdir) >= 0) {
        char *common = NULL, *cc = NULL;
        if (reg_read_file(index, &cfg, &len, NULL) == 0) {
            cfg[strcspn(cfg, "\r\n")] = '\0';
            if ((cfg[0] == '/' ? asprintf(&common, "%s/config", cfg)
                               : asprintf(&common, "%s/%s/config", gitdir, cfg)) >= 0 &&
                reg_read_file(common, &cc, &len, NULL) == 0 && strstr(cc, "sha256") != NULL)
                hashlen = 32;
        }
        free(common);
        free(cc);
        free(index);
    }
    if (asprintf(&index, "%s/index", gitdir) >= 0)
        r = index_has(index, hashlen, rel);
    else
        index = NULL;
out:
    free(cfg);
    free(index);
    free(gitdir);
    free(dotgit);
    return r;
}

int
reg_trust_root(const char *path, char **root, struct m3_diag *d)
{
    char *dir, *orig = NULL, *flake = NULL;
    size_t n, top;
    struct stat st;
    int rc = 0;

    *root = NULL;
    if ((dir = real_dir(path, &top)) == NULL)
        return m3_diag_set(d, errno == ENOMEM ? M3_ENOMEM : M3_EIO, "%s: %s", path,
                           strerror(errno));
    if (stat(dir, &st) == 0 && !S_ISDIR(st.st_mode))
        top = up(dir, top);
    if ((orig = strndup(dir, top)) == NULL) /* has() and up() write into dir */
        goto nomem;
    for (n = top;; n = up(dir, n)) {
        if (has(dir, n, ".git")) {
            /* The folder's path relative to this work tree; dir keeps the bytes past n. */
            char *rel = NULL;
            bool tracked = n == top;
            if (!tracked) {
                if (asprintf(&rel, "%s/", orig + n + (n > 1)) < 0)
                    goto nomem;
                tracked = git_tracks(dir, rel);
                free(rel);
            }
            if (tracked) {
                *root = strndup(dir, n);
                goto done;
            }
            break;
        }
        if (flake == NULL && has(dir, n, "flake.nix") && (flake = strndup(dir, n)) == NULL)
            goto nomem;
        if (n == 1)
            break;
    }
    /* No work tree tracks it: the nearest flake below any such tree, else its own folder. */
    if (flake != NULL) {
        *root = flake;
        flake = NULL;
    } else {
        *root = orig;
        orig = NULL;
    }
done:
    if (*root == NULL)
        goto nomem;
    goto out;
nomem:
    rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
out:
    free(flake);
    free(orig);
    free(dir);
    return rc;
}

/* inside: whether the absolute, normalized path p is root or below it. */
static bool
inside(const char *root, const char *p)
{
    size_t rl = strlen(root);

    if (strcmp(root, "/") == 0)
        return p[0] == '/';
    return strncmp(p, root, rl) == 0 && (p[rl] == '/' || p[rl] == '\0');
}

int
reg_confine(const char *root, const char *path, char **real, struct m3_diag *d)
{
    *real = NULL;
    if ((*real = realpath(path, NULL)) == NULL)
        return m3_diag_set(d,
                           errno == ENOENT   ? M3_ENOTFOUND
                           : errno == ENOMEM ? M3_ENOMEM
                                             : M3_EIO,
                           "cannot read '%s': %s", path, strerror(errno));
    if (inside(root, *real))
        return 0;
    free(*real);
    *real = NULL;
    return m3_diag_set(d, M3_EINVAL, "'%s' is outside the repository '%s'", path, root);
}

int
reg_path_within(const char *root, const char *base, const char *path, char **rel, struct m3_diag *d)
{
    size_t cap = strlen(base) + strlen(path) + 3, o = 0;
    char *in = malloc(cap), *p = malloc(cap), *save = NULL;

    *rel = NULL;
    if (in == NULL || p == NULL) {
        free(in);
        free(p);
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    snprintf(in, cap, "%s%s%s", path[0] == '/' ? "" : base, path[0] == '/' ? "" : "/", path);
    /* "." and ".." folded by name, as the kernel does when no component is a link: the open
     * that follows (secrets_repo_openat) refuses links, so the two agree. */
    for (char *tok = strtok_r(in, "/", &save); tok != NULL; tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            while (o > 0 && p[o - 1] != '/')
                o--;
            if (o > 0)
                o--;
            continue;
        }
        p[o++] = '/';
        memcpy(p + o, tok, strlen(tok));
        o += strlen(tok);
    }
    if (o == 0)
        p[o++] = '/';
    p[o] = '\0';
    free(in);
    if (!inside(root, p) || strcmp(root, p) == 0) {
        free(p);
        return m3_diag_set(d, M3_EINVAL, "'%s' is outside the repository '%s'", path, root);
    }
    o = strcmp(root, "/") == 0 ? 1 : strlen(root) + 1;
    memmove(p, p + o, strlen(p + o) + 1);
    *rel = p;
    return 0;
}

int
reg_check_name(const char *root, const char *base, const struct reg_entry *e, char **rel,
               struct m3_diag *d)
{
    struct m3_diag nd;
    char *r = NULL;
    int rc;
    const char *file = e->name_span.file ? e->name_span.file : "registry";

    if (rel != NULL)
        *rel = NULL;
    if (e->name[0] == '/')
        return m3_diag_set(d, M3_EINVAL,
                           "%s:%u:%u: secret name '%s' is an absolute path (names are relative "
                           "to the registry's folder, inside the repository)",
                           file, e->name_span.line, e->name_span.col, e->name);
    m3_diag_clear(&nd);
    rc = reg_path_within(root, base, e->name, &r, &nd);
    if (rc == M3_EINVAL)
        return m3_diag_set(d, rc, "%s:%u:%u: secret name '%s' leads outside the repository '%s'",
                           file, e->name_span.line, e->name_span.col, e->name, root);
    if (rc != 0)
        return m3_diag_set(d, rc, "%s", nd.msg);
    if (rel != NULL)
        *rel = r;
    else
        free(r);
    return 0;
}

int
reg_check_names(const struct reg_registry *r, const char *dir, struct m3_diag *d)
{
    char *root = NULL;
    int rc = 0;

    if (r->nentries > 0 && (rc = reg_trust_root(dir, &root, d)) != 0)
        return rc;
    for (size_t i = 0; i < r->nentries && rc == 0; i++)
        rc = reg_check_name(root, dir, &r->entries[i], NULL, d);
    free(root);
    return rc;
}
