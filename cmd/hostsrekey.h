/* hostsrekey.h: the rekey step of `m3age hosts sync --rekey` and `hosts rm`: re-encrypts
 * the secrets a changed host key could read to their registry recipients. */
#ifndef M3_CMD_HOSTSREKEY_H
#define M3_CMD_HOSTSREKEY_H

#include <stddef.h>

/* The -i IDENTITY files given on the command line (the strings are argv's). */
struct hosts_rekey_ids {
    const char **v;
    size_t n;
};

/* hosts_rekey_ids_add: appends path. 0, or -1 after printing an error. */
int hosts_rekey_ids_add(struct hosts_rekey_ids *ids, const char *path);
void hosts_rekey_ids_free(struct hosts_rekey_ids *ids);

/* hosts_rekey: re-encrypts the registry entries names[0..n) of the registry rules to their
 * current recipients, decrypting with ids (default identities when none). Prints what it
 * does. Returns 0, or -1 after printing an error. */
int hosts_rekey(const char *rules, const char *const *names, size_t n,
                const struct hosts_rekey_ids *ids);

#endif
