/* fsbuiltins.c: the builtins that look at the filesystem (pathExists, readDir, readFileType,
 * hashFile), through the evaluation's reader, which confines them to the repository as it
 * confines readFile and import. */
#include <stdlib.h>
#include <string.h>

#include <md5.h>
#include <sha1.h>
#include <sodium.h>

#include "registry/eval.h"
#include "registry/registry.h"

static const char *const ftype_names[] = {
    [REG_FT_REGULAR] = "regular",
    [REG_FT_DIRECTORY] = "directory",
    [REG_FT_SYMLINK] = "symlink",
    [REG_FT_UNKNOWN] = "unknown",
};

/* reader: the evaluation's reader if it can do what a builtin needs (has), else a refusal. */
static const struct reg_reader *
reader(struct reg_ctx *c, int has, const char *path, const struct reg_node *at)
{
    if (!has)
        reg_throw(c, M3_EUNSUPPORTED, at, "reading '%s' is not allowed here", path);
    return c->opts->reader;
}

#define HAS(op) (c->opts != NULL && c->opts->reader != NULL && c->opts->reader->op != NULL)

static _Noreturn void
fail(struct reg_ctx *c, int rc, const struct m3_diag *d, const char *path,
     const struct reg_node *at)
{
    reg_throw(c, rc == M3_ENOMEM ? rc : M3_EEVAL, at, "%s", d->msg[0] ? d->msg : path);
}

/* kind: 0 and *t, or M3_ENOTFOUND; other errors throw. */
static int
kind(struct reg_ctx *c, const char *path, enum reg_ftype *t, const struct reg_node *at)
{
    const struct reg_reader *r;
    struct m3_diag d = {0};
    int rc;

    r = reader(c, HAS(kind), path, at);
    rc = r->kind(r->ctx, path, t, &d);
    if (rc != 0 && rc != M3_ENOTFOUND)
        fail(c, rc, &d, path, at);
    return rc;
}

void
reg_b_pathExists(struct reg_ctx *c, const char *path, struct reg_val *out,
                 const struct reg_node *at)
{
    enum reg_ftype t;

    out->t = V_BOOL;
    out->b = kind(c, path, &t, at) == 0;
}

void
reg_b_readFileType(struct reg_ctx *c, const char *path, struct reg_val *out,
                   const struct reg_node *at)
{
    enum reg_ftype t;

    if (kind(c, path, &t, at) != 0)
        reg_throw(c, M3_EEVAL, at, "cannot read '%s': No such file or directory", path);
    *out = *reg_new_str(c, ftype_names[t], strlen(ftype_names[t]));
}

static int
entry_cmp(const void *x, const void *y)
{
    const struct reg_attr *a = x, *b = y;

    return reg_name_cmp(a->name, a->len, b->name, b->len);
}

void
reg_b_readDir(struct reg_ctx *c, const char *path, struct reg_val *out, const struct reg_node *at)
{
    const struct reg_reader *r;
    struct m3_diag d = {0};
    char *buf = NULL, *copy;
    size_t len = 0, n = 0, i, off;
    struct reg_set *set;
    int rc;

    r = reader(c, HAS(list), path, at);
    if ((rc = r->list(r->ctx, path, &buf, &len, &d)) != 0)
        fail(c, rc, &d, path, at);
    copy = reg_arena_strndup(c->arena, buf, len);
    free(buf);
    if (copy == NULL)
        reg_throw(c, M3_ENOMEM, at, "out of memory");
    for (off = 0; off < len; off += strlen(copy + off + 1) + 2)
        n++;
    set = reg_new_set(c, n);
    for (i = 0, off = 0; i < n; i++) {
        enum reg_ftype t = (enum reg_ftype)copy[off];
        set->a[i].name = copy + off + 1;
        set->a[i].len = strlen(copy + off + 1);
        set->a[i].v = reg_new_str(c, ftype_names[t], strlen(ftype_names[t]));
        set->a[i].pos = NULL;
        off += set->a[i].len + 2;
    }
    set->n = n;
    qsort(set->a, n, sizeof(set->a[0]), entry_cmp);
    out->t = V_SET;
    out->src = NULL;
    out->set = set;
}

void
reg_b_hashFile(struct reg_ctx *c, const char *algo, const char *path, struct reg_val *out,
               const struct reg_node *at)
{
    unsigned char md[64];
    char hex[129];
    size_t mdlen, len;
    char *buf;

    if (strcmp(algo, "md5") != 0 && strcmp(algo, "sha1") != 0 && strcmp(algo, "sha256") != 0 &&
        strcmp(algo, "sha512") != 0)
        reg_throw(c, M3_EEVAL, at,
                  "unknown hash algorithm '%s' (builtins.hashFile knows md5, sha1, sha256 and "
                  "sha512)",
                  algo);
    reg_read_path(c, path, at, &buf, &len);
    if (strcmp(algo, "md5") == 0) {
        MD5_CTX h;
        MD5Init(&h);
        MD5Update(&h, (const unsigned char *)buf, len);
        MD5Final(md, &h);
        mdlen = 16;
    } else if (strcmp(algo, "sha1") == 0) {
        SHA1_CTX h;
        SHA1Init(&h);
        SHA1Update(&h, (const unsigned char *)buf, len);
        SHA1Final(md, &h);
        mdlen = 20;
    } else if (strcmp(algo, "sha256") == 0) {
        crypto_hash_sha256(md, (const unsigned char *)buf, len);
        mdlen = crypto_hash_sha256_BYTES;
    } else {
        crypto_hash_sha512(md, (const unsigned char *)buf, len);
        mdlen = crypto_hash_sha512_BYTES;
    }
    sodium_bin2hex(hex, sizeof(hex), md, mdlen);
    *out = *reg_new_str(c, hex, mdlen * 2);
}
