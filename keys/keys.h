/* keys.h: what users hold, turned into libage recipients and identities: recipient strings
 * and files (-r/-R: age1..., ssh-ed25519/ssh-rsa public key lines), identity files (-i: age
 * key files, OpenSSH private keys, PEM RSA keys), the ssh-to-age conversion, and matching a
 * header's stanzas to known keys without private keys. Reads files; prints nothing. */
#ifndef M3_KEYS_H
#define M3_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/age.h"

struct keys_recipients {
    struct age_recipient **v;
    size_t n, cap;
};

struct keys_identities {
    struct age_identity **v;
    size_t n, cap;
};

/* keys_recipient_parse: one recipient: "age1..." (X25519), "age1pq1..." (post-quantum
 * mlkem768x25519), or an SSH public key line
 * "[authorized_keys options] ssh-ed25519|ssh-rsa BASE64 [comment]". M3_EINVAL (malformed, or
 * a private key given), M3_EUNSUPPORTED (an SSH key type age cannot encrypt to, named in the
 * diag; RSA under 2048 bits) with a diag naming the problem. */
int keys_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d);

/* keys_recipients_add: parses s and appends it to l. */
int keys_recipients_add(struct keys_recipients *l, const char *s, struct m3_diag *d);

/* keys_recipients_parse_buf: a recipients file (one per line, '#' comments, blank lines).
 * Errors carry the 1-based line number in d->line. */
int keys_recipients_parse_buf(struct keys_recipients *l, const char *buf, size_t len,
                              struct m3_diag *d);

/* keys_recipients_load_file: reads path ("-" is not handled here) and parses it. */
int keys_recipients_load_file(struct keys_recipients *l, const char *path, struct m3_diag *d);

/* keys_recipients_push: appends r (ownership passes to l). */
int keys_recipients_push(struct keys_recipients *l, struct age_recipient *r);

void keys_recipients_clear(struct keys_recipients *l);

/* keys_identities_parse_buf: an identity file's contents: age identity lines
 * (AGE-SECRET-KEY-1... and AGE-SECRET-KEY-PQ-1..., '#' comments, blank lines), or one
 * OpenSSH/PEM private key.
 * `name` names the file in prompts and messages. cb (may be NULL) is asked for the passphrase
 * of a protected key only when a file has a stanza for it (see keys_ssh_identity_parse).
 * A public key given instead of a private one is an M3_EINVAL that says so. */
int keys_identities_parse_buf(struct keys_identities *l, const char *buf, size_t len,
                              const char *name, age_passphrase_fn cb, void *cb_ctx,
                              struct m3_diag *d);

/* keys_identities_load_file: reads path into secret memory and parses it. */
int keys_identities_load_file(struct keys_identities *l, const char *path, age_passphrase_fn cb,
                              void *cb_ctx, struct m3_diag *d);

int keys_identities_push(struct keys_identities *l, struct age_identity *id);
void keys_identities_clear(struct keys_identities *l);

/* keys_read_file: reads a whole file (at most max bytes) into secret memory (NUL-terminated;
 * free with age_secret_free). M3_EIO with errno text in d. */
int keys_read_file(const char *path, size_t max, char **out, size_t *len, struct m3_diag *d);

/* ---- SSH keys -------------------------------------------------------------------------- */

#define KEYS_PASSPHRASE_TRIES 3 /* a passphrase callback is asked at most this often per key */

/* keys_ssh_identity_parse: an identity from an OpenSSH or PEM private key file's text. `name`
 * (the file) is used in prompts and messages. A plain key is read now; a passphrase-protected
 * one gives a locked identity that asks cb (prompt: the file name, with a note on retries)
 * only when a header has a stanza whose tag is its key's, up to KEYS_PASSPHRASE_TRIES times,
 * and remembers the result for the rest of the run (never asks twice). cb returning non-zero
 * stops asking (return M3_ECANCELED when there is no terminal). Errors: M3_EINVAL (corrupted,
 * truncated, a public key), M3_EUNSUPPORTED (ecdsa, sk-*, dsa, unknown cipher), and from
 * unwrap M3_EPASSPHRASE with the file named in the diag. */
int keys_ssh_identity_parse(struct age_identity **out, const char *text, size_t len,
                            const char *name, age_passphrase_fn cb, void *cb_ctx,
                            struct m3_diag *d);
/* keys_identity_ssh_wire: the wire public key of an ssh identity (locked or not). 0, or
 * M3_EINVAL (not an ssh identity) / M3_ENOTFOUND (encrypted PEM: unknown until unlocked). */
int keys_identity_ssh_wire(const struct age_identity *id, const unsigned char **wire, size_t *len);
/* keys_identity_is_locked: true for a passphrase-protected key not unlocked yet. */
bool keys_identity_is_locked(const struct age_identity *id);

/* keys_identity_file_exposed: 1 when path is an SSH or PEM private key file that group or
 * others may read (d says so and with which mode), 0 otherwise (also for age key files and
 * non-regular files). cmd prints it as a warning, as ssh refuses such keys. */
int keys_identity_file_exposed(const char *path, struct m3_diag *d);

/* keys_convert_public: the age1 X25519 recipient derived from an ssh-ed25519 public key line,
 * as ssh-to-age computes it (u = (1 + y) / (1 - y) mod 2^255 - 19). out needs
 * AGE_X25519_RECIPIENT_LEN + 1 bytes. M3_EUNSUPPORTED for other key types, M3_EINVAL. */
int keys_convert_public(const char *line, char *out, size_t cap, struct m3_diag *d);
/* keys_convert_private: the AGE-SECRET-KEY-1... identity of an OpenSSH ed25519 private key
 * (first 32 bytes of SHA-512 of the seed, as ssh-to-age -private-key). out (secret memory of
 * AGE_X25519_IDENTITY_LEN + 1 bytes). A protected key asks cb as keys_ssh_identity_parse. */
int keys_convert_private(const char *text, size_t len, const char *name, age_passphrase_fn cb,
                         void *cb_ctx, char *out, size_t cap, struct m3_diag *d);

/* ---- Plugin and tagged recipients -------------------------------------------------------- */

/* How the stanzas of a plugin recipient name their key. */
enum keys_tag_scheme {
    KEYS_TAG_NONE,    /* no tag m3age knows: its stanzas cannot be attributed to it */
    KEYS_TAG_P256,    /* a 33-byte compressed P-256 point: piv-p256 (age-plugin-yubikey) and
                         p256tag stanzas */
    KEYS_TAG_P256_PQ, /* ML-KEM-768 key || 65-byte uncompressed P-256 point: mlkem768p256tag */
};

/* A recipient whose bech32 human-readable part is "age1" followed by a plugin name
 * (age1yubikey1..., age1tag1..., age1tagpq1..., age1fido2-hmac1...: the separator is the
 * last '1'). m3age cannot encrypt to it (its plugin does) but can tell, for the tagged
 * schemes, which stanzas are for it. */
struct keys_plugin_key {
    char plugin[48]; /* the plugin name: "yubikey", "tag", "tagpq", "fido2-hmac" */
    enum keys_tag_scheme scheme;
    unsigned char hash[4]; /* SHA-256[:4] of the P-256 point (compressed for KEYS_TAG_P256,
                              uncompressed for KEYS_TAG_P256_PQ) */
};

/* keys_plugin_parse: s as a plugin recipient. M3_ENOMATCH (d untouched) when s is not one
 * (an age1 X25519 recipient, an SSH key, anything else); M3_EINVAL when it is one but
 * malformed: a bad bech32 string, or for yubikey/tag/tagpq a payload that is not a valid
 * P-256 point of the right encoding (d says which); M3_EUNSUPPORTED when OpenSSL cannot be
 * loaded to check the point. */
int keys_plugin_parse(const char *s, struct keys_plugin_key *out, struct m3_diag *d);

/* keys_plugin_stanza_matches: whether stanza s is for the key k, by its tag: piv-p256
 * (tag = SHA-256[:4] of the point), p256tag and mlkem768p256tag (tag = HKDF-Extract-SHA-256
 * of the stanza's encapsulated key and that hash, as c2sp.org/age says). Never true for
 * KEYS_TAG_NONE. */
bool keys_plugin_stanza_matches(const struct keys_plugin_key *k, const struct age_stanza *s);

/* keys_stanza_is_tagged: whether s is of a tagged P-256 type (piv-p256, p256tag,
 * mlkem768p256tag): its first argument names its key. */
bool keys_stanza_is_tagged(const struct age_stanza *s);

/* ---- Plugins (c2sp.org/age-plugin) ------------------------------------------------------
 * A plugin recipient (age1NAME1...) or identity (AGE-PLUGIN-NAME-1...) is handled by the
 * program age-plugin-NAME found on PATH, started with --age-plugin=recipient-v1 to wrap or
 * --age-plugin=identity-v1 to unwrap. Its stderr is the user's. File keys sent to it or
 * received from it stay in secret memory. What it asks of the user goes through the
 * callbacks set with keys_plugin_set_ui (cmd/ owns the terminal); text from a plugin is
 * reduced to one printable line before it reaches them. */

struct keys_plugin_ui {
    /* msg: shows text. Returns 0 when shown, < 0 when it cannot be (the plugin gets fail). */
    int (*msg)(void *ctx, const char *plugin, const char *text);
    /* confirm: asks text with the choices yes and no (no may be NULL). 1 for yes, 0 for no,
     * < 0 when it cannot ask. */
    int (*confirm)(void *ctx, const char *plugin, const char *text, const char *yes,
                   const char *no);
    /* request: reads a value for text (echo off when secret) into buf (cap bytes, secret
     * memory), NUL-terminated. 0, or < 0 when it cannot (the plugin gets fail). */
    int (*request)(void *ctx, const char *plugin, const char *text, bool secret, char *buf,
                   size_t cap);
    void *ctx;
    /* timeout_ms: how long a plugin may stay silent while nothing is pending with the user
     * (0: forever). Once a plugin has asked the user anything, its session has no timeout. */
    int timeout_ms;
};
#define KEYS_PLUGIN_TIMEOUT_DEFAULT_MS 30000

/* keys_plugin_set_ui: the callbacks every plugin session of the process uses (copied).
 * Without them, msg/confirm/request get fail and the timeout is the default. */
void keys_plugin_set_ui(const struct keys_plugin_ui *ui);

/* keys_plugin_find: the path of age-plugin-NAME in PATH's absolute folders into out (cap
 * bytes; out may be NULL to only check). M3_ENOTFOUND (d says so), M3_EINVAL for a name that
 * cannot be a file name. */
int keys_plugin_find(const char *name, char *out, size_t cap, struct m3_diag *d);

/* keys_plugin_recipient_new: a recipient for the plugin recipient text s of plugin `plugin`
 * (as keys_plugin_parse found). Its wrap runs one recipient-v1 session. M3_ENOTFOUND when
 * age-plugin-NAME is not on PATH (checked now, so that a missing plugin stops a command
 * before it writes anything). Wrap errors: M3_EIO (the plugin crashed, timed out, spoke
 * garbage), M3_EINVAL (it reported an error, or sent more stanzas than recipients). */
int keys_plugin_recipient_new(struct age_recipient **out, const char *s, const char *plugin,
                              struct m3_diag *d);

/* keys_plugin_wrap_prefetch: wraps the file keys of n files ahead of their encryption: file
 * f goes to rcpts[f] (nr[f] recipients, any types) with the 16-byte file key keys[f] (secret
 * memory, which the encryption then uses: age_encrypt_opts.file_key). One recipient-v1
 * session per plugin and set of its recipients, for all files at once; the stanzas are kept
 * by the plugin recipients and given by their wrap of that file key (once). Errors: the
 * sessions' (as wrap); then nothing is kept for the files of the failed session. */
int keys_plugin_wrap_prefetch(struct age_recipient *const *const *rcpts, const size_t *nr,
                              const unsigned char *const *keys, size_t n, struct m3_diag *d);

/* keys_plugin_identity_parse: an AGE-PLUGIN-NAME-1... identity line (M3_ENOMATCH, d untouched,
 * when s is not one; M3_EINVAL when malformed). The plugin is looked up when first needed.
 * Identities of the same plugin share one session: the first unwrap of a header runs one
 * identity-v1 session with all of them. A plugin failure (crash, timeout, garbage, a file key
 * of the wrong length, an error it reports) makes unwrap return M3_ENOMATCH with d naming
 * the cause, so that the next identity is tried, as the spec allows. */
int keys_plugin_identity_parse(struct age_identity **out, const char *s, struct m3_diag *d);

/* keys_plugin_identity_default: the identity `AGE-PLUGIN-NAME-1` with no data (age -j NAME). */
int keys_plugin_identity_default(struct age_identity **out, const char *name, struct m3_diag *d);

/* keys_identity_is_plugin: whether id is a plugin identity. */
bool keys_identity_is_plugin(const struct age_identity *id);
/* keys_identity_plugin_name: the plugin name of a plugin identity ("m3test"), else NULL.
 * Valid as long as id. */
const char *keys_identity_plugin_name(const struct age_identity *id);

/* keys_plugin_prefetch: runs one identity-v1 session per plugin among ids with the stanzas
 * of all n headers, and keeps the file keys it returns (secret memory) for the unwraps of
 * those headers that follow. So a run over many files starts each plugin once and the user
 * is asked for a PIN or touch once. Headers already seen are not sent again. Failures are
 * kept as the unwraps' results; returns 0 or M3_ENOMEM. Thread-safe with unwrap. */
int keys_plugin_prefetch(struct age_identity *const *ids, size_t nids,
                         const struct age_header *const *hdrs, size_t n, struct m3_diag *d);

/* ---- Matching stanzas to known keys (keys inspect, audit, lazy rekey) ------------------ */

/* A set of named keys: SSH public keys match ssh-* stanzas by tag; X25519 identities match
 * X25519 stanzas by trying to unwrap them (no MAC check); age1 recipients are listed but
 * cannot be matched (X25519 stanzas carry no tag). */
struct keys_known_key {
    char *name;          /* display name: a file, a recipient, a registry key name */
    char *recipient;     /* its recipient text (age1... or "ssh-... AAAA"), or NULL */
    unsigned char *wire; /* SSH wire public key, or NULL */
    size_t wire_len;
    struct age_identity *id; /* owned: X25519 identities (for trial unwrapping), or NULL */
    bool is_plugin;          /* a plugin recipient: matched by plugin's tag */
    struct keys_plugin_key plugin;
};
struct keys_known {
    struct keys_known_key *v;
    size_t n, cap;
};

/* keys_known_add_recipient: a recipient text (age1..., a plugin recipient such as
 * age1yubikey1..., or an SSH public key line) under `name` (for registries: the key's
 * binding name). Errors as keys_recipient_parse and keys_plugin_parse. */
int keys_known_add_recipient(struct keys_known *k, const char *name, const char *text,
                             struct m3_diag *d);
/* keys_known_add_identity: an identity (ownership passes to k on success) under `name`. */
int keys_known_add_identity(struct keys_known *k, const char *name, struct age_identity *id);
/* keys_known_match: the known keys a stanza is for (indices into k->v, at most cap), by tag
 * or trial unwrap. Returns the count. */
size_t keys_known_match(const struct keys_known *k, const struct age_stanza *s, size_t *idx,
                        size_t cap);
void keys_known_clear(struct keys_known *k);

#endif
