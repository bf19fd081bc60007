/* scrypt.c: the scrypt (passphrase) recipient type. Its stanza must be alone in a header
 * (checked by the decryptor and the encryptor); decryption refuses high work factors. */
#include "libage/internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define SALT_LABEL "age-encryption.org/v1/scrypt"
#define SALT_SIZE 16
#define PASS_CAP 1024

struct scrypt_recipient {
    char *passphrase; /* secret memory */
    int log2n;
};

struct scrypt_identity {
    age_passphrase_fn cb;
    void *cb_ctx;
    char *name;
    int max_log2n;
};

static int
derive(const char *pass, const unsigned char *salt, int log2n, unsigned char *key)
{
    unsigned char full[sizeof(SALT_LABEL) - 1 + SALT_SIZE];

    memcpy(full, SALT_LABEL, sizeof(SALT_LABEL) - 1);
    memcpy(full + sizeof(SALT_LABEL) - 1, salt, SALT_SIZE);
    if (crypto_pwhash_scryptsalsa208sha256_ll((const uint8_t *)pass, strlen(pass), full,
                                              sizeof(full), (uint64_t)1 << log2n, 8, 1, key,
                                              AGE_WRAP_KEY_SIZE) != 0)
        return M3_ENOMEM;
    return 0;
}

static int
scrypt_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
            struct m3_diag *d)
{
    const struct scrypt_recipient *r = state;
    unsigned char salt[SALT_SIZE], body[AGE_WRAPPED_SIZE], *key;
    char *salt64 = NULL, wf[8];
    const char *args[2];
    int rc;

    if ((key = age_secret_alloc(AGE_WRAP_KEY_SIZE)) == NULL)
        return M3_ENOMEM;
    randombytes_buf(salt, sizeof(salt));
    if ((rc = derive(r->passphrase, salt, r->log2n, key)) != 0) {
        m3_diag_set(d, rc, "scrypt key derivation failed (out of memory?)");
        goto out;
    }
    age_wrap_seal(key, file_key, body);
    if ((salt64 = age_b64_encode(salt, sizeof(salt))) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    snprintf(wf, sizeof(wf), "%d", r->log2n);
    args[0] = salt64;
    args[1] = wf;
    rc = age_stanza_list_add(out, "scrypt", args, 2, body, sizeof(body));
out:
    age_secret_free(key);
    free(salt64);
    return rc;
}

static void
scrypt_recipient_free(void *state)
{
    struct scrypt_recipient *r = state;

    if (r == NULL)
        return;
    age_secret_free(r->passphrase);
    free(r);
}

static const struct age_recipient_ops scrypt_recipient_ops = {
    .type = "scrypt",
    .wrap = scrypt_wrap,
    .free = scrypt_recipient_free,
    .flags = AGE_RECIPIENT_ALONE,
};

int
age_scrypt_recipient_new(struct age_recipient **out, const char *passphrase, int log2n)
{
    struct scrypt_recipient *r;

    *out = NULL;
    /* above AGE_SCRYPT_MAX_LOG2N no age (this one included) would open the file */
    if (log2n < AGE_SCRYPT_MIN_LOG2N || log2n > AGE_SCRYPT_MAX_LOG2N)
        return M3_EINVAL;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return M3_ENOMEM;
    if ((r->passphrase = age_secret_strdup(passphrase)) == NULL) {
        free(r);
        return M3_ENOMEM;
    }
    r->log2n = log2n;
    return (*out = age_recipient_new(&scrypt_recipient_ops, r)) ? 0 : M3_ENOMEM;
}

/* parse_log2n: decimal without sign or leading zeros, 1..max. */
static int
parse_log2n(const char *s, int max, int *out, struct m3_diag *d)
{
    long v = 0;

    if (*s == '\0' || *s == '0' || strlen(s) > 2)
        return m3_diag_set(d, M3_EHEADER, "malformed scrypt work factor '%.20s'", s);
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return m3_diag_set(d, M3_EHEADER, "malformed scrypt work factor '%.20s'", s);
        v = v * 10 + (*p - '0');
    }
    if (v > max)
        return m3_diag_set(d, M3_EHEADER,
                           "scrypt work factor %ld is above the limit of %d (refusing a file "
                           "that would take too long to decrypt)",
                           v, max);
    *out = (int)v;
    return 0;
}

static int
scrypt_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
              struct m3_diag *d)
{
    struct scrypt_identity *id = state;
    const struct age_stanza *s = NULL;
    unsigned char salt[SALT_SIZE], *key = NULL;
    char *pass = NULL;
    int log2n = 0, rc;

    for (size_t i = 0; i < n && s == NULL; i++)
        if (strcmp(stanzas[i].type, "scrypt") == 0)
            s = &stanzas[i];
    if (s == NULL)
        return M3_ENOMATCH;
    if (s->nargs != 2)
        return m3_diag_set(d, M3_EHEADER, "malformed scrypt stanza (expected 2 arguments)");
    if ((rc = age_b64_arg_decode(s->args[0], salt, SALT_SIZE, "scrypt salt", d)) != 0)
        return rc;
    if ((rc = parse_log2n(s->args[1], id->max_log2n, &log2n, d)) != 0)
        return rc;
    if (s->body_len != AGE_WRAPPED_SIZE)
        return m3_diag_set(d, M3_EHEADER, "malformed scrypt stanza (body is %zu bytes, not 32)",
                           s->body_len);
    if ((pass = age_secret_alloc(PASS_CAP)) == NULL || (key = age_secret_alloc(32)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    if (id->cb == NULL) {
        rc = M3_ENOMATCH;
        goto out;
    }
    if ((rc = id->cb(id->cb_ctx, id->name, pass, PASS_CAP)) != 0) {
        m3_diag_set(d, rc, "no passphrase given");
        goto out;
    }
    if ((rc = derive(pass, salt, log2n, key)) != 0) {
        m3_diag_set(d, rc, "scrypt key derivation failed (out of memory?)");
        goto out;
    }
    rc = age_wrap_open(key, s->body, s->body_len, file_key);
    if (rc == M3_ENOMATCH)
        m3_diag_set(d, M3_ENOMATCH, "incorrect passphrase");
out:
    age_secret_free(pass);
    age_secret_free(key);
    return rc;
}

static void
scrypt_identity_free(void *state)
{
    struct scrypt_identity *id = state;

    if (id == NULL)
        return;
    free(id->name);
    free(id);
}

static const struct age_identity_ops scrypt_identity_ops = {
    .type = "scrypt",
    .unwrap = scrypt_unwrap,
    .free = scrypt_identity_free,
};

int
age_scrypt_identity_new(struct age_identity **out, age_passphrase_fn cb, void *cb_ctx,
                        const char *prompt_name, int max_log2n)
{
    struct scrypt_identity *id = calloc(1, sizeof(*id));

    *out = NULL;
    if (id == NULL)
        return M3_ENOMEM;
    id->cb = cb;
    id->cb_ctx = cb_ctx;
    id->max_log2n = max_log2n > 0 ? max_log2n : AGE_SCRYPT_MAX_LOG2N;
    if (prompt_name != NULL && (id->name = strdup(prompt_name)) == NULL) {
        free(id);
        return M3_ENOMEM;
    }
    return (*out = age_identity_new(&scrypt_identity_ops, id)) ? 0 : M3_ENOMEM;
}
