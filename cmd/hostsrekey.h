/* hostsrekey.h: the rekey step of `m3age hosts sync --rekey`, `hosts add --rekey` and
 * `hosts rm`: re-encrypts the secrets whose recipients a host change touched, through the
 * secrets layer's lazy, all-or-nothing rekey. */
#ifndef M3_CMD_HOSTSREKEY_H
#define M3_CMD_HOSTSREKEY_H

#include <stddef.h>

#include "cmd/crypt.h"

/* hosts_rekey: re-encrypts the registry entries names[0..n) of the registry file rules to
 * the recipients it now gives them, decrypting with the identity files idfiles (the default
 * identities when empty). Prints a line per file rewritten and a summary, or the errors.
 * Nothing is written when any file cannot be decrypted. Returns 0, or -1 (printed). */
int hosts_rekey(const char *rules, const char *const *names, size_t n,
                const struct m3_list *idfiles);

#endif
