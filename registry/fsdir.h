/* fsdir.h: the filesystem reader's parts shared by fsio.c and fsdir.c (internal to
 * registry/). ctx is the reader's context (reg_reader_fs, reg_reader_repo). */
#ifndef M3_REGISTRY_FSDIR_H
#define M3_REGISTRY_FSDIR_H

#include "registry/registry.h"

/* reg_fs_confine: real (PATH_MAX bytes) is path with every symlink resolved, which must be
 * inside the reader's root: 0, M3_ENOTFOUND, M3_EIO, or M3_EINVAL (outside), d filled. */
int reg_fs_confine(void *ctx, const char *path, char *real, struct m3_diag *d);
/* The reader's kind and list operations (struct reg_reader). */
int reg_fs_kind(void *ctx, const char *path, enum reg_ftype *type, struct m3_diag *d);
int reg_fs_list(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d);

#endif
