/* revtree.c: a git revision's files in a private temporary folder (see revtree.h). */
#include "secrets/revtree.h"
#include "secrets/diff.h"
#include "secrets/interrupt.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
secrets_revtree_git(const char *dir, const char *const *args, size_t nargs, char **out,
                    struct m3_diag *d)
{
    /* the repository may be untrusted: no fsmonitor command, no hook (read-only plumbing
     * runs neither today; this keeps it so) */
    const char *argv[20] = {"git", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null",
                            "-C",  dir};
    char *buf = NULL;
    size_t len = 0, n = 7;
    int status = 0, rc;

    for (size_t i = 0; i < nargs && n < 19; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    if ((rc = secrets_run_capture(argv, true, &buf, &len, &status, d)) != 0)
        return rc;
    if ((rc = secrets_interrupt_check(d)) != 0) { /* git was stopped: its status means nothing */
        free(buf);
        return rc;
    }
    if (status != 0) {
        free(buf);
        return m3_diag_set(d, M3_ENOTFOUND, "git %s failed (status %d)", args[0], status);
    }
    while (len > 0 && buf != NULL && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    if (out != NULL)
        *out = buf;
    else
        free(buf);
    return 0;
}

/* resolve_rev: the commit to compare with, and how it was chosen. */
static int
resolve_rev(const char *top, const char *rev, char **hash, char **desc, struct m3_diag *d)
{
    char *spec = NULL, *up = NULL;
    int rc;

    if (rev != NULL) {
        if (rev[0] == '-' || asprintf(&spec, "%s^{commit}", rev) < 0)
            return m3_diag_set(d, M3_ENOTFOUND, "'%s' is not a revision", rev);
        rc = secrets_revtree_git(top, (const char *[]){"rev-parse", "--verify", "--quiet", spec}, 4,
                                 hash, d);
        free(spec);
        if (rc != 0)
            return m3_diag_set(d, M3_ENOTFOUND, "'%s': no such revision in %s", rev, top);
        return (*desc = strdup(rev)) ? 0 : M3_ENOMEM;
    }
    if (secrets_revtree_git(
            top,
            (const char *[]){"rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}"}, 4,
            &up, NULL) == 0 &&
        secrets_revtree_git(top, (const char *[]){"merge-base", "HEAD", "@{upstream}"}, 3, hash,
                            NULL) == 0) {
        rc = asprintf(desc, "merge base with %s", up) < 0 ? M3_ENOMEM : 0;
        free(up);
        return rc;
    }
    free(up);
    if (secrets_revtree_git(top,
                            (const char *[]){"rev-parse", "--verify", "--quiet", "HEAD~1^{commit}"},
                            4, hash, NULL) == 0)
        return (*desc = strdup("HEAD~1")) ? 0 : M3_ENOMEM;
    if (secrets_revtree_git(top,
                            (const char *[]){"rev-parse", "--verify", "--quiet", "HEAD^{commit}"},
                            4, NULL, NULL) != 0)
        return m3_diag_set(d, M3_ENOTFOUND, "%s: the repository has no commit to compare with",
                           top);
    return m3_diag_set(d, M3_ENOTFOUND,
                       "%s: the repository has one commit and its branch no upstream: nothing to "
                       "compare with by default (name a revision)",
                       top);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

/* extract: the tree of commit hash into dir/tree, with its own index in dir/tree/.git (read
 * by reg_trust_root as a work tree's, so the revision's files are confined to the same root
 * as the working tree's): `git read-tree` and `git checkout-index` with dir/tree/.git as
 * their repository (GIT_DIR, its index there) and the repository's object folder
 * (GIT_OBJECT_DIRECTORY), so neither the repository's index nor its work tree is touched.
 * The repository may be untrusted, and a checkout runs commands its config names (a smudge
 * or process filter that the commit's .gitattributes selects, core.fsmonitor): the
 * repository's own config and info/attributes are therefore not read (the private GIT_DIR
 * has a config of ours), nor the user's global and the system config
 * (GIT_CONFIG_GLOBAL=/dev/null, GIT_CONFIG_NOSYSTEM, GIT_ATTR_NOSYSTEM), so a filter the
 * commit's .gitattributes names has no driver and the blobs are written as stored. */
static int
extract(const char *top, const char *hash, const char *dir, struct m3_diag *d)
{
    char tree[PATH_MAX], gitdir[PATH_MAX], path[PATH_MAX + 16];
    char *fmt = NULL, *objects = NULL, *e_dir = NULL, *e_wt = NULL, *e_ix = NULL, *e_obj = NULL;
    int status = 0, rc = 0;
    FILE *f;

    if ((size_t)snprintf(tree, sizeof(tree), "%s/tree", dir) >= sizeof(tree) ||
        (size_t)snprintf(gitdir, sizeof(gitdir), "%s/.git", tree) >= sizeof(gitdir))
        return m3_diag_set(d, M3_EIO, "%s: path too long", dir);
    if (mkdir(tree, 0700) != 0 || mkdir(gitdir, 0700) != 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", tree, strerror(errno));
    /* the object folder as an absolute path (a linked work tree's: the common one's) */
    if ((rc = secrets_revtree_git(
             top, (const char *[]){"rev-parse", "--path-format=absolute", "--git-path", "objects"},
             4, &objects, d)) != 0)
        return rc == M3_ENOTFOUND ? m3_diag_set(d, M3_EIO, "%s: git names no object folder", top)
                                  : rc;
    /* a SHA-256 repository's index is read with its hash length when the config says so */
    if (secrets_revtree_git(top, (const char *[]){"rev-parse", "--show-object-format"}, 2, &fmt,
                            NULL) != 0) {
        free(fmt);
        fmt = NULL;
    }
    /* the private repository: HEAD, refs/ and a config of ours (GIT_DIR needs the three) */
    snprintf(path, sizeof(path), "%s/refs", gitdir);
    if (mkdir(path, 0700) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/HEAD", gitdir);
    if ((f = fopen(path, "w")) == NULL || fputs("ref: refs/heads/m3age\n", f) < 0 ||
        fclose(f) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    snprintf(path, sizeof(path), "%s/config", gitdir);
    if ((f = fopen(path, "w")) == NULL ||
        (fmt != NULL && strcmp(fmt, "sha1") != 0
             ? fprintf(f,
                       "[core]\n\trepositoryformatversion = 1\n[extensions]\n\tobjectformat = %s\n",
                       fmt)
             : fprintf(f, "[core]\n\trepositoryformatversion = 0\n")) < 0 ||
        fclose(f) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (asprintf(&e_dir, "GIT_DIR=%s", gitdir) < 0 ||
        asprintf(&e_wt, "GIT_WORK_TREE=%s", tree) < 0 ||
        asprintf(&e_ix, "GIT_INDEX_FILE=%s/index", gitdir) < 0 ||
        asprintf(&e_obj, "GIT_OBJECT_DIRECTORY=%s", objects) < 0) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    const char *rt[] = {"env",
                        "-u",
                        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
                        "-u",
                        "GIT_CONFIG",
                        "-u",
                        "GIT_CONFIG_PARAMETERS",
                        "-u",
                        "GIT_CONFIG_COUNT",
                        e_dir,
                        e_wt,
                        e_ix,
                        e_obj,
                        "GIT_CONFIG_NOSYSTEM=1",
                        "GIT_CONFIG_GLOBAL=/dev/null",
                        "GIT_ATTR_NOSYSTEM=1",
                        "git",
                        "-c",
                        "core.fsmonitor=false",
                        "-c",
                        "core.hooksPath=/dev/null",
                        "read-tree",
                        hash,
                        NULL};
    for (int i = 0; i < 2; i++) {
        if (i == 1) { /* the same environment: `git checkout-index --all` */
            rt[21] = "checkout-index";
            rt[22] = "--all";
        }
        if ((rc = secrets_run_capture(rt, true, NULL, NULL, &status, d)) != 0 ||
            (rc = secrets_interrupt_check(d)) != 0)
            goto out;
        if (status != 0) {
            rc = m3_diag_set(d, M3_EIO, "git %s of %.12s failed (status %d)",
                             i == 0 ? "read-tree" : "checkout-index", hash, status);
            goto out;
        }
    }
out:
    free(fmt);
    free(objects);
    free(e_dir);
    free(e_wt);
    free(e_ix);
    free(e_obj);
    return rc;
}

int
secrets_revtree_open(struct secrets_revtree **out, const char *path, const char *rev,
                     const char *tmp_base, struct m3_diag *d)
{
    struct secrets_revtree *t = calloc(1, sizeof(*t));
    int rc;

    *out = NULL;
    if (t == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if ((rc = secrets_revtree_git(path, (const char *[]){"rev-parse", "--show-toplevel"}, 2,
                                  &t->top, d)) != 0) {
        if (rc == M3_ENOTFOUND) /* git ran and said no (else d says why it could not run) */
            m3_diag_set(d, rc, "%s: not in a git repository", path);
        goto out;
    }
    if ((rc = resolve_rev(t->top, rev, &t->rev, &t->desc, d)) != 0)
        goto out;
    if (asprintf(&t->dir, "%s/m3age-rev.XXXXXX", tmp_base ? tmp_base : "/tmp") < 0) {
        t->dir = NULL;
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    if (mkdtemp(t->dir) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", t->dir, strerror(errno));
        free(t->dir);
        t->dir = NULL;
        goto out;
    }
    if (asprintf(&t->tree, "%s/tree", t->dir) < 0) {
        t->tree = NULL;
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    rc = extract(t->top, t->rev, t->dir, d);
out:
    /* an interruption is what made git fail, whatever the message says (resolve_rev
     * rewrites its errors) */
    if (rc != 0 && secrets_interrupted())
        rc = secrets_interrupt_check(d);
    if (rc != 0)
        secrets_revtree_free(t);
    else
        *out = t;
    return rc;
}

void
secrets_revtree_free(struct secrets_revtree *t)
{
    if (t == NULL)
        return;
    if (t->dir != NULL)
        nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(t->top);
    free(t->rev);
    free(t->desc);
    free(t->dir);
    free(t->tree);
    free(t);
}

void
secrets_revtree_relabel(const struct secrets_revtree *t, struct m3_diag *d)
{
    const char *tree = t->tree, *hash = t->rev;
    char msg[sizeof(d->msg)], *at;
    size_t tl = strlen(tree);

    while (d != NULL && (at = strstr(d->msg, tree)) != NULL) {
        snprintf(msg, sizeof(msg), "%.*s%.12s:%s", (int)(at - d->msg), d->msg, hash,
                 at[tl] == '/' ? at + tl + 1 : at + tl);
        snprintf(d->msg, sizeof(d->msg), "%s", msg);
    }
}
