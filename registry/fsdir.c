/* fsdir.c: the reader's view of folders and file types (readDir, pathExists, readFileType),
 * confined to the repository by the same check as its reads (fsio.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry/fsdir.h"

static enum reg_ftype
ftype(mode_t m)
{
    return S_ISREG(m)   ? REG_FT_REGULAR
           : S_ISDIR(m) ? REG_FT_DIRECTORY
           : S_ISLNK(m) ? REG_FT_SYMLINK
                        : REG_FT_UNKNOWN;
}

/* fs_kind: path is confined when it resolves inside the root; when it does not resolve (a
 * dangling symlink, nothing there) or resolves outside (a symlink out, which is not
 * followed), its nearest existing ancestor must. */
int
reg_fs_kind(void *ctx, const char *path, enum reg_ftype *type, struct m3_diag *d)
{
    char *real = NULL, *dir = NULL, *slash;
    struct stat st;
    int rc = reg_fs_confine(ctx, path, &real, d);

    free(real);
    if (rc != 0 && rc != M3_ENOTFOUND && rc != M3_EINVAL && rc != M3_EIO)
        return rc;
    if (rc != 0) {
        if ((dir = strdup(path)) == NULL)
            return m3_diag_set(d, M3_ENOMEM, "out of memory");
        do {
            slash = strrchr(dir, '/');
            slash[slash == dir] = '\0';
            rc = reg_fs_confine(ctx, dir, &real, d);
            free(real);
        } while (rc != 0 && rc != M3_EINVAL && rc != M3_ENOMEM && dir[1] != '\0');
        free(dir);
        if (rc == M3_EINVAL && d != NULL) { /* named as the path asked for, not its folder */
            const char *tail = strstr(d->msg, " is outside the repository");
            char t[sizeof(d->msg)];
            snprintf(t, sizeof(t), "%s", tail != NULL ? tail : " is outside the repository");
            return m3_diag_set(d, rc, "'%s'%s", path, t);
        }
        if (rc != 0)
            return rc;
    }
    if (lstat(path, &st) != 0)
        return m3_diag_set(d, errno == ENOENT || errno == ENOTDIR ? M3_ENOTFOUND : M3_EIO,
                           "cannot read '%s': %s", path, strerror(errno));
    *type = ftype(st.st_mode);
    return 0;
}

/* fs_list: records of a type byte, the name and its NUL, in directory order. */
int
reg_fs_list(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    char *real = NULL, *p = NULL, *np;
    size_t n = 0, cap = 0, k;
    DIR *dp;
    struct dirent *e;
    struct stat st;
    int rc, e0;

    *buf = NULL;
    if ((rc = reg_fs_confine(ctx, path, &real, d)) != 0)
        return rc;
    dp = opendir(real);
    e0 = errno;
    free(real);
    if (dp == NULL)
        return m3_diag_set(d, e0 == ENOENT ? M3_ENOTFOUND : M3_EIO,
                           "cannot open the folder '%s': %s", path, strerror(e0));
    while ((errno = 0, e = readdir(dp)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        k = strlen(e->d_name);
        if (n + k + 2 > cap) {
            cap = (n + k + 2) * 2;
            if ((np = realloc(p, cap)) == NULL) {
                rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
                goto out;
            }
            p = np;
        }
        if (fstatat(dirfd(dp), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
            rc = m3_diag_set(d, M3_EIO, "'%s/%s': %s", path, e->d_name, strerror(errno));
            goto out;
        }
        p[n] = (char)ftype(st.st_mode);
        memcpy(p + n + 1, e->d_name, k + 1);
        n += k + 2;
    }
    if (errno != 0) {
        rc = m3_diag_set(d, M3_EIO, "cannot read the folder '%s': %s", path, strerror(errno));
        goto out;
    }
    *buf = p;
    *len = n;
    p = NULL;
out:
    free(p);
    closedir(dp);
    return rc;
}
