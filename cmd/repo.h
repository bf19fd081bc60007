/* repo.h: glue shared by edit, rekey, decrypt and agenix mode: opening the repository,
 * loading identities and splitting the editor command, with messages printed. */
#ifndef M3_CMD_REPO_H
#define M3_CMD_REPO_H

#include <stdbool.h>
#include <stddef.h>

#include "cmd/crypt.h"
#include "secrets/repo.h"

/* m3_repo_open: opens the repository (--rules, RULES, ./secrets.nix, walking up); prints the
 * error and returns NULL on failure. */
struct secrets_repo *m3_repo_open(const char *rules_opt);

/* m3_repo_identities: loads -i files, else the default identities; prints errors. The
 * process is made non-dumpable first (prctl PR_SET_DUMPABLE 0): it holds keys from here.
 * Returns 0 or -1. *loaded gets how many files were read. */
int m3_repo_identities(const struct m3_list *files, struct keys_identities *ids, size_t *loaded);

/* m3_no_identity: the one "no identity" message of the native commands, on stderr:
 * "m3age: error: WHAT: no identity to decrypt with" (WHAT NULL: no prefix) and a hint to
 * give -i FILE naming the default keys: tried and not found, or, defaults_apply false, not
 * used because the registry does not name the file. */
void m3_no_identity(const char *what, bool defaults_apply);

/* m3_passphrase_hint: after an error whose message is msg, the hint for a protected key that
 * could not be unlocked because no terminal was there to ask on: M3AGE_PASSPHRASE. */
void m3_passphrase_hint(const char *msg);

/* m3_editor_split: splits cmd on blanks (as the shell splits an unquoted $EDITOR) into a
 * NULL-terminated malloc'd argv whose strings point into *storage (malloc'd copy). */
char **m3_editor_split(const char *cmd, char **storage);

/* m3_cwd_relative: s (a path, or a message starting with one) without the working
 * directory's absolute prefix: a pointer into s. */
const char *m3_cwd_relative(const char *s);

/* m3_default_identity_paths: pushes the default identity files that exist into l
 * (~/.ssh/id_ed25519, ~/.ssh/id_rsa); the strings are static for the run. */
void m3_default_identity_paths(struct m3_list *l);

#endif
