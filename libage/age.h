/* age.h: the age v1 file format (c2sp.org/age): header, stanzas, header MAC, STREAM payload,
 * ASCII armor, and the recipient/identity interface with the X25519 and scrypt types.
 *
 * libage does no file or terminal I/O, reads no environment and prints nothing: bytes come
 * and go through the caller's read/write callbacks, passphrases through a callback, and
 * errors as negative M3_E* codes with an optional struct m3_diag that says what went wrong.
 *
 * Secret material (file keys, payload keys, scalars, passphrases, plaintext buffers) is kept
 * in sodium_malloc memory and wiped when freed. Call age_init() once before anything else. */
#ifndef M3_AGE_H
#define M3_AGE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "libage/error.h"

#define AGE_FILE_KEY_SIZE 16
#define AGE_PAYLOAD_NONCE_SIZE 16
#define AGE_CHUNK_SIZE 65536
#define AGE_TAG_SIZE 16
#define AGE_MAC_SIZE 32
#define AGE_X25519_RECIPIENT_LEN 62 /* "age1" + 58 characters */
#define AGE_X25519_IDENTITY_LEN 74  /* "AGE-SECRET-KEY-1" + 58 characters */
#define AGE_SCRYPT_DEFAULT_LOG2N 18 /* the work factor Go age uses when encrypting */
#define AGE_SCRYPT_MAX_LOG2N 22     /* the highest work factor accepted when decrypting */
#define AGE_SCRYPT_MIN_LOG2N 1      /* the lowest age allows (Go age's SetWorkFactor) */
/* Limits on a header read (a file may come from anyone: every stanza costs an unwrap
 * attempt, an X25519 one about 0.1 ms per identity). Honest files stay far below them: an
 * agenix fleet of 200 hosts and users makes 200 stanzas of 100 to 700 bytes (ssh-rsa),
 * under 2 KiB for post-quantum or plugin stanzas, so 400 KiB at most. Go age's early
 * releases refused more than 20 stanzas ("too many recipients"), too few for such fleets;
 * age 1.1.1 has no limit (it spends 2 s of CPU on a 4 MiB header of X25519 stanzas) and
 * decrypts files at these caps; its development tree bounds header and stanza sizes.
 * Encrypting to more recipients than a header may hold is refused too. */
#define AGE_HEADER_MAX (1u << 20)    /* bytes, through the MAC line */
#define AGE_HEADER_MAX_STANZAS 1024u /* recipient stanzas in one header */
#define AGE_STANZA_MAX_ARGS 16u      /* arguments of one stanza (after its type) */

/* age_read_fn: read up to len bytes into buf. Returns the count (0 at end of input) or -1
 * with errno set. */
typedef ssize_t (*age_read_fn)(void *ctx, void *buf, size_t len);
/* age_write_fn: write all len bytes. Returns 0, or -1 with errno set. */
typedef int (*age_write_fn)(void *ctx, const void *buf, size_t len);
/* age_passphrase_fn: ask for a passphrase. `prompt` says what it unlocks (a file or key
 * name). Writes a NUL-terminated passphrase into buf (cap bytes of secret memory owned by the
 * caller of the callback). Returns 0, or a negative M3_E* code (M3_ECANCELED to give up). */
typedef int (*age_passphrase_fn)(void *ctx, const char *prompt, char *buf, size_t cap);

/* age_init: initialises libsodium and OpenSSL. Returns 0 or M3_ENOMEM. Thread-safe, idempotent. */
int age_init(void);

/* ---- Stanzas and headers ------------------------------------------------------------ */

struct age_stanza {
    char *type;  /* first argument after "->" */
    char **args; /* the remaining arguments, nargs strings */
    size_t nargs;
    unsigned char *body; /* decoded body (may be empty, then NULL with body_len 0) */
    size_t body_len;
};

/* A growable list of stanzas, filled by recipients' wrap functions. */
struct age_stanza_list {
    struct age_stanza *v;
    size_t n, cap;
};

/* age_stanza_list_add: appends a copy of a stanza (type, args, body). Returns 0 or
 * M3_ENOMEM / M3_EINVAL (an argument that is empty or has characters outside the spec's set). */
int age_stanza_list_add(struct age_stanza_list *l, const char *type, const char *const *args,
                        size_t nargs, const unsigned char *body, size_t body_len);
/* age_stanza_list_clear: frees every stanza and the array. */
void age_stanza_list_clear(struct age_stanza_list *l);

struct age_header {
    struct age_stanza *stanzas;
    size_t nstanzas;
    unsigned char mac[AGE_MAC_SIZE];
    bool armored;      /* the file was ASCII-armored */
    size_t header_len; /* bytes of the binary header including the MAC line */
    size_t mac_off;    /* offset just past "---": the MAC covers bytes [0, mac_off) */
};

/* age_header_read: reads and validates only the header of an age file (binary or armored,
 * detected automatically) from rd. No key is needed; the MAC is not verified. The caller
 * frees *out with age_header_free. Errors: M3_EHEADER, M3_EARMOR, M3_EUNSUPPORTED (other
 * version), M3_EIO, M3_ENOMEM. */
int age_header_read(struct age_header **out, age_read_fn rd, void *ctx, struct m3_diag *d);

/* age_header_parse: as age_header_read, from a binary (unarmored) buffer. *consumed (may be
 * NULL) receives the header length. */
int age_header_parse(struct age_header **out, const unsigned char *buf, size_t len,
                     size_t *consumed, struct m3_diag *d);

void age_header_free(struct age_header *h);

/* ---- Recipients and identities -------------------------------------------------------
 * A recipient wraps a file key into stanzas; an identity unwraps it from a header's
 * stanzas. The core never knows a key type: a new type is a new ops table. */

struct age_recipient_ops {
    const char *type; /* stanza type produced, e.g. "X25519" */
    /* wrap: appends the stanza(s) carrying file_key (16 bytes, secret) to out. */
    int (*wrap)(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
                struct m3_diag *d);
    /* encode: the recipient's text form (age1..., "ssh-ed25519 AAAA..."), malloc'd. May be NULL. */
    char *(*encode)(const void *state);
    void (*free)(void *state);
    unsigned flags; /* AGE_RECIPIENT_* */
};
#define AGE_RECIPIENT_ALONE 1u /* must be the only recipient of a file (scrypt) */
#define AGE_RECIPIENT_PQ 2u    /* post-quantum: never mixed with classical recipients */

struct age_recipient {
    const struct age_recipient_ops *ops;
    void *state;
};

struct age_identity_ops {
    const char *type;
    /* unwrap: looks at all stanzas; on a match writes the 16-byte file key to file_key
     * (secret memory) and returns 0. Returns M3_ENOMATCH when no stanza is for this
     * identity; M3_EHEADER for a malformed stanza of its own type; M3_EPASSPHRASE etc. */
    int (*unwrap)(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
                  struct m3_diag *d);
    /* recipient: the matching recipient (for keygen -y), or NULL when not derivable. */
    int (*recipient)(const void *state, struct age_recipient **out);
    void (*free)(void *state);
};

struct age_identity {
    const struct age_identity_ops *ops;
    void *state;
};

/* age_recipient_new / age_identity_new: wrap a type's state (ownership passes to the
 * object). Return NULL on allocation failure, after freeing state with ops->free. */
struct age_recipient *age_recipient_new(const struct age_recipient_ops *ops, void *state);
struct age_identity *age_identity_new(const struct age_identity_ops *ops, void *state);
void age_recipient_free(struct age_recipient *r);
void age_identity_free(struct age_identity *id);
/* age_recipient_string: the text form, malloc'd, or NULL. */
char *age_recipient_string(const struct age_recipient *r);

/* X25519: age1... recipients and AGE-SECRET-KEY-1... identities. */
int age_x25519_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d);
int age_x25519_recipient_from_key(struct age_recipient **out, const unsigned char pub[32]);
int age_x25519_identity_parse(struct age_identity **out, const char *s, struct m3_diag *d);
/* age_x25519_identity_from_scalar: an identity from a raw 32-byte scalar (copied). */
int age_x25519_identity_from_scalar(struct age_identity **out, const unsigned char scalar[32]);
int age_x25519_identity_generate(struct age_identity **out);
/* age_x25519_identity_encode: writes "AGE-SECRET-KEY-1..." (NUL-terminated) into buf, which
 * should be secret memory of at least AGE_X25519_IDENTITY_LEN + 1 bytes. M3_EINVAL when
 * the identity is not X25519. */
int age_x25519_identity_encode(const struct age_identity *id, char *buf, size_t cap);
/* age_x25519_encode_recipient: "age1..." for a raw public key into out (>= 63 bytes). */
int age_x25519_encode_recipient(const unsigned char pub[32], char *out, size_t cap);
bool age_identity_is_x25519(const struct age_identity *id);

/* mlkem768x25519: the post-quantum hybrid type (ML-KEM-768 + X25519 through HPKE):
 * age1pq1... recipients (bech32 of the 1216-byte public key) and AGE-SECRET-KEY-PQ-1...
 * identities (bech32 of a 32-byte seed). Parsing checks the key (ML-KEM modulus check, X25519
 * point not of low order): M3_EINVAL with a message that never echoes secret text. */
#define AGE_PQ_PUBLIC_KEY_SIZE 1216
#define AGE_PQ_RECIPIENT_LEN 1959 /* "age1pq1" + 1952 characters */
#define AGE_PQ_IDENTITY_LEN 77    /* "AGE-SECRET-KEY-PQ-1" + 58 characters */
int age_pq_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d);
int age_pq_recipient_from_key(struct age_recipient **out,
                              const unsigned char pk[AGE_PQ_PUBLIC_KEY_SIZE]);
int age_pq_identity_parse(struct age_identity **out, const char *s, struct m3_diag *d);
/* age_pq_identity_from_seed: an identity from its 32-byte seed (copied into secret memory). */
int age_pq_identity_from_seed(struct age_identity **out, const unsigned char seed[32]);
int age_pq_identity_generate(struct age_identity **out);
/* age_pq_identity_encode: "AGE-SECRET-KEY-PQ-1..." into buf (secret memory of at least
 * AGE_PQ_IDENTITY_LEN + 1 bytes). M3_EINVAL when the identity is not post-quantum. */
int age_pq_identity_encode(const struct age_identity *id, char *buf, size_t cap);
bool age_identity_is_pq(const struct age_identity *id);
/* age_recipient_is_pq: the recipient is post-quantum (AGE_RECIPIENT_PQ). */
bool age_recipient_is_pq(const struct age_recipient *r);

/* The tagged recipient types (hardware keys): age1tag1... (a compressed P-256 point; p256tag
 * stanzas, HPKE with DHKEM(P-256)) and age1tagpq1... (an ML-KEM-768 key and an uncompressed
 * P-256 point; mlkem768p256tag stanzas, HPKE with MLKEM768-P256, post-quantum). m3age
 * encrypts to them; their identities are a plugin's. */
#define AGE_STANZA_TAG_SIZE 4
/* age_tag_recipient_parse: an age1tag1 or age1tagpq1 recipient. Errors: M3_EINVAL (bad bech32,
 * wrong length, invalid ML-KEM key, point not on the curve: d names the cause), M3_ECRYPTO
 * family when libcrypto cannot be opened, M3_ENOMEM. */
int age_tag_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d);
/* age_tag_compute: the tag of a p256tag or mlkem768p256tag stanza (stanza_type) whose
 * encapsulated key is enc, for the key whose 4-byte hash is hash (SHA-256 of the compressed
 * point, or of the uncompressed point of an age1tagpq key, truncated):
 * HKDF-Extract-SHA-256(salt = "age-encryption.org/" || stanza_type, ikm = enc || hash)[:4]. */
void age_tag_compute(const char *stanza_type, const unsigned char *enc, size_t enc_len,
                     const unsigned char hash[4], unsigned char tag[AGE_STANZA_TAG_SIZE]);

/* scrypt: passphrase encryption. The recipient copies the passphrase into secret memory.
 * The identity asks cb (with prompt_name in the prompt) when it meets an scrypt stanza, and
 * refuses work factors above max_log2n (0 means AGE_SCRYPT_MAX_LOG2N). */
int age_scrypt_recipient_new(struct age_recipient **out, const char *passphrase, int log2n);
int age_scrypt_identity_new(struct age_identity **out, age_passphrase_fn cb, void *cb_ctx,
                            const char *prompt_name, int max_log2n);

/* ---- Encryption ---------------------------------------------------------------------- */

struct age_encrypt_opts {
    bool armor;       /* ASCII armor output */
    unsigned threads; /* 0 or 1: this thread only; N: N threads (this one and N-1 workers) */
    /* file_key: NULL for a fresh random one (always, but for callers that had the key wrapped
     * ahead of time, keys_plugin_wrap_prefetch). AGE_FILE_KEY_SIZE bytes of secret memory,
     * random, used for one file only. */
    const unsigned char *file_key;
    /* input_is_fd: age_encrypt's rd reads input_fd with read(), from its offset, nothing
     * buffered. When it is a regular file and the output is not armored, workers read the
     * chunks they seal with pread() at their offsets instead (results and errors as through
     * rd; a file that shrinks while it is read is an M3_EIO error); input_fd's offset is then
     * left where rd left it. Other inputs (pipes, terminals) are read through rd. */
    bool input_is_fd;
    int input_fd;
};

struct age_encryptor;

/* age_encryptor_new: makes a fresh file key, wraps it for every recipient, and writes the
 * header through wr. Errors: M3_EINVAL (no recipients, an AGE_RECIPIENT_ALONE recipient
 * with others, or a header over AGE_HEADER_MAX_STANZAS or AGE_HEADER_MAX), the recipients'
 * errors, M3_EIO. */
int age_encryptor_new(struct age_encryptor **out, struct age_recipient *const *rcpts, size_t n,
                      const struct age_encrypt_opts *opts, age_write_fn wr, void *wctx,
                      struct m3_diag *d);
/* age_encryptor_write: encrypts plaintext; whole chunks are written as they fill. */
int age_encryptor_write(struct age_encryptor *e, const void *buf, size_t len, struct m3_diag *d);
/* age_encryptor_finish: seals the final chunk and flushes (armor end line). Call once. */
int age_encryptor_finish(struct age_encryptor *e, struct m3_diag *d);
/* age_encryptor_free: wipes and frees (also after an error). */
void age_encryptor_free(struct age_encryptor *e);

/* age_encrypt: the whole stream from rd to wr. */
int age_encrypt(struct age_recipient *const *rcpts, size_t n, const struct age_encrypt_opts *opts,
                age_read_fn rd, void *rctx, age_write_fn wr, void *wctx, struct m3_diag *d);

/* ---- Decryption ---------------------------------------------------------------------- */

struct age_decryptor;

/* age_decryptor_new: reads and validates the header (armor detected automatically).
 * Errors as age_header_read. */
int age_decryptor_new(struct age_decryptor **out, age_read_fn rd, void *rctx, struct m3_diag *d);
const struct age_header *age_decryptor_header(const struct age_decryptor *dec);
/* age_decryptor_unwrap: tries each identity on the stanzas, then verifies the header MAC.
 * Errors: M3_ENOMATCH, M3_EMAC, M3_EHEADER (malformed stanza, scrypt not alone), and the
 * identities' errors (M3_EPASSPHRASE, ...). */
int age_decryptor_unwrap(struct age_decryptor *dec, struct age_identity *const *ids, size_t n,
                         struct m3_diag *d);
/* age_decryptor_read: up to cap bytes of authenticated plaintext into buf. *got == 0 with a
 * 0 return means the final chunk was verified and the input ended. No byte of a chunk is
 * released before that chunk authenticates. Errors: M3_EPAYLOAD, M3_EARMOR, M3_EIO. */
int age_decryptor_read(struct age_decryptor *dec, void *buf, size_t cap, size_t *got,
                       struct m3_diag *d);
/* age_decryptor_stream: writes all remaining plaintext through wr, chunk by chunk, using up
 * to `threads` threads (this one and threads-1 workers; 0 or 1: this thread only). Chunks are written in order, each only
 * after it authenticates; on a payload error the chunks before the bad one have been written. */
int age_decryptor_stream(struct age_decryptor *dec, age_write_fn wr, void *wctx, unsigned threads,
                         struct m3_diag *d);
/* age_decryptor_input_fd: says that rd reads file descriptor fd (with read(), on from its
 * offset when the decryptor was made). When fd is a regular file and the input is not
 * armored, age_decryptor_stream with workers reads the payload's chunks with pread() at their
 * offsets instead, each on the thread that opens it (results and errors as through rd); fd's
 * offset is then left where rd left it. Other inputs (pipes, terminals) are read through rd. */
void age_decryptor_input_fd(struct age_decryptor *dec, int fd);
void age_decryptor_free(struct age_decryptor *dec);

/* age_decrypt: header, unwrap and payload in one call. */
int age_decrypt(struct age_identity *const *ids, size_t n, age_read_fn rd, void *rctx,
                age_write_fn wr, void *wctx, unsigned threads, struct m3_diag *d);

/* ---- Encodings ----------------------------------------------------------------------- */

/* age_bech32_encode: BIP 173 bech32 without the 90-character limit. upper selects the case.
 * Writes a NUL-terminated string into out. M3_EINVAL when it does not fit. */
int age_bech32_encode(const char *hrp, const unsigned char *data, size_t len, bool upper, char *out,
                      size_t cap);
/* age_bech32_decode: decodes s (all lower or all upper case), writing the human-readable part
 * lower-cased into hrp (hrp_cap bytes) and the 8-bit data into data. M3_EINVAL on a bad
 * checksum, mixed case, bad characters or padding. */
int age_bech32_decode(const char *s, char *hrp, size_t hrp_cap, unsigned char *data, size_t cap,
                      size_t *len);

/* age_b64_encode: standard base64 without padding; returns a malloc'd string. */
char *age_b64_encode(const unsigned char *in, size_t len);
/* age_b64_decode: strict canonical unpadded base64 (the header's encoding). Writes up to cap
 * bytes; *len gets the decoded length. M3_EINVAL on padding, non-canonical trailing bits,
 * bad characters or overflow. */
int age_b64_decode(const char *in, size_t in_len, unsigned char *out, size_t cap, size_t *len);

#endif
