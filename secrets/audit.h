/* audit.h: what could go wrong at deployment, found before it from the registry, the age
 * files' headers and the hosts' modules, with no private key (identities optional: they
 * add MAC and payload verification). Used by `m3age audit`, `m3age check` and the pre-commit
 * hook. Prints nothing: results are a list of findings for cmd/ to show. */
#ifndef M3_SECRETS_AUDIT_H
#define M3_SECRETS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/age.h"

enum secrets_severity {
    SECRETS_INFO,
    SECRETS_WARNING,
    SECRETS_ERROR,
};

/* The stable finding codes (documented in m3age-audit(1); never renumbered). */
struct secrets_code {
    const char *code; /* "M3A001" */
    enum secrets_severity severity;
    const char *title; /* "registry entry without its file" */
};
extern const struct secrets_code secrets_audit_codes[];
extern const size_t secrets_audit_ncodes;

struct secrets_finding {
    const char *code; /* static, from secrets_audit_codes */
    enum secrets_severity severity;
    char *file;    /* what it is about: a secret ("secrets/wifi.age", as in the registry), the
                      registry, a host module, an identity file */
    unsigned line; /* 1-based line in file, 0 when not applicable */
    char *host;    /* the host concerned, or NULL */
    char *message; /* one line */
};

struct secrets_audit_opts {
    const char *registry;     /* path of secrets.nix (required) */
    const char *const *hosts; /* only these hosts and the secrets they use (none: all) */
    size_t nhosts;
    struct age_identity *const *ids; /* when given: verify every MAC and payload they open */
    size_t nids;
    const char *const *identity_files; /* checked for group/other-readable permissions */
    size_t nidentity_files;
    /* check: the key the host hosts[0] really has (an "ssh-ed25519 AAAA..." line, or age1),
     * compared with its registry key; NULL to skip. */
    const char *host_key;
    /* what host_key is, for messages (e.g. "the scan of m3-aether (10.0.0.5 port 22)");
     * NULL: "--key" */
    const char *host_key_source;
    /* check without a key: compare with hosts/HOST/ssh_host_ed25519_key.pub when present */
    bool host_key_from_repo;
    /* threads reading and verifying the files (0 or 1: this thread only) */
    unsigned jobs;
    /* every secret whose file is not post-quantum protected is a finding (M3A028): for
     * repositories that are public */
    bool require_pq;
};

/* Whether a secret's file is post-quantum protected: every stanza of its header is of a
 * post-quantum type (mlkem768x25519, mlkem768p256tag), so no classical key opens it. */
enum secrets_pq_state {
    SECRETS_PQ_UNKNOWN, /* no readable header (missing, not age, refused) */
    SECRETS_PQ_NO,
    SECRETS_PQ_YES,
};

struct secrets_audit {
    struct secrets_finding *v; /* sorted by file, line, code */
    size_t n, cap;
    size_t nerrors, nwarnings, ninfos;
    size_t nsecrets;    /* registry entries examined */
    size_t nhosts;      /* hosts examined */
    bool hosts_scanned; /* false when the repository has no hosts/ folder */
    /* per examined secret, in registry order: its registry name and whether it is
     * post-quantum protected */
    struct secrets_audit_pq {
        char *file;
        enum secrets_pq_state state;
    } * pq;
    size_t npq, npq_yes;
    /* for each examined host (in order), the secrets it uses (registry names): used by
     * `check` to print one line per secret */
    struct secrets_audit_host {
        char *name;
        char **files;
        size_t nfiles;
        char **modules;  /* per file: the module that sets age.secrets.NAME.file to it */
        unsigned *lines; /* per file: the line in that module */
        bool has_key;
        char *key_source; /* what the registry key was compared with ("hosts/H/...pub",
                             "--key"), NULL when not compared */
        bool from_nix;    /* its files are Nix's answer (--nix), not the static scan's; lines
                             are then 0 */
    } * hosts;
};

/* secrets_audit_run: runs every check the options allow. *out (free with
 * secrets_audit_free) holds the findings. Errors (the audit could not run): M3_ENOTFOUND /
 * M3_EIO / M3_ESYNTAX / M3_EEVAL / M3_EINVAL (registry or host module unreadable; d says
 * which), M3_ENOTFOUND for a --host that has no folder under hosts/, M3_ENOMEM. */
int secrets_audit_run(const struct secrets_audit_opts *o, struct secrets_audit **out,
                      struct m3_diag *d);
void secrets_audit_free(struct secrets_audit *a);

/* secrets_severity_name: "error", "warning", "info". */
const char *secrets_severity_name(enum secrets_severity s);

/* secrets_is_age_bytes: whether buf starts like an age file (binary or armored). Used to
 * tell a damaged age file from one that is not age at all (possible plaintext). */
bool secrets_is_age_bytes(const unsigned char *buf, size_t len);

/* secrets_slurp: reads a whole regular file (at most 256 MiB) into malloc'd memory (not
 * secret: for ciphertext). Errors: M3_ENOTFOUND, M3_EIO (errno kept). */
int secrets_slurp(const char *path, unsigned char **buf, size_t *len);
/* secrets_slurp_fd: secrets_slurp of the open file fd, which it closes. Errors: M3_EIO. */
int secrets_slurp_fd(int fd, unsigned char **buf, size_t *len);

#endif
