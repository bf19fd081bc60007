/* internal.h: helpers shared by libage's files and by the recipient types built on them
 * (X25519, scrypt, ssh-ed25519, ssh-rsa). Not part of the public API in age.h. */
#ifndef M3_AGE_INTERNAL_H
#define M3_AGE_INTERNAL_H

#include <stddef.h>

#include "libage/age.h"

#define AGE_WRAP_KEY_SIZE 32
#define AGE_WRAPPED_SIZE (AGE_FILE_KEY_SIZE + AGE_TAG_SIZE) /* stanza body of X25519/scrypt */

/* age_hkdf: HKDF-SHA-256 (RFC 5869), extract with salt then expand with info, out_len bytes
 * (at most 255 * 32). Returns 0, M3_EINVAL (too long) or M3_ENOMEM. */
int age_hkdf(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt, size_t salt_len,
             const char *info, unsigned char *out, size_t out_len);

/* age_wrap_seal: ChaCha20-Poly1305 with a zero nonce of the 16-byte file key under a 32-byte
 * wrap key, into body (32 bytes). */
void age_wrap_seal(const unsigned char *wrap_key, const unsigned char *file_key,
                   unsigned char *body);
/* age_wrap_open: the reverse; 0 on success, M3_ENOMATCH when the tag does not verify. */
int age_wrap_open(const unsigned char *wrap_key, const unsigned char *body, size_t body_len,
                  unsigned char *file_key);

/* age_x25519_base: out = X25519(scalar, 9), the public key of a scalar (x25519_base.c: from
 * Ed25519's fixed-base tables: about half the cost of the ladder). The scalar is only read,
 * in constant time. */
void age_x25519_base(unsigned char out[32], const unsigned char scalar[32]);

/* age_secret_alloc / age_secret_free: locked memory excluded from core dumps (sodium_malloc
 * regions; small blocks from a pool of them, see util.c), zeroed on allocation, wiped on
 * free. free(NULL) is a no-op. Thread-safe. */
void *age_secret_alloc(size_t n);
void age_secret_free(void *p);
char *age_secret_strdup(const char *s);

/* age_stanza_arg_ok: true when s is a valid stanza argument (VCHAR only, non-empty). */
int age_stanza_arg_ok(const char *s);

/* age_b64_arg_decode: decodes a stanza argument that must be canonical base64 of exactly
 * want bytes. Returns 0 or M3_EHEADER with a diag naming `what`. */
int age_b64_arg_decode(const char *arg, unsigned char *out, size_t want, const char *what,
                       struct m3_diag *d);

#endif
