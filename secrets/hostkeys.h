/* hostkeys.h: host public keys and the registry bindings named after the hosts.
 *
 * A host's key can come from four places:
 *   - its folder: hosts/<host>/ssh_host_ed25519_key.pub (hostkeys_host_pub_path),
 *   - a folder of <host>.pub files (hostkeys_read_file on DIR/<host>.pub),
 *   - an OpenSSH known_hosts file, hashed entries included (hostkeys_known_hosts),
 *   - the host's sshd itself (hostkeys_scan): an SSH key exchange through libssh, honouring
 *     an ssh_config file (HostName, Port), with a timeout. No authentication is attempted
 *     and nothing runs on the host.
 * and the registry side (struct hostkeys_repo) reads secrets.nix, rewrites the `let` binding
 * named after a host with the registry's format-preserving writers, and writes the file back
 * atomically.
 *
 * Keys are compared by their SSH wire encoding, never as text (comments and spacing do not
 * count). Fingerprints are written as `ssh-keygen -l` does: "SHA256:" and the unpadded base64
 * of SHA-256 of the wire key. Nothing here prints; errors come back as M3_E* with a diag. */
#ifndef M3_SECRETS_HOSTKEYS_H
#define M3_SECRETS_HOSTKEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/error.h"
#include "registry/registry.h"

#define HOSTKEYS_FP_SIZE 51         /* "SHA256:" + 43 base64 characters + NUL */
#define HOSTKEYS_DEFAULT_TIMEOUT 10 /* seconds, for hostkeys_scan */

/* One SSH public key. Owns line and wire (free with hostkey_clear). */
struct hostkey {
    char *line;          /* normalised text "TYPE BASE64" (no comment), as the registry holds it */
    unsigned char *wire; /* the SSH wire-format public key */
    size_t wire_len;
    char type[32];             /* "ssh-ed25519" or "ssh-rsa" */
    char fp[HOSTKEYS_FP_SIZE]; /* "SHA256:..." */
};

/* hostkey_parse: one key from text: "TYPE BASE64 [comment]" (authorized_keys options
 * allowed). Only key types age can encrypt to are taken (ssh-ed25519, ssh-rsa of 2048 bits or
 * more). Errors: M3_EINVAL (not a key, malformed, d says why), M3_EUNSUPPORTED (ecdsa, dsa,
 * sk-*: named in d), M3_ENOMEM. *out is untouched on error. */
int hostkey_parse(const char *text, struct hostkey *out, struct m3_diag *d);

/* hostkey_clear: frees what k owns and zeroes it. */
void hostkey_clear(struct hostkey *k);

/* hostkey_equal: true when both keys have the same wire encoding. */
bool hostkey_equal(const struct hostkey *a, const struct hostkey *b);

/* hostkey_copy: a deep copy. M3_ENOMEM. */
int hostkey_copy(struct hostkey *dst, const struct hostkey *src);

/* hostkeys_read_file: the key of a .pub file: exactly one key line, blank lines and '#'
 * comments allowed. Errors: M3_ENOTFOUND (no such file), M3_EIO, M3_EINVAL /
 * M3_EUNSUPPORTED as hostkey_parse, with "PATH: " at the start of d's message. */
int hostkeys_read_file(const char *path, struct hostkey *out, struct m3_diag *d);

/* hostkeys_host_pub_path: hostsdir/<host>/ssh_host_ed25519_key.pub, malloc'd (NULL when out
 * of memory). */
char *hostkeys_host_pub_path(const char *hostsdir, const char *host);

/* hostkeys_valid_host_name: true when name can be a host folder and a Nix binding name:
 * letters, digits, '-', '_', '.', starting with a letter or '_'. */
bool hostkeys_valid_host_name(const char *name);

/* ---- known_hosts ---------------------------------------------------------------------- */

/* hostkeys_known_hosts: every key of a type age can use that known_hosts file `path` holds
 * for any of names[0..nnames) on `port` (22 is written as the bare name, any other port as
 * "[name]:port", as ssh writes them). Plain patterns ('*', '?', '!' negation) and hashed
 * entries ("|1|salt|hash", HMAC-SHA1) are matched; @cert-authority lines are skipped and
 * keys in @revoked lines are left out. *keys is a malloc'd array of *n keys (free each with
 * hostkey_clear, then the array); a missing file gives 0 keys. Lines that do not parse are
 * skipped. Errors: M3_EIO, M3_ENOMEM. */
int hostkeys_known_hosts(const char *path, const char *const *names, size_t nnames, unsigned port,
                         struct hostkey **keys, size_t *n, struct m3_diag *d);

/* hostkeys_pick: the key to use among keys[0..n): the first ssh-ed25519, else the first
 * one; NULL when n is 0. */
const struct hostkey *hostkeys_pick(const struct hostkey *keys, size_t n);

/* hostkeys_keys_free: clears keys[0..n) and frees the array. */
void hostkeys_keys_free(struct hostkey *keys, size_t n);

/* ---- live scan ------------------------------------------------------------------------ */

struct hostkeys_scan_opts {
    const char *config; /* an ssh_config file to honour (e.g. ~/.ssh/config), or NULL */
    long timeout;       /* seconds; <= 0 means HOSTKEYS_DEFAULT_TIMEOUT */
    unsigned port;      /* 0: from the config, else 22 */
};

/* hostkeys_resolve: the address and port ssh would connect to for host, after the config's
 * HostName and Port. *hostname is malloc'd. Errors: M3_EINVAL (bad config or name),
 * M3_ENOMEM. */
int hostkeys_resolve(const char *host, const struct hostkeys_scan_opts *o, char **hostname,
                     unsigned *port, struct m3_diag *d);

/* hostkeys_scan: connects to host's sshd (resolved as hostkeys_resolve), runs the key
 * exchange preferring ssh-ed25519, and returns the server's host key. Disconnects before
 * any authentication. Errors: M3_EIO (unreachable, refused, timeout, protocol failure: d
 * names the address and the cause), M3_EUNSUPPORTED (the server offered only key types age
 * cannot use), M3_EINVAL, M3_ENOMEM. */
int hostkeys_scan(const char *host, const struct hostkeys_scan_opts *o, struct hostkey *out,
                  struct m3_diag *d);

/* ---- the registry --------------------------------------------------------------------- */

/* A secrets.nix opened for host edits. Fields are read-only for callers. */
struct hostkeys_repo {
    char *rules;    /* the registry file */
    char *root;     /* the repository root (absolute) */
    char *dir;      /* the registry's folder (absolute) */
    char *hostsdir; /* <dir>/hosts or <root>/hosts, whichever exists, else <root>/hosts */
    struct reg_reader reader;
    struct reg_eval_opts opts;
    struct reg_file *file;    /* the current text (after the edits made so far) */
    struct reg_registry *reg; /* its evaluation */
    bool dirty;               /* edits not yet written */
};

/* hostkeys_repo_open: reads and evaluates the registry at rules. Errors: as reg_load_path. */
int hostkeys_repo_open(const char *rules, struct hostkeys_repo *repo, struct m3_diag *d);

/* hostkeys_repo_close: frees what repo holds (does not write). */
void hostkeys_repo_close(struct hostkeys_repo *repo);

/* hostkeys_repo_binding: the host's key as the registry's `let` binding named after it holds
 * it. Errors: M3_ENOTFOUND (no such binding), M3_EUNSUPPORTED (bound to a list), M3_EINVAL
 * (the value is not a usable SSH key), with d naming the binding and its position. */
int hostkeys_repo_binding(const struct hostkeys_repo *repo, const char *host, struct hostkey *out,
                          struct m3_diag *d);

/* hostkeys_repo_hosts: the names of the folders under repo->hostsdir that hold a default.nix
 * or an ssh_host_ed25519_key.pub, sorted. *names is a malloc'd array of malloc'd strings.
 * A missing hosts folder gives 0 names. Errors: M3_EIO, M3_ENOMEM. */
int hostkeys_repo_hosts(const struct hostkeys_repo *repo, char ***names, size_t *n,
                        struct m3_diag *d);

/* hostkeys_repo_set_key: binds host to key (replacing the binding's string literal, or
 * adding a binding when absent). The edit is made in memory (repo->file/reg replaced);
 * write with hostkeys_repo_write. Errors: from reg_edit_set_key: M3_EUNSUPPORTED for a
 * computed or imported binding ("read-only: ..."), M3_EEVAL, M3_ENOMEM. */
int hostkeys_repo_set_key(struct hostkeys_repo *repo, const char *host, const struct hostkey *key,
                          struct m3_diag *d);

/* hostkeys_repo_add_to_list: appends the bare name host to the list literal bound to list in
 * the top `let` (e.g. `servers = [ m3-atlas ];`), keeping the list's layout. Errors:
 * M3_ENOTFOUND (no such binding), M3_EUNSUPPORTED (not a list literal), M3_EINVAL (host not
 * bound, or already in the list), M3_EEVAL (the result does not evaluate as intended). */
int hostkeys_repo_add_to_list(struct hostkeys_repo *repo, const char *list, const char *host,
                              struct m3_diag *d);

/* hostkeys_repo_rm_host: removes the binding host and every reference to it in list
 * literals (reg_edit_rm_key), and the same for HOST-pq, its post-quantum identity, when
 * bound. Errors as reg_edit_rm_key. */
int hostkeys_repo_rm_host(struct hostkeys_repo *repo, const char *host, struct m3_diag *d);

/* hostkeys_repo_secrets_with: the names of the registry entries (secrets) whose publicKeys
 * hold key, in registry order. *names is a malloc'd array of pointers into repo->reg (valid
 * until the next edit); free the array only. Errors: M3_ENOMEM. */
int hostkeys_repo_secrets_with(const struct hostkeys_repo *repo, const struct hostkey *key,
                               const char ***names, size_t *n);

/* ---- post-quantum host identities ---------------------------------------------------- *
 * A host can hold a post-quantum identity (the NixOS module's m3age.hostPqIdentity: generated
 * on the host, its age1pq1 recipient written to HOSTKEYS_PQ_REMOTE). The registry binds its
 * recipient to HOST-pq beside the SSH key bound to HOST, and the secrets the host reads list
 * HOST-pq instead of HOST (the SSH key stays: it names the host for `hosts` and `check`). */

#define HOSTKEYS_PQ_FILE "host-pq.pub"                  /* hosts/<host>/host-pq.pub */
#define HOSTKEYS_PQ_REMOTE "/var/lib/m3age/host-pq.pub" /* on the host */

/* hostkeys_pq_parse: the age1pq1 recipient in text: exactly one recipient line, blank lines
 * and '#' comments allowed (a host-pq.pub file, or what a host printed). *out is malloc'd.
 * Errors: M3_EINVAL (no line, several, not a valid age1pq1 recipient: d says why). */
int hostkeys_pq_parse(const char *text, char **out, struct m3_diag *d);

/* hostkeys_pq_read_file: hostkeys_pq_parse of the file at path. Errors: M3_ENOTFOUND, M3_EIO,
 * M3_EINVAL with "PATH: " at the start of d's message. */
int hostkeys_pq_read_file(const char *path, char **out, struct m3_diag *d);

/* hostkeys_pq_name: "HOST-pq" into buf (cap bytes). */
void hostkeys_pq_name(const char *host, char *buf, size_t cap);

/* hostkeys_repo_pq_binding: the recipient bound to HOST-pq (a pointer into repo->reg, valid
 * until the next edit), or NULL when there is none or it is not one string. */
const char *hostkeys_repo_pq_binding(const struct hostkeys_repo *repo, const char *host);

/* hostkeys_repo_uses_host: whether a list literal still references the binding HOST (the
 * secrets of a host with a PQ identity should list HOST-pq). */
bool hostkeys_repo_uses_host(const struct hostkeys_repo *repo, const char *host);

/* hostkeys_repo_set_pq: binds HOST-pq to recipient, then makes every list reference to HOST
 * a reference to HOST-pq (reg_edit_rename_ref), in memory; write with hostkeys_repo_write.
 * Errors: as reg_edit_set_key and reg_edit_rename_ref. */
int hostkeys_repo_set_pq(struct hostkeys_repo *repo, const char *host, const char *recipient,
                         struct m3_diag *d);

/* hostkeys_repo_secrets_with_text: hostkeys_repo_secrets_with for a key given as text
 * (compared exactly: age1pq1 recipients have one spelling). */
int hostkeys_repo_secrets_with_text(const struct hostkeys_repo *repo, const char *key,
                                    const char ***names, size_t *n);

/* hostkeys_repo_write: writes the edited text back atomically (reg_write_atomic) when dirty. */
int hostkeys_repo_write(struct hostkeys_repo *repo, struct m3_diag *d);

#endif
