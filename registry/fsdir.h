/* fsdir.h: the filesystem reader's parts shared by fsio.c and fsdir.c (internal to
 * registry/). ctx is the reader's context (reg_reader_fs, reg_reader_repo). */
#ifndef M3_REGISTRY_FSDIR_H
#define M3_REGISTRY_FSDIR_H

#include "registry/registry.h"

/* reg_fs_root: the reader's root (reg_trust_root of its folder, found on first use; the
 * root given to reg_reader_fs), owned by the reader. Errors: those of reg_trust_root. */
int reg_fs_root(void *ctx, const char **root, struct m3_diag *d);
/* reg_fs_confine: reg_confine (the one confinement rule) with the reader's root: *real
 * (malloc'd, NULL on error) is path with every link resolved, inside that root. Errors:
 * M3_ENOTFOUND, M3_EIO, M3_EINVAL (outside), M3_ENOMEM, d filled. */
int reg_fs_confine(void *ctx, const char *path, char **real, struct m3_diag *d);
/* The reader's kind and list operations (struct reg_reader). */
int reg_fs_kind(void *ctx, const char *path, enum reg_ftype *type, struct m3_diag *d);
int reg_fs_list(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d);

#endif
