/* hosts.h: what the files of `m3age hosts` share (cmd/hosts.c: the options, the dispatcher
 * and the helpers below; hosts_list.c, hosts_sync.c, hosts_add.c, hosts_rm.c: one subcommand
 * each). Internal to cmd/. */
#ifndef M3_CMD_HOSTS_H
#define M3_CMD_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "cmd/cmd.h"
#include "cmd/hostsrekey.h"
#include "secrets/hostkeys.h"

struct hosts_opts {
    const char *rules;
    const char *from;      /* --from DIR */
    bool known_hosts;      /* --known-hosts */
    bool scan;             /* --scan */
    bool rekey, no_rekey;  /* --rekey, --no-rekey */
    bool dry_run;          /* --dry-run */
    bool accept_new;       /* --accept-new */
    bool json, all;        /* list: --json, --all */
    bool pq;               /* sync: --pq (the hosts' post-quantum recipients) */
    long timeout;          /* --timeout */
    const char *lists[32]; /* --to LIST */
    size_t nlists;
    struct m3_list ids;     /* -i FILE */
    char *ssh_config;       /* ~/.ssh/config */
    char *known_hosts_path; /* ~/.ssh/known_hosts */
    char **args;
    int nargs;
};

struct hosts_ctx {
    struct hosts_opts *o;
    struct hostkeys_repo repo;
    struct hostkeys_scan_opts scan;
};

/* ---- the subcommands: each runs on an open registry and returns the exit status ---------- */

int hosts_list(struct hosts_ctx *c);
int hosts_sync(struct hosts_ctx *c);
int hosts_add(struct hosts_ctx *c);
int hosts_rm(struct hosts_ctx *c);

/* ---- shared helpers (cmd/hosts.c) -------------------------------------------------------- */

/* hosts_usage_error: prints the usage error and the --help hint; returns M3_EXIT_USAGE. */
int hosts_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* hosts_rel: path relative to the registry's folder when inside it, for shorter messages. */
const char *hosts_rel(const struct hosts_ctx *c, const char *path);

enum kh_verdict { KH_ABSENT, KH_SAME, KH_DIFFERS };

/* hosts_known_hosts_check: what ~/.ssh/known_hosts says of key for host (by its name, and by
 * the address its ssh config resolves it to). *other (when not NULL) gets a known key when it
 * differs. */
enum kh_verdict hosts_known_hosts_check(const struct hosts_ctx *c, const char *host,
                                        const struct hostkey *key, struct hostkey *other);

/* hosts_source_key: the host's key from the chosen source (hosts/, --from, --known-hosts,
 * --scan); origin describes where it came from. Errors are printed; returns the M3_E* code
 * (M3_ENOTFOUND when the source has no key, said only when not quiet_missing). */
int hosts_source_key(struct hosts_ctx *c, const char *host, struct hostkey *k, char *origin,
                     size_t cap, bool quiet_missing);

/* hosts_tofu_ok: for a scanned key, the known_hosts rule: a key that differs from the one ssh
 * already trusts is not taken without --accept-new. Prints why. */
bool hosts_tofu_ok(const struct hosts_ctx *c, const char *host, const struct hostkey *k);

/* hosts_rekey_ready: whether the rekey of n secrets that is to follow a registry write can
 * run (want: it is asked for), checked before the write; says why not. skip_opt is how to
 * change the registry alone. */
bool hosts_rekey_ready(struct hosts_ctx *c, size_t n, bool want, const char *skip_opt);

/* hosts_rekey_after: after the registry changed, re-encrypts names[0..n) (want), lists them
 * (--dry-run) or says how to. Returns 0, or -1 (printed). */
int hosts_rekey_after(struct hosts_ctx *c, const char *host, const char **names, size_t n,
                      bool want);

/* hosts_strv_dup: malloc'd copies of v[0..n), NULL-terminated (the registry's strings die
 * with the next edit); NULL when out of memory. hosts_strv_free frees them. */
char **hosts_strv_dup(const char **v, size_t n);
void hosts_strv_free(char **v, size_t n);

#endif
