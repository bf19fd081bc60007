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

/* keys_ask_passphrase: asks cb for the passphrase of key file `name` and calls try_fn with
 * it, up to KEYS_PASSPHRASE_TRIES times while try_fn returns M3_EPASSPHRASE (stopping early
 * when cb fails or gives the same answer twice). Errors carry "NAME: " in the diag. */
typedef int (*keys_try_fn)(void *arg, const char *pass, struct m3_diag *d);
int keys_ask_passphrase(const char *name, age_passphrase_fn cb, void *cb_ctx, keys_try_fn try_fn,
                        void *arg, struct m3_diag *d);

/* ---- public keys ------------------------------------------------------------------- */

/* keys_ssh_public_parse: an authorized_keys-style line: optional options, then
 * "TYPE BASE64 [comment]". *wire receives the decoded wire key (malloc'd) after checking
 * that its embedded type equals TYPE. Returns M3_ENOMATCH (no diag) when the line names no
 * known SSH key type; M3_EINVAL for a malformed key (diag says why); M3_ENOMEM. Does not
 * judge the type: see age_ssh_recipient_from_wire. */
int keys_ssh_public_parse(const char *line, unsigned char **wire, size_t *len, struct m3_diag *d);

/* keys_ssh_type_unsupported: when `word` names an SSH key type that age cannot use (ecdsa,
 * sk-*, ssh-dss), returns a static description of it, else NULL. */
const char *keys_ssh_type_unsupported(const char *word);

#endif
