/* gitsetup.h: wiring a git repository for secrets: `*.age diff=m3age` in .gitattributes,
 * the textconv driver in the repository's git configuration, and a pre-commit hook that
 * refuses plaintext in the secrets folder and .age files that do not match the registry. */
#ifndef M3_SECRETS_GITSETUP_H
#define M3_SECRETS_GITSETUP_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/error.h"

#define SECRETS_HOOK_MARK "git-setup --pre-commit" /* how our hook is recognised */

struct secrets_git_setup_opts {
    const char *m3age;                 /* the m3age command: "m3age" (on PATH) or a path */
    const char *const *identity_files; /* passed to the textconv command (made absolute) */
    size_t nidentity_files;
    bool force; /* replace a pre-commit hook that is not ours */
};

struct secrets_git_setup_result {
    bool attributes_added; /* .gitattributes gained the line (false: it was there) */
    bool hook_replaced;    /* a foreign hook was replaced (force) */
    char top[4096];        /* the work tree's top folder */
    char hook[4096];       /* the hook's path */
    char textconv[8192];   /* the textconv command written to the git configuration */
};

/* secrets_git_setup: run inside a git work tree. Idempotent. Errors: M3_ENOTFOUND (not a
 * git work tree), M3_ESTATE (a pre-commit hook that is not ours, without force; d names
 * it), M3_EIO. */
int secrets_git_setup(const struct secrets_git_setup_opts *o, struct secrets_git_setup_result *r,
                      struct m3_diag *d);

/* A staged file the hook refuses. */
struct secrets_hook_problem {
    char *path;    /* relative to the work tree's top */
    char *message; /* one line */
};

struct secrets_hook_result {
    struct secrets_hook_problem *v;
    size_t n;
    size_t nchecked; /* staged files examined */
};

/* secrets_precommit_check: examines the staged (index) version of every added or modified
 * file in a secrets folder (folders holding registry entries) or named *.age, against the
 * registry at `registry` (working tree version). When the registry itself is staged, the
 * staged registry is used instead, and every secret it names (as in the index) is checked
 * too: a registry change committed without its rekey is refused. Run from the work tree's
 * top. Free with secrets_hook_result_free. Errors: the registry's, M3_EIO (git failed). */
int secrets_precommit_check(const char *registry, struct secrets_hook_result **out,
                            struct m3_diag *d);
void secrets_hook_result_free(struct secrets_hook_result *r);

#endif
