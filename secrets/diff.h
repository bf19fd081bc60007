/* diff.h: what changes between versions of secrets, in memory: the recipient plan (what a
 * rekey would add and remove per secret), plaintext diffs between git revisions, and the
 * git plumbing `m3age diff` and `m3age git-setup` share. Prints nothing: output goes to the
 * file descriptors the caller passes. */
#ifndef M3_SECRETS_DIFF_H
#define M3_SECRETS_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/age.h"

enum secrets_plan_state {
    SECRETS_PLAN_SAME,    /* encrypted to exactly the registry's keys */
    SECRETS_PLAN_CHANGE,  /* a rekey would add or remove recipients */
    SECRETS_PLAN_MISSING, /* no file: nothing to rekey */
    SECRETS_PLAN_BROKEN,  /* unreadable or not a valid age file (error says why) */
};

struct secrets_plan_item {
    char *file; /* the registry name */
    enum secrets_plan_state state;
    char **add; /* registry names of keys a rekey would add */
    size_t nadd;
    char **remove; /* names (or "unknown ... key with tag ...") a rekey would remove; a key no
                      binding names is shown whole (see secrets_key.name) */
    size_t nremove;
    size_t x25519_want, x25519_have; /* age1 keys listed / X25519 stanzas in the file */
    /* when x25519_want > x25519_have: "1 X25519 recipient not in the registry before (one
     * of: NAME, age1...)" (secrets_x25519_added_text), else NULL */
    char *x25519_added;
    size_t pq_want, pq_have; /* age1pq1 keys listed / mlkem768x25519 stanzas in the file */
    char *pq_added;          /* the same as x25519_added (secrets_pq_added_text) */
    char **unattributed; /* "1 piv-p256 stanza": stanzas no key can be told from, which a
                            rekey keeps (it refuses to drop them unless forced) */
    size_t nunattributed;
    char *error;
};

struct secrets_plan {
    struct secrets_plan_item *v; /* in registry order */
    size_t n;
    size_t nchange; /* items in SECRETS_PLAN_CHANGE */
};

/* secrets_plan_build: the recipient plan of every entry of the registry at `registry`
 * (headers only, no key). Free with secrets_plan_free. Errors: the registry's (d says
 * where), M3_ENOMEM. */
int secrets_plan_build(const char *registry, struct secrets_plan **out, struct m3_diag *d);
void secrets_plan_free(struct secrets_plan *p);

/* secrets_decrypt_mem: decrypts the age file in ct (binary or armored) with ids into *pt,
 * secret memory (free with age_secret_free; *pt_len its length). Errors: as age_decrypt. */
int secrets_decrypt_mem(const unsigned char *ct, size_t len, struct age_identity *const *ids,
                        size_t nids, unsigned char **pt, size_t *pt_len, struct m3_diag *d);

/* secrets_run_capture: runs argv (argv[0] looked up in PATH) with stdin from /dev/null and
 * stdout captured into *out (malloc'd, NUL-terminated; may be NULL), stderr inherited unless
 * quiet. *status gets the exit status (or 128 + signal). Errors: M3_EIO (cannot run). */
int secrets_run_capture(const char *const *argv, bool quiet, char **out, size_t *len, int *status,
                        struct m3_diag *d);

/* secrets_git_blob: the bytes of `path` (relative to the working directory) at git
 * revision rev ("" for the index), through `git show REV:./PATH`. *found is false (and 0
 * returned) when the revision exists but has no such file. Errors: M3_ENOTFOUND (not a git
 * repository or an unknown revision; d has git's words), M3_EIO. */
int secrets_git_blob(const char *rev, const char *path, unsigned char **out, size_t *len,
                     bool *found, struct m3_diag *d);

/* secrets_unified_diff: writes the unified diff of two plaintexts to out_fd by running
 * `diff -u` on two memfd files named through /proc/self/fd: no plaintext touches a disk.
 * label_a/label_b name the sides; color: --color=always. Returns 0 when equal, 1 when they
 * differ, or M3_EIO. */
int secrets_unified_diff(const unsigned char *a, size_t alen, const char *label_a,
                         const unsigned char *b, size_t blen, const char *label_b, bool color,
                         int out_fd, struct m3_diag *d);

#endif
