/* plan.h: recipient drift between the registry and an age file's header, without private
 * keys. The one place where "which registry keys can open this file, and who else can" is
 * computed: audit, check, `m3age diff` (the rekey plan) and lazy rekey all use it.
 *
 * ssh-ed25519 and ssh-rsa stanzas, and the tagged P-256 stanzas of plugin keys (piv-p256,
 * p256tag, mlkem768p256tag), carry a tag of their key and are matched to registry keys by it.
 * X25519 and mlkem768x25519 stanzas name no key: they are compared by count, each type against
 * the entry's keys of that type (age1... and age1pq1...), so swapping a classical key for a
 * post-quantum one is seen as drift. A stanza of any other type (a
 * plugin m3age knows no tag of, scrypt) cannot be attributed to any key: it is reported as
 * unattributed, never as a recipient to remove. */
#ifndef M3_SECRETS_PLAN_H
#define M3_SECRETS_PLAN_H

#include <stdbool.h>
#include <stddef.h>

#include "keys/keys.h"
#include "libage/age.h"
#include "registry/registry.h"

enum secrets_key_kind {
    SECRETS_KEY_INVALID, /* not a recipient m3age can encrypt to (error in `error`) */
    SECRETS_KEY_X25519,  /* age1... */
    SECRETS_KEY_SSH,     /* ssh-ed25519 / ssh-rsa */
    SECRETS_KEY_PLUGIN,  /* age1PLUGIN1... (age1yubikey1...): recognised, matched by tag;
                            encryptable only when `native` (age1tag1, age1tagpq1) */
    SECRETS_KEY_PQ,      /* age1pq1... (mlkem768x25519): its stanzas name no key, like X25519 */
};

/* One distinct key text of the registry, parsed once. */
struct secrets_key {
    char *text; /* the key as written in the registry */
    /* display name, the same in every command (set by secrets_keyset_build): the first top-level
     * let binding bound to it ("m3-ares"), else the first attribute path that binds it
     * ("keys.alice", "systems.web-1"), else the key itself as written (an age1 or plugin
     * recipient whole, an SSH key without its comment) followed by the `#` comment after
     * its literal or the SSH key's comment, in parentheses */
    char *name;
    bool bound;   /* name is a binding (a let name or attribute path) */
    char **names; /* every top-level let binding whose value is exactly this key */
    size_t nnames;
    char **paths; /* every attribute path that binds it (reg_keypath), sorted */
    size_t npaths;
    enum secrets_key_kind kind;
    char ssh_type[16];   /* "ssh-ed25519", "ssh-rsa" */
    char tag[8];         /* the stanza tag (6 base64 characters) of an SSH key */
    unsigned char *wire; /* the SSH wire-format key */
    size_t wire_len;
    unsigned rsa_bits; /* modulus size of an ssh-rsa key, else 0 */
    char error[384];   /* why the key is invalid; for SECRETS_KEY_PLUGIN why m3age cannot
                          encrypt to it */
    struct keys_plugin_key plugin; /* SECRETS_KEY_PLUGIN: its plugin and tag */
    bool native; /* SECRETS_KEY_PLUGIN written as a plugin recipient but of a native type m3age
                    encrypts to (age1tag1, age1tagpq1: c2sp.org/age's tagged types) */
    /* the parsed recipient, owned by the keyset (NULL when invalid, or not parsed yet after
     * secrets_keyset_build_light): parsed once per run, so an Ed25519 key is converted to
     * X25519 once, not once per file. Its wrap reads only its state: threads may share it. */
    struct age_recipient *rcpt;
};

/* Every key of a registry: those in entries' publicKeys and those bound in the top let. */
struct secrets_keyset {
    struct secrets_key *v;
    size_t n;
    size_t *slots; /* open-addressing table of indices + 1 into v, by key text */
    struct {
        const char *p;
        struct secrets_key *key;
    } * pslots;    /* the same by the address of the registry's strings (shared by entries) */
    size_t nslots; /* of both tables */
};

/* secrets_keyset_build: parses every distinct key of r once. Invalid keys are kept (kind
 * SECRETS_KEY_INVALID) so callers can report them. Free with secrets_keyset_clear.
 * Errors: M3_ENOMEM. */
int secrets_keyset_build(struct secrets_keyset *ks, const struct reg_registry *r);
/* secrets_keyset_build_light: as secrets_keyset_build, but ssh-ed25519, ssh-rsa and age1 keys
 * only get what the drift needs (kind, wire key, tag): no recipient is built and an invalid
 * point or age1 string is not noticed until secrets_keyset_parse. For lazy rekey, which
 * needs recipients only when a file differs. Errors: M3_ENOMEM. */
int secrets_keyset_build_light(struct secrets_keyset *ks, const struct reg_registry *r);
/* secrets_keyset_parse: builds the recipient of every key not parsed yet; those that fail
 * become SECRETS_KEY_INVALID with `error` set. Not thread-safe: call before sharing ks. */
void secrets_keyset_parse(struct secrets_keyset *ks);
void secrets_keyset_clear(struct secrets_keyset *ks);
/* secrets_keyset_find: the key whose text is text, or NULL. */
const struct secrets_key *secrets_keyset_find(const struct secrets_keyset *ks, const char *text);
/* secrets_keyset_named: the key bound to the let binding `name`, or NULL. */
const struct secrets_key *secrets_keyset_named(const struct secrets_keyset *ks, const char *name);

/* secrets_keyset_bound_to: the key bound (by let name or attribute path) to `name`, or, for
 * a host name, the one key whose attribute path ends in ".NAME" (`systems.web-1` for host
 * web-1); NULL when none or several. */
const struct secrets_key *secrets_keyset_bound_to(const struct secrets_keyset *ks,
                                                  const char *name);

/* A recipient a file carries that its registry entry does not list. */
struct secrets_stale {
    const struct secrets_key *key; /* the registry key it is for (bound elsewhere), or NULL */
    char desc[160];                /* "m3-kratos", "unknown ssh-ed25519 key with tag AbCdEf" */
};

/* Stanzas of one type that no key can be told from (a plugin type m3age knows no tag of,
 * scrypt): they may be for a key of the entry. A rekey would drop them: it refuses unless
 * forced. */
struct secrets_unattributed {
    char type[48];
    size_t count;
};

/* The drift of one file against its entry: what a rekey would add and remove. */
struct secrets_drift {
    const struct secrets_key **missing; /* entry keys with no stanza in the file (ssh) */
    size_t nmissing;
    struct secrets_stale *stale; /* stanzas for no key of the entry */
    size_t nstale;
    size_t x25519_want; /* age1 keys in the entry */
    size_t x25519_have; /* X25519 stanzas in the file */
    size_t pq_want;     /* age1pq1 keys in the entry */
    size_t pq_have;     /* mlkem768x25519 stanzas in the file */
    struct secrets_unattributed *unattributed; /* by type, in header order */
    size_t nunattributed;
};

/* secrets_drift_compute: compares the stanzas of h with the keys of entry e (looked up in
 * ks, which must have been built from the same registry). Free with secrets_drift_clear.
 * Errors: M3_ENOMEM. */
int secrets_drift_compute(const struct secrets_keyset *ks, const struct reg_entry *e,
                          const struct age_header *h, struct secrets_drift *out);
void secrets_drift_clear(struct secrets_drift *dr);
/* secrets_drift_none: true when the file is encrypted to exactly the entry's keys, as far
 * as the header tells (unattributed stanzas are not counted: see secrets_drift_unattributed). */
bool secrets_drift_none(const struct secrets_drift *dr);
/* secrets_drift_unattributed: the number of unattributed stanzas of dr. */
size_t secrets_drift_unattributed(const struct secrets_drift *dr);
/* secrets_unattributed_text: "1 piv-p256 stanza" / "2 fido2-hmac stanzas" into buf. */
void secrets_unattributed_text(const struct secrets_unattributed *u, char *buf, size_t cap);

/* secrets_x25519_added_text: the plan's words for n X25519 recipients a rekey would add to a
 * file of entry e: X25519 stanzas name no key, so which of the entry's age1 keys are new
 * cannot be known: "1 X25519 recipient not in the registry before (one of: m3tam3re,
 * age1...)", every candidate by its label. malloc'd, NULL when out of memory. */
char *secrets_x25519_added_text(const struct secrets_keyset *ks, const struct reg_entry *e,
                                size_t n);
/* secrets_pq_added_text: the same for n mlkem768x25519 recipients ("1 post-quantum
 * (mlkem768x25519) recipient not in the registry before (one of: ...)"), the entry's age1pq1
 * keys. malloc'd, NULL when out of memory. */
char *secrets_pq_added_text(const struct secrets_keyset *ks, const struct reg_entry *e, size_t n);

/* secrets_drift_has_key: whether the file dr was computed for has a stanza for k, a key of
 * its entry (the answer for an X25519 key: the file has as many X25519 stanzas as the entry
 * has age1 keys), without keeping the header. */
bool secrets_drift_has_key(const struct secrets_drift *dr, const struct secrets_key *k);

/* secrets_header_has_key: whether h has a stanza for key k. For an X25519 (age1pq1) key this
 * cannot be known from the header: the answer is true when the file has at least as many
 * X25519 (mlkem768x25519) stanzas as the entry e has age1 (age1pq1) keys and e lists k. */
bool secrets_header_has_key(const struct age_header *h, const struct secrets_key *k,
                            const struct reg_entry *e);

/* secrets_key_is_pq: whether k is a post-quantum recipient (age1pq1, age1tagpq1). */
bool secrets_key_is_pq(const struct secrets_key *k);
/* secrets_key_is_classical: whether k is a recipient known to be classical (age1 X25519, SSH,
 * age1tag1 and age1yubikey P-256); false for plugins of unknown type and invalid keys. */
bool secrets_key_is_classical(const struct secrets_key *k);
/* secrets_entry_pq_mix: whether entry e lists both post-quantum and classical keys (a file
 * for it would not be post-quantum, and encryption refuses it). When it does, *first gets the
 * index in e->keys of its first classical key, and names (when not NULL) the classical keys'
 * names ("m3-ares, m3tam3re"), cut to cap. */
bool secrets_entry_pq_mix(const struct secrets_keyset *ks, const struct reg_entry *e, size_t *first,
                          char *names, size_t cap);
/* secrets_header_is_pq: whether every stanza of h (grease aside) is of a post-quantum type
 * (mlkem768x25519, mlkem768p256tag), and there is one. When not, classical (when not NULL)
 * gets the types of the others, each with its count: "2 X25519, 1 ssh-ed25519". */
bool secrets_header_is_pq(const struct age_header *h, char *classical, size_t cap);

/* secrets_mem_rd, secrets_mem_read: an age_read_fn over a buffer in memory, handed out from
 * off on; ctx is a struct secrets_mem_rd. Never fails; 0 at the end. */
struct secrets_mem_rd {
    const unsigned char *p;
    size_t len, off;
};
ssize_t secrets_mem_read(void *ctx, void *buf, size_t len);

/* secrets_header_from_buf: the header of the age file in buf (binary or armored). Binary
 * files are parsed in place (age_header_read sets up a whole decryptor, with a 1 MiB secret
 * buffer, which dominates an audit of many small files). Errors: as age_header_read. */
int secrets_header_from_buf(const unsigned char *buf, size_t len, struct age_header **out,
                            struct m3_diag *d);

#endif
