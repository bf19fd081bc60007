/* revtree.h: a git revision's files, written into a private temporary folder for reading
 * with the same code that reads the working tree (`m3age affected`). Prints nothing. */
#ifndef M3_SECRETS_REVTREE_H
#define M3_SECRETS_REVTREE_H

#include "libage/error.h"

struct secrets_revtree {
    char *top;  /* the repository's work tree top, as git names it (absolute, links resolved) */
    char *rev;  /* the commit (full hash) */
    char *desc; /* how it was chosen: the revision as given, "merge base with origin/main",
                   "HEAD~1" */
    char *dir;  /* the private temporary folder (0700), removed by secrets_revtree_free */
    char *tree; /* dir/tree: the commit's files, with their own index in tree/.git */
};

/* secrets_revtree_open: the commit rev (NULL: the merge base of HEAD with its upstream
 * branch, else HEAD~1) of the git repository holding the folder path, written into a new
 * folder under tmp_base (NULL: /tmp) with `git read-tree` and `git checkout-index` and its own
 * index (GIT_INDEX_FILE): the repository's index and work tree are not touched, and
 * reg_trust_root sees the copy's top as a work tree's, as it sees the repository's. git runs
 * from PATH, never with a command the repository's config names (core.fsmonitor, hooks,
 * filters: the checkout reads no config but ours, so blobs are written as stored). Free (and remove
 * the folder) with secrets_revtree_free. Errors: M3_ENOTFOUND (git says path is in no repository,
 * rev is no commit, a revision starting with '-', or no default: one commit and no upstream),
 * M3_EIO (git cannot run or fails to write the files), M3_ENOMEM, M3_ECANCELED (interrupted while
 * secrets_interrupt_arm is in force: git stopped, the folder removed). */
int secrets_revtree_open(struct secrets_revtree **out, const char *path, const char *rev,
                         const char *tmp_base, struct m3_diag *d);
void secrets_revtree_free(struct secrets_revtree *t);

/* secrets_revtree_relabel: rewrites each mention of t->tree in d's message as "HASH12:" so
 * that a message about the copy names the revision. */
void secrets_revtree_relabel(const struct secrets_revtree *t, struct m3_diag *d);

/* secrets_revtree_git: runs `git -C dir ARGS...` quietly; *out (optional) gets its stdout with
 * trailing newlines cut. Errors: M3_ENOTFOUND (git exited non-zero), M3_EIO (cannot run),
 * M3_ECANCELED (interrupted: secrets/interrupt.h). */
int secrets_revtree_git(const char *dir, const char *const *args, size_t nargs, char **out,
                        struct m3_diag *d);

#endif
