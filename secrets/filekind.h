/* filekind.h: what a file that is not age is, judged from its name and its first bytes, so
 * that audit keeps its plaintext-leak error (M3A014) for what can be a leak: public keys,
 * files another tool encrypted and ordinary repository files are named, not flagged. Pure:
 * a buffer in, a kind out; no file access. */
#ifndef M3_SECRETS_FILEKIND_H
#define M3_SECRETS_FILEKIND_H

#include <stddef.h>

/* Kinds above SECRETS_FILE_UNKNOWN are not a leak. */
enum secrets_file_kind {
    SECRETS_FILE_SECRET,   /* looks like a secret in clear: a private key, a token */
    SECRETS_FILE_UNKNOWN,  /* none of the kinds below: may be plaintext */
    SECRETS_FILE_SSH_PUB,  /* OpenSSH public keys (.pub, authorized_keys, known_hosts lines) */
    SECRETS_FILE_AGE_PUB,  /* age recipients (age1...) */
    SECRETS_FILE_PGP_PUB,  /* an OpenPGP public key block */
    SECRETS_FILE_PGP,      /* OpenPGP-encrypted (binary packets or armored MESSAGE) */
    SECRETS_FILE_OPENSSL,  /* `openssl enc` output (Salted__ magic, raw or base64) */
    SECRETS_FILE_GITCRYPT, /* a git-crypt-encrypted blob (\0GITCRYPT\0) */
    SECRETS_FILE_SOPS,     /* a sops file (ENC[AES256_GCM,...] values and sops metadata) */
    SECRETS_FILE_SCRIPT,   /* a script (#! first line) */
    SECRETS_FILE_REPO,     /* a repository file: justfile, Makefile, README, *.md, *.example */
};

/* secrets_file_kind: the kind of a file named name (its base name) whose first len bytes are
 * buf (64 KiB is enough; less for a shorter file). A private key or token anywhere in the
 * bytes read wins over every other kind (a README with a pasted key is a leak). */
enum secrets_file_kind secrets_file_kind(const char *name, const unsigned char *buf, size_t len);

/* secrets_file_kind_encrypted: whether kind is a file another tool encrypted. */
int secrets_file_kind_encrypted(enum secrets_file_kind kind);

/* secrets_file_kind_desc: what kind is, for a message ("an OpenSSH public key"). Static. */
const char *secrets_file_kind_desc(enum secrets_file_kind kind);

#endif
