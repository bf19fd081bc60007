/* x25519.c: the X25519 recipient type (age1... / AGE-SECRET-KEY-1...). */
#include "libage/internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char x25519_info[] = "age-encryption.org/v1/X25519";

struct x25519_recipient {
    unsigned char pub[32];
};

struct x25519_identity {
    unsigned char *scalar; /* 32 bytes, secret memory */
    unsigned char pub[32];
};

/* derive_wrap_key: HKDF(shared, ephemeral share || recipient, info). */
static int
derive_wrap_key(const unsigned char *shared, const unsigned char *share, const unsigned char *pub,
                unsigned char *key)
{
    unsigned char salt[64];

    memcpy(salt, share, 32);
    memcpy(salt + 32, pub, 32);
    return age_hkdf(shared, 32, salt, sizeof(salt), x25519_info, key, AGE_WRAP_KEY_SIZE);
}

static int
x25519_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
            struct m3_diag *d)
{
    const struct x25519_recipient *r = state;
    unsigned char *sec = age_secret_alloc(32 + 32 + AGE_WRAP_KEY_SIZE);
    unsigned char share[32], body[AGE_WRAPPED_SIZE];
    char *share64 = NULL;
    const char *args[1];
    int rc;

    if (sec == NULL)
        return M3_ENOMEM;
    /* sec: ephemeral scalar | shared secret | wrap key */
    randombytes_buf(sec, 32);
    age_x25519_base(share, sec);
    if (crypto_scalarmult(sec + 32, sec, r->pub) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "X25519 recipient is a low-order point");
        goto out;
    }
    if ((rc = derive_wrap_key(sec + 32, share, r->pub, sec + 64)) != 0)
        goto out;
    age_wrap_seal(sec + 64, file_key, body);
    if ((share64 = age_b64_encode(share, sizeof(share))) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    args[0] = share64;
    rc = age_stanza_list_add(out, "X25519", args, 1, body, sizeof(body));
out:
    age_secret_free(sec);
    free(share64);
    return rc;
}

static char *
x25519_encode(const void *state)
{
    const struct x25519_recipient *r = state;
    char *s = malloc(AGE_X25519_RECIPIENT_LEN + 1);

    if (s != NULL && age_x25519_encode_recipient(r->pub, s, AGE_X25519_RECIPIENT_LEN + 1) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static const struct age_recipient_ops x25519_recipient_ops = {
    .type = "X25519",
    .wrap = x25519_wrap,
    .encode = x25519_encode,
    .free = free,
};

int
age_x25519_encode_recipient(const unsigned char pub[32], char *out, size_t cap)
{
    return age_bech32_encode("age", pub, 32, false, out, cap);
}

int
age_x25519_recipient_from_key(struct age_recipient **out, const unsigned char pub[32])
{
    struct x25519_recipient *r = malloc(sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return M3_ENOMEM;
    memcpy(r->pub, pub, 32);
    return (*out = age_recipient_new(&x25519_recipient_ops, r)) ? 0 : M3_ENOMEM;
}

int
age_x25519_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d)
{
    unsigned char pub[32];
    char hrp[8];
    size_t n = 0;

    *out = NULL;
    if (age_bech32_decode(s, hrp, sizeof(hrp), pub, sizeof(pub), &n) != 0)
        return m3_diag_set(d, M3_EINVAL, "malformed age recipient (bad bech32)");
    if (strcmp(hrp, "age") != 0 || n != 32 || strncmp(s, "age1", 4) != 0)
        return m3_diag_set(d, M3_EINVAL, "not an age1 X25519 recipient");
    {
        /* A low-order point gives an all-zero shared secret for every sender: refuse it
         * here, where the message can name the recipient. */
        unsigned char scalar[32], shared[32];
        int low;
        randombytes_buf(scalar, sizeof(scalar));
        low = crypto_scalarmult(shared, scalar, pub) != 0;
        sodium_memzero(scalar, sizeof(scalar));
        if (low)
            return m3_diag_set(d, M3_EINVAL, "X25519 recipient is a low-order point");
    }
    return age_x25519_recipient_from_key(out, pub);
}

/* ---- identity ---------------------------------------------------------------------------- */

static int
x25519_unwrap_one(const struct x25519_identity *id, const struct age_stanza *s,
                  unsigned char *file_key, struct m3_diag *d)
{
    unsigned char share[32], *sec;
    int rc;

    if (s->nargs != 1)
        return m3_diag_set(d, M3_EHEADER, "malformed X25519 stanza (expected 1 argument, got %zu)",
                           s->nargs);
    if ((rc = age_b64_arg_decode(s->args[0], share, 32, "X25519 stanza share", d)) != 0)
        return rc;
    if (s->body_len != AGE_WRAPPED_SIZE)
        return m3_diag_set(d, M3_EHEADER, "malformed X25519 stanza (body is %zu bytes, not 32)",
                           s->body_len);
    if ((sec = age_secret_alloc(32 + AGE_WRAP_KEY_SIZE)) == NULL)
        return M3_ENOMEM;
    /* libsodium refuses an all-zero shared secret (a low-order share), as the spec requires. */
    if (crypto_scalarmult(sec, id->scalar, share) != 0) {
        rc = m3_diag_set(d, M3_EHEADER, "X25519 stanza share is a low-order point");
        goto out;
    }
    if ((rc = derive_wrap_key(sec, share, id->pub, sec + 32)) != 0)
        goto out;
    rc = age_wrap_open(sec + 32, s->body, s->body_len, file_key);
out:
    age_secret_free(sec);
    return rc;
}

static int
x25519_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
              struct m3_diag *d)
{
    const struct x25519_identity *id = state;

    for (size_t i = 0; i < n; i++) {
        int rc;
        if (strcmp(stanzas[i].type, "X25519") != 0)
            continue;
        rc = x25519_unwrap_one(id, &stanzas[i], file_key, d);
        if (rc != M3_ENOMATCH)
            return rc;
    }
    return M3_ENOMATCH;
}

static int
x25519_identity_recipient(const void *state, struct age_recipient **out)
{
    const struct x25519_identity *id = state;

    return age_x25519_recipient_from_key(out, id->pub);
}

static void
x25519_identity_free(void *state)
{
    struct x25519_identity *id = state;

    if (id == NULL)
        return;
    age_secret_free(id->scalar);
    free(id);
}

static const struct age_identity_ops x25519_identity_ops = {
    .type = "X25519",
    .unwrap = x25519_unwrap,
    .recipient = x25519_identity_recipient,
    .free = x25519_identity_free,
};

bool
age_identity_is_x25519(const struct age_identity *id)
{
    return id != NULL && id->ops == &x25519_identity_ops;
}

int
age_x25519_identity_from_scalar(struct age_identity **out, const unsigned char scalar[32])
{
    struct x25519_identity *id = calloc(1, sizeof(*id));

    *out = NULL;
    if (id == NULL || (id->scalar = age_secret_alloc(32)) == NULL) {
        free(id);
        return M3_ENOMEM;
    }
    memcpy(id->scalar, scalar, 32);
    crypto_scalarmult_base(id->pub, id->scalar);
    return (*out = age_identity_new(&x25519_identity_ops, id)) ? 0 : M3_ENOMEM;
}

int
age_x25519_identity_generate(struct age_identity **out)
{
    unsigned char *scalar = age_secret_alloc(32);
    int rc;

    if (scalar == NULL)
        return M3_ENOMEM;
    randombytes_buf(scalar, 32);
    rc = age_x25519_identity_from_scalar(out, scalar);
    age_secret_free(scalar);
    return rc;
}

int
age_x25519_identity_parse(struct age_identity **out, const char *s, struct m3_diag *d)
{
    unsigned char *scalar = age_secret_alloc(40);
    char hrp[24];
    size_t n = 0;
    int rc;

    *out = NULL;
    if (scalar == NULL)
        return M3_ENOMEM;
    if (strncmp(s, "AGE-SECRET-KEY-PQ-1", 19) == 0) {
        rc = m3_diag_set(d, M3_EINVAL,
                         "a post-quantum (AGE-SECRET-KEY-PQ-1) key is not an X25519 identity");
        goto out;
    }
    if (strncmp(s, "AGE-SECRET-KEY-1", 16) != 0 ||
        age_bech32_decode(s, hrp, sizeof(hrp), scalar, 40, &n) != 0 ||
        strcmp(hrp, "age-secret-key-") != 0 || n != 32) {
        /* Never echo the text: it may be (part of) a secret key. */
        rc = m3_diag_set(d, M3_EINVAL, "malformed age secret key (expected AGE-SECRET-KEY-1...)");
        goto out;
    }
    rc = age_x25519_identity_from_scalar(out, scalar);
out:
    age_secret_free(scalar);
    return rc;
}

int
age_x25519_identity_encode(const struct age_identity *id, char *buf, size_t cap)
{
    const struct x25519_identity *x;

    if (!age_identity_is_x25519(id))
        return M3_EINVAL;
    x = id->state;
    return age_bech32_encode("AGE-SECRET-KEY-", x->scalar, 32, true, buf, cap);
}
