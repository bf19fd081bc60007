/* affected.h: which hosts a change touches, for secrets. Compares a git revision of the
 * repository with the working tree: the registry evaluated at both (with what it imports, at
 * each), the age files' headers and bytes (no key), and the host modules' secret
 * definitions. Used by `m3age affected` to name the hosts a CI job must check. Prints
 * nothing. */
#ifndef M3_SECRETS_AFFECTED_H
#define M3_SECRETS_AFFECTED_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/error.h"

struct secrets_affected_opts {
    const char *registry; /* path of secrets.nix in the working tree (required) */
    const char *rev;      /* the revision to compare with; NULL: the default (see below) */
    const char *tmp_base; /* folder for the revision's extracted tree (NULL: /tmp) */
};

/* One host whose deployed secrets differ, with why (one line each, e.g.
 * "secrets/wifi.age: re-encrypted to other recipients"). */
struct secrets_affected_host {
    char *name;
    char **reasons;
    size_t nreasons;
};

struct secrets_affected {
    char *rev;      /* the commit compared with (full hash) */
    char *rev_desc; /* how it was chosen: "REV", "merge base with origin/main", "HEAD~1" */
    struct secrets_affected_host *hosts; /* affected hosts only, sorted by name */
    size_t nhosts;
    size_t nhosts_seen; /* hosts at either revision */
    char **changed;     /* registry names of secrets that changed in any way, sorted */
    size_t nchanged;
};

/* secrets_affected_run: compares opts->rev (default: the merge base of HEAD with its
 * upstream branch, else HEAD~1) with the working tree. The revision's tree is written into a
 * private temporary folder with its own index (`git read-tree`, `git checkout-index`: the
 * repository's index and work tree are not touched; the folder is removed before
 * returning); it holds no plaintext. A host is affected when, between the two, a secret
 * file its modules use changed (bytes or header recipients), that secret's registry entry
 * was added, removed or changed (publicKeys, armor), the files its modules use changed, or
 * one of its modules that defines age.secrets changed; a host whose modules name a secret
 * file the scan cannot resolve is affected by any secret change. Secret files are read as
 * edit reads them: inside the trusted root, never through a link (a link is an error).
 * *out is freed with secrets_affected_free.
 * Errors: M3_ENOTFOUND (not a git repository, an unknown revision, or no default: a
 * repository with one commit and no upstream; d says which), M3_EINVAL (a secret that is a
 * link), the registry's and the host scan's errors at either revision (a revision's are
 * prefixed "REV:"), M3_EIO, M3_ENOMEM, M3_ECANCELED (SIGINT, SIGTERM or SIGHUP during the
 * run: it stops, removes the folder and returns; secrets_interrupted() names the signal,
 * for the caller to end the process with). */
int secrets_affected_run(const struct secrets_affected_opts *o, struct secrets_affected **out,
                         struct m3_diag *d);
void secrets_affected_free(struct secrets_affected *a);

#endif
