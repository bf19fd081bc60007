/* layout.c: what a repository is when its registry cannot be found or read: a git-crypt
 * locked secrets.nix, a dangling symlink, a git submodule that is not checked out, or
 * agenix-rekey's layout, each said in one line with what to do. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"

#define LAYOUT_FILE_MAX (1u << 20)

/* slurp: the first LAYOUT_FILE_MAX bytes of the regular file path, NUL-terminated
 * (malloc'd), or NULL (a named pipe is not opened for reading twice: it would wait). */
static char *
slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    char *b = NULL;
    ssize_t got;
    size_t n = 0;
    struct stat st;

    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (b = malloc(LAYOUT_FILE_MAX + 1)) != NULL) {
        while (n < LAYOUT_FILE_MAX &&
               ((got = read(fd, b + n, LAYOUT_FILE_MAX - n)) > 0 || (got < 0 && errno == EINTR)))
            n += got > 0 ? (size_t)got : 0;
        b[n] = '\0';
    }
    close(fd);
    if (len != NULL)
        *len = n;
    return b;
}

static bool
dir_empty_or_missing(const char *path)
{
    DIR *dp = opendir(path);
    struct dirent *e;
    bool empty = true;

    if (dp == NULL)
        return errno == ENOENT;
    while ((e = readdir(dp)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
            empty = false;
            break;
        }
    closedir(dp);
    return empty;
}

/* unchecked_submodule: the first submodule of root's .gitmodules whose folder is empty or
 * missing and, when under is non-NULL, that holds under (a path relative to root); copied
 * into name. */
static bool
unchecked_submodule(const char *root, const char *under, char *name, size_t cap)
{
    char gm[PATH_MAX], sub[PATH_MAX], *text, *line, *save = NULL;
    bool found = false;

    if ((size_t)snprintf(gm, sizeof(gm), "%s/.gitmodules", root) >= sizeof(gm) ||
        (text = slurp(gm, NULL)) == NULL)
        return false;
    for (line = strtok_r(text, "\n", &save); line != NULL && !found;
         line = strtok_r(NULL, "\n", &save)) {
        char *p = line + strspn(line, " \t"), *v, *end;
        size_t n;
        if (strncmp(p, "path", 4) != 0)
            continue;
        p += 4 + strspn(p + 4, " \t");
        if (*p != '=')
            continue;
        v = p + 1 + strspn(p + 1, " \t");
        for (end = v + strlen(v);
             end > v && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r');)
            *--end = '\0';
        n = strlen(v);
        if (n == 0 || (size_t)snprintf(sub, sizeof(sub), "%s/%s", root, v) >= sizeof(sub))
            continue;
        if (under != NULL && !(strncmp(under, v, n) == 0 && (under[n] == '/' || under[n] == '\0')))
            continue;
        if (dir_empty_or_missing(sub)) {
            snprintf(name, cap, "%s", v);
            found = true;
        }
    }
    free(text);
    return found;
}

/* agenix_rekey: whether root's flake.nix configures agenix-rekey. */
static bool
agenix_rekey(const char *root)
{
    char fl[PATH_MAX], *text;
    bool r;

    if ((size_t)snprintf(fl, sizeof(fl), "%s/flake.nix", root) >= sizeof(fl) ||
        (text = slurp(fl, NULL)) == NULL)
        return false;
    r = strstr(text, "agenix-rekey") != NULL || strstr(text, "age.rekey") != NULL;
    free(text);
    return r;
}

/* dangling: when path is a symlink whose target does not exist, its target in target. */
static bool
dangling(const char *path, char *target, size_t cap)
{
    struct stat st;
    ssize_t n;

    if (lstat(path, &st) != 0 || !S_ISLNK(st.st_mode) || stat(path, &st) == 0)
        return false;
    if ((n = readlink(path, target, cap - 1)) < 0)
        n = 0;
    target[n] = '\0';
    return true;
}

int
reg_layout_file(const char *path, int rc, struct m3_diag *d)
{
    static const char magic[] = "\0GITCRYPT\0";
    char target[PATH_MAX], abs[PATH_MAX], sub[PATH_MAX], *root = NULL, *text;
    size_t len = 0;
    struct m3_diag ignored = {0};

    if ((text = slurp(path, &len)) != NULL) {
        bool locked = len >= sizeof(magic) - 1 && memcmp(text, magic, sizeof(magic) - 1) == 0;
        free(text);
        if (locked)
            return m3_diag_set(d, M3_ESTATE,
                               "%s: encrypted by git-crypt (the repository is locked); run "
                               "'git-crypt unlock' and try again",
                               path);
    }
    if (rc != M3_ENOTFOUND)
        return rc;
    if (dangling(path, target, sizeof(target)))
        return m3_diag_set(d, M3_ESTATE,
                           "%s is a symbolic link to '%s', which does not exist; restore its "
                           "target, or name the registry with --rules FILE",
                           path, target);
    /* a registry inside a submodule that is not checked out */
    if (path[0] == '/')
        snprintf(abs, sizeof(abs), "%s", path);
    else if (getcwd(abs, sizeof(abs)) == NULL || strlen(abs) + 1 + strlen(path) >= sizeof(abs))
        return rc;
    else
        strcat(strcat(abs, "/"), path);
    {
        /* the repository root of the nearest folder that exists */
        char dir[PATH_MAX], *slash;
        snprintf(dir, sizeof(dir), "%s", abs);
        while ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
            *slash = '\0';
            if (access(dir, F_OK) == 0)
                break;
        }
        if (reg_repo_root(dir, &root, &ignored) != 0)
            return rc;
    }
    len = strlen(root);
    if (strncmp(abs, root, len) == 0 && abs[len] == '/' &&
        unchecked_submodule(root, abs + len + 1, sub, sizeof(sub)))
        rc = m3_diag_set(d, M3_ESTATE,
                         "%s is in the git submodule '%s', which is not checked out; run 'git "
                         "submodule update --init %s'",
                         path, sub, sub);
    free(root);
    return rc;
}

int
reg_layout_search(const char *cwd, const char *root, int rc, struct m3_diag *d)
{
    char dir[PATH_MAX], link[PATH_MAX + 16], target[PATH_MAX], sub[PATH_MAX], *slash;
    size_t rl = strlen(root);

    /* a dangling secrets.nix on the way up (stat, which found nothing, follows links) */
    if (realpath(cwd, dir) != NULL)
        for (;;) {
            snprintf(link, sizeof(link), "%s/secrets.nix", strcmp(dir, "/") == 0 ? "" : dir);
            if (dangling(link, target, sizeof(target)))
                return m3_diag_set(d, M3_ESTATE,
                                   "'%s' is a symbolic link to '%s', which does not exist; "
                                   "restore its target, or name the registry with --rules FILE",
                                   link, target);
            if (strlen(dir) <= rl || (slash = strrchr(dir, '/')) == NULL)
                break;
            slash[slash == dir] = '\0';
        }
    if (unchecked_submodule(root, NULL, sub, sizeof(sub)))
        return m3_diag_set(d, M3_ESTATE,
                           "no secrets.nix in '%s' or its parents, and the git submodule '%s' "
                           "is not checked out; run 'git submodule update --init %s'",
                           cwd, sub, sub);
    if (agenix_rekey(root))
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "no secrets.nix in '%s': this repository uses agenix-rekey (its "
                           "flake.nix), whose secrets are declared in NixOS modules; manage "
                           "them with agenix-rekey, or write a secrets.nix for m3age",
                           root);
    return rc;
}

int
reg_layout_entries(const char *path, const struct reg_registry *r, struct m3_diag *d)
{
    char dir[PATH_MAX], gm[PATH_MAX + 16], abs[2 * PATH_MAX], sub[PATH_MAX], *root = NULL, *slash;
    struct m3_diag ignored = {0};
    size_t rl, i;
    int rc = 0;

    if (realpath(path, dir) == NULL)
        return 0;
    if ((slash = strrchr(dir, '/')) != NULL)
        slash[slash == dir] = '\0';
    if (reg_repo_root(dir, &root, &ignored) != 0)
        return 0;
    rl = strlen(root);
    snprintf(gm, sizeof(gm), "%s/.gitmodules", root);
    for (i = 0; i < r->nentries && access(gm, F_OK) == 0; i++) {
        const char *name = r->entries[i].name;
        if (name[0] == '/')
            snprintf(abs, sizeof(abs), "%s", name);
        else
            snprintf(abs, sizeof(abs), "%s/%s", dir,
                     name[0] == '.' && name[1] == '/' ? name + 2 : name);
        if (strncmp(abs, root, rl) == 0 && abs[rl] == '/' && access(abs, F_OK) != 0 &&
            unchecked_submodule(root, abs + rl + 1, sub, sizeof(sub))) {
            rc = m3_diag_set(d, M3_ESTATE,
                             "'%s' is in the git submodule '%s', which is not checked out; run "
                             "'git submodule update --init %s'",
                             name, sub, sub);
            break;
        }
    }
    free(root);
    return rc;
}
