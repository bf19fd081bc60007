/* hostscan.h: which secret files each host's modules use, read syntactically from
 * hosts/<host>/ ** / *.nix (no evaluation).
 *
 * registry.h declares reg_hosts_scan() for this; until the registry layer provides it,
 * secrets_hosts_scan() fills the same struct reg_hosts so callers switch with one line. */
#ifndef M3_SECRETS_HOSTSCAN_H
#define M3_SECRETS_HOSTSCAN_H

#include "registry/registry.h"

/* secrets_hosts_scan: scans root/hosts/<host>/ recursively for *.nix files and records, per
 * host, every `age.secrets.NAME.file = VALUE` (also written as nested sets, under `config.`,
 * inside mkIf/mkMerge applications or lists). VALUE resolves when it is a relative path
 * literal (against the module's folder) or "${self}/x" / "${inputs.X}/x" (against root);
 * other values are listed as unresolved with their text and position. Hosts and their
 * secrets are sorted. *out is freed with secrets_hosts_free. Errors: M3_ENOTFOUND (no
 * hosts/ folder), M3_ESYNTAX (a module that does not parse; d names it), M3_EIO, M3_ENOMEM. */
int secrets_hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d);
void secrets_hosts_free(struct reg_hosts *h);

#endif
