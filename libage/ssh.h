/* ssh.h: the ssh-ed25519 and ssh-rsa recipient types, as the reference Go implementation
 * (filippo.io/age/agessh) defines them, and the SSH wire-format helpers they need.
 *
 * Stanzas of both types carry a tag: the first 4 bytes of SHA-256 of the key's SSH
 * wire-format public key (RFC 4253 section 6.6), base64 without padding. The tag lets a header
 * be matched to public keys without any private key (audit, lazy rekey, lazy unlock).
 *
 *   -> ssh-ed25519 TAG b64(ephemeral X25519 share)     body: ChaCha20-Poly1305(file key)
 *   -> ssh-rsa TAG                                     body: RSA-OAEP-SHA-256(file key)
 *
 * libage does no file I/O: parsing key files is keys/' job; these functions take raw keys. */
#ifndef M3_AGE_SSH_H
#define M3_AGE_SSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "libage/age.h"

#define AGE_SSH_TAG_SIZE 4          /* bytes of SHA-256 kept in the tag */
#define AGE_SSH_TAG_LEN 6           /* characters of the base64 tag */
#define AGE_SSH_RSA_MIN_BITS 2048   /* smaller RSA keys are refused (as Go age does) */
#define AGE_SSH_ED25519_WIRE_LEN 51 /* string "ssh-ed25519" + string key(32) */

/* ---- SSH wire format (RFC 4251 section 5) --------------------------------------------- */

/* A cursor over a buffer of SSH wire data. Reads never go past end. */
struct age_ssh_buf {
    const unsigned char *p;
    size_t len;
};

/* age_ssh_get_u32: reads a big-endian uint32. Returns 0 or M3_EINVAL when too short. */
int age_ssh_get_u32(struct age_ssh_buf *b, uint32_t *v);
/* age_ssh_get_string: reads a uint32-length-prefixed string; *s points into the buffer (not
 * NUL-terminated). Returns 0 or M3_EINVAL when the length runs past the end. */
int age_ssh_get_string(struct age_ssh_buf *b, const unsigned char **s, size_t *len);
/* age_ssh_get_cstring: as age_ssh_get_string, and compares it with the NUL-terminated
 * `want`. Returns 0, M3_EINVAL (truncated) or M3_ENOMATCH (different). */
int age_ssh_get_cstring(struct age_ssh_buf *b, const char *want);

/* age_ssh_wire_type: copies the key type name at the start of a wire-format public key
 * (e.g. "ssh-ed25519") into type (cap bytes, NUL-terminated). M3_EINVAL when malformed or
 * longer than cap - 1 or not printable. */
int age_ssh_wire_type(const unsigned char *wire, size_t len, char *type, size_t cap);

/* ---- Tags --------------------------------------------------------------------------- */

/* age_ssh_tag: the 4 tag bytes of a wire-format public key. */
void age_ssh_tag(const unsigned char *wire, size_t len, unsigned char tag[AGE_SSH_TAG_SIZE]);
/* age_ssh_tag_string: the tag as the stanza carries it (6 base64 characters, NUL). */
void age_ssh_tag_string(const unsigned char *wire, size_t len, char out[AGE_SSH_TAG_LEN + 1]);

/* age_stanza_matches_key: true when s is a stanza of the key's type (ssh-ed25519 or ssh-rsa,
 * read from the wire key) whose tag argument is the key's tag. Needs no private key. A tag
 * is 32 bits: a match means "almost certainly this key", and unwrapping decides. */
bool age_stanza_matches_key(const struct age_stanza *s, const unsigned char *wire, size_t len);

/* age_ssh_find_stanza: the first stanza in s[0..n) that is for the key `wire`, checking every
 * stanza of the key's type as the key's identity would (argument count, share encoding).
 * Returns 0 and sets *index, M3_ENOMATCH when none is for the key, or M3_EHEADER (diag
 * filled) for a malformed stanza of the key's type. */
int age_ssh_find_stanza(const struct age_stanza *s, size_t n, const unsigned char *wire, size_t len,
                        size_t *index, struct m3_diag *d);

/* ---- Recipients --------------------------------------------------------------------- */

/* age_ssh_recipient_from_wire: an ssh-ed25519 or ssh-rsa recipient from a wire-format public
 * key (as found base64-encoded in authorized_keys lines). Errors: M3_EINVAL (malformed key,
 * diag says why), M3_EUNSUPPORTED (other key types, naming the type; RSA keys under 2048
 * bits), M3_ENOMEM. */
int age_ssh_recipient_from_wire(struct age_recipient **out, const unsigned char *wire, size_t len,
                                struct m3_diag *d);

/* age_ssh_ed25519_recipient_new: from a raw 32-byte Ed25519 public key. M3_EINVAL when the
 * point cannot be mapped to Curve25519 (not on the curve, small order). */
int age_ssh_ed25519_recipient_new(struct age_recipient **out, const unsigned char pk[32],
                                  struct m3_diag *d);

/* age_recipient_ssh_wire: when r is an ssh-ed25519 or ssh-rsa recipient, points *wire at its
 * wire-format public key (owned by r) and returns 0; otherwise M3_EINVAL. */
int age_recipient_ssh_wire(const struct age_recipient *r, const unsigned char **wire, size_t *len);

/* ---- Identities --------------------------------------------------------------------- */

/* age_ssh_ed25519_identity_new: from a 32-byte Ed25519 seed (copied into secret memory) and
 * its public key. M3_EINVAL when pk is not the seed's public key (a corrupted key file). */
int age_ssh_ed25519_identity_new(struct age_identity **out, const unsigned char seed[32],
                                 const unsigned char pk[32], struct m3_diag *d);

/* RSA private key components as big-endian unsigned integers (SSH mpint bodies; a leading
 * zero byte is allowed). The pointers are only read during the call. */
struct age_ssh_rsa_components {
    const unsigned char *n, *e, *d, *iqmp, *p, *q;
    size_t n_len, e_len, d_len, iqmp_len, p_len, q_len;
};

/* age_ssh_rsa_identity_new: an ssh-rsa identity from the components of an OpenSSH key.
 * Errors: M3_EINVAL (inconsistent key), M3_EUNSUPPORTED (under 2048 bits), M3_ENOMEM. */
int age_ssh_rsa_identity_new(struct age_identity **out, const struct age_ssh_rsa_components *c,
                             struct m3_diag *d);

/* age_ssh_rsa_identity_from_pkey: an ssh-rsa identity from an OpenSSL RSA EVP_PKEY (e.g. read
 * from a PEM file). Takes its own reference; the caller still frees pkey. Errors as above. */
struct evp_pkey_st;
int age_ssh_rsa_identity_from_pkey(struct age_identity **out, struct evp_pkey_st *pkey,
                                   struct m3_diag *d);

/* age_identity_ssh_wire: when id is an ssh-ed25519 or ssh-rsa identity, points *wire at its
 * wire-format public key (owned by id) and returns 0; otherwise M3_EINVAL. */
int age_identity_ssh_wire(const struct age_identity *id, const unsigned char **wire, size_t *len);

/* ---- ssh-to-age conversion ---------------------------------------------------------- */

/* age_ssh_ed25519_to_x25519_public: the X25519 public key (u = (1+y)/(1-y)) of an Ed25519
 * public key, as ssh-to-age computes it. M3_EINVAL for a point that does not map. */
int age_ssh_ed25519_to_x25519_public(const unsigned char ed_pk[32], unsigned char x_pk[32]);
/* age_ssh_ed25519_to_x25519_scalar: the X25519 scalar of an Ed25519 seed: the first 32 bytes
 * of SHA-512(seed), unclamped, as ssh-to-age and age write it. out should be secret memory. */
void age_ssh_ed25519_to_x25519_scalar(const unsigned char seed[32], unsigned char out[32]);

#endif
