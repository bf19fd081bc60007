/* openssh.h: OpenSSH and PEM private keys, and SSH public key lines (keys/ internal API, used
 * by keys.c, the unit tests and the benchmarks; cmd/ goes through keys/keys.h).
 *
 * Private keys: openssh-key-v1 ("-----BEGIN OPENSSH PRIVATE KEY-----") ed25519 and rsa, plain
 * or passphrase-protected (bcrypt KDF with aes*-ctr, aes*-cbc or aes*-gcm@openssh.com), and PEM
 * RSA keys (PKCS#1 "RSA PRIVATE KEY", PKCS#8 "PRIVATE KEY" / "ENCRYPTED PRIVATE KEY") through
 * OpenSSL. Decoded key material only ever sits in secret (sodium_malloc) memory. */
#ifndef M3_KEYS_OPENSSH_H
#define M3_KEYS_OPENSSH_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/age.h"
#include "libage/internal.h"
#include "libage/ssh.h"

/* A parsed private key file, possibly still locked by a passphrase. */
struct keys_ssh_private;

/* keys_ssh_private_parse: parses a private key file's text (len bytes, copied into secret
 * memory). Reads the public part and checks the structure; does not decrypt. Errors:
 * M3_EINVAL (not a private key or corrupted/truncated, diag says which), M3_EUNSUPPORTED
 * (a key type or cipher age cannot use, named in the diag), M3_ENOMEM. */
int keys_ssh_private_parse(struct keys_ssh_private **out, const char *text, size_t len,
                           struct m3_diag *d);
void keys_ssh_private_free(struct keys_ssh_private *k);

/* keys_ssh_private_encrypted: true when unlocking needs a passphrase. */
bool keys_ssh_private_encrypted(const struct keys_ssh_private *k);
/* keys_ssh_private_type: "ssh-ed25519" or "ssh-rsa". */
const char *keys_ssh_private_type(const struct keys_ssh_private *k);
/* keys_ssh_private_wire: the wire-format public key when known without a passphrase (always
 * for openssh-key-v1 and unencrypted PEM). 0, or M3_ENOTFOUND for encrypted PEM files. */
int keys_ssh_private_wire(const struct keys_ssh_private *k, const unsigned char **wire,
                          size_t *len);

/* keys_ssh_private_identity: decrypts (passphrase may be NULL for a plain key) and returns the
 * age identity. Errors: M3_EPASSPHRASE (wrong or missing passphrase), M3_EINVAL (corrupted
 * key), M3_EUNSUPPORTED, M3_ENOMEM. */
int keys_ssh_private_identity(const struct keys_ssh_private *k, const char *passphrase,
                              struct age_identity **out, struct m3_diag *d);

/* keys_ssh_private_ed25519_seed: for an ed25519 key, the 32-byte seed (into secret memory of
 * the caller) and public key. M3_EUNSUPPORTED for other types; errors as above. */
int keys_ssh_private_ed25519_seed(const struct keys_ssh_private *k, const char *passphrase,
                                  unsigned char seed[32], unsigned char pk[32], struct m3_diag *d);

/* keys_ssh_private_decrypt_native: the openssh-key-v1 decryption done here (bcrypt_pbkdf and
 * OpenSSL ciphers) for any key type, bypassing libssh. For tests; the identity functions
 * choose the path. Same errors as keys_ssh_private_identity. */
int keys_ssh_private_identity_native(const struct keys_ssh_private *k, const char *passphrase,
                                     struct age_identity **out, struct m3_diag *d);

/* keys_bcrypt_pbkdf: OpenBSD's bcrypt_pbkdf. key_len up to 1024 bytes. 0, M3_EINVAL or
 * M3_ENOMEM. */
int keys_bcrypt_pbkdf(const char *pass, size_t pass_len, const unsigned char *salt, size_t salt_len,
                      unsigned rounds, unsigned char *key, size_t key_len);

/* ---- identities from key files ------------------------------------------------------ */

#define KEYS_PASSPHRASE_TRIES 3 /* a passphrase callback is asked at most this often per key */

/* keys_ssh_identity_parse: an identity from an OpenSSH or PEM private key file's text. `name`
 * (the file) is used in prompts and messages. A plain key is read now; a passphrase-protected
 * one gives a locked identity that asks cb (prompt: the file name, with a note on retries)
 * only when a header has a stanza whose tag is its key's, up to KEYS_PASSPHRASE_TRIES times,
 * and remembers the result for the rest of the run. cb returning non-zero stops asking. Errors
 * as keys_ssh_private_parse/_identity; from unwrap also M3_EPASSPHRASE naming the file. */
int keys_ssh_identity_parse(struct age_identity **out, const char *text, size_t len,
                            const char *name, age_passphrase_fn cb, void *cb_ctx,
                            struct m3_diag *d);
/* keys_identity_ssh_wire: the wire public key of an ssh identity (locked or not). 0, or
 * M3_EINVAL (not an ssh identity) / M3_ENOTFOUND (encrypted PEM: unknown until unlocked). */
int keys_identity_ssh_wire(const struct age_identity *id, const unsigned char **wire, size_t *len);
/* keys_identity_is_locked: true for a passphrase-protected key not unlocked yet. */
bool keys_identity_is_locked(const struct age_identity *id);

/* ---- public keys ------------------------------------------------------------------- */

/* keys_ssh_public_parse: an authorized_keys-style line: optional options, then
 * "TYPE BASE64 [comment]". *wire receives the decoded wire key (malloc'd) after checking
 * that its embedded type equals TYPE. Errors: M3_EINVAL (not such a line, diag says why),
 * M3_ENOMEM. Does not judge the type: see age_ssh_recipient_from_wire. */
int keys_ssh_public_parse(const char *line, unsigned char **wire, size_t *len, struct m3_diag *d);

/* keys_ssh_type_unsupported: when `word` names an SSH key type that age cannot use (ecdsa,
 * sk-*, ssh-dss), returns a static description of it, else NULL. */
const char *keys_ssh_type_unsupported(const char *word);

#endif
