/* mlkem768x25519.c: the post-quantum hybrid recipient type of age (c2sp.org/age):
 * age1pq1... recipients, AGE-SECRET-KEY-PQ-1... identities and `mlkem768x25519` stanzas,
 * whose body is HPKE SealBase of the file key with MLKEM768-X25519 (libage/hpke.c). */
#include "libage/internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "libage/cryptolib.h"
#include "libage/hpke.h"
#include "libage/mlkem.h"

#define KEM AGE_HPKE_KEM_MLKEM768_X25519
#define PK_SIZE AGE_PQ_PUBLIC_KEY_SIZE
#define ENC_SIZE 1120
#define STANZA_TYPE "mlkem768x25519"

static const unsigned char info[] = "age-encryption.org/mlkem768x25519";

struct pq_recipient {
    unsigned char pk[PK_SIZE];
};

struct pq_identity {
    unsigned char *seed;      /* 32 bytes, secret memory */
    struct age_hpke_key *key; /* the seed expanded once (secret memory) */
    unsigned char pk[PK_SIZE];
};

static int
pq_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
        struct m3_diag *d)
{
    const struct pq_recipient *r = state;
    unsigned char enc[ENC_SIZE], body[AGE_WRAPPED_SIZE];
    const char *args[1];
    char *enc64 = NULL;
    int rc;

    rc = age_hpke_seal_base(KEM, r->pk, info, sizeof(info) - 1, NULL, 0, file_key,
                            AGE_FILE_KEY_SIZE, enc, body, NULL);
    if (rc == M3_EINVAL)
        return m3_diag_set(d, rc, "post-quantum recipient is not a valid MLKEM768-X25519 key");
    if (rc != 0)
        return rc;
    if ((enc64 = age_b64_encode(enc, sizeof(enc))) == NULL)
        return M3_ENOMEM;
    args[0] = enc64;
    rc = age_stanza_list_add(out, STANZA_TYPE, args, 1, body, sizeof(body));
    free(enc64);
    return rc;
}

static char *
pq_encode(const void *state)
{
    const struct pq_recipient *r = state;
    char *s = malloc(AGE_PQ_RECIPIENT_LEN + 1);

    if (s != NULL &&
        age_bech32_encode("age1pq", r->pk, PK_SIZE, false, s, AGE_PQ_RECIPIENT_LEN + 1) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static const struct age_recipient_ops pq_recipient_ops = {
    .type = STANZA_TYPE,
    .wrap = pq_wrap,
    .encode = pq_encode,
    .free = free,
    .flags = AGE_RECIPIENT_PQ,
};

/* check_public_key: ML-KEM's modulus check and a usable X25519 point, so that a bad key is
 * refused where the message can name it rather than at every encryption. */
static int
check_public_key(const unsigned char *pk, struct m3_diag *d)
{
    unsigned char scalar[32], shared[32];
    int low;

    if (age_mlkem768_check_ek(pk) != 0)
        return m3_diag_set(d, M3_EINVAL,
                           "post-quantum recipient has an invalid ML-KEM-768 key (a coefficient "
                           "is not reduced modulo q)");
    randombytes_buf(scalar, sizeof(scalar));
    low = crypto_scalarmult(shared, scalar, pk + AGE_MLKEM768_EK_SIZE) != 0;
    sodium_memzero(scalar, sizeof(scalar));
    sodium_memzero(shared, sizeof(shared));
    if (low)
        return m3_diag_set(d, M3_EINVAL,
                           "post-quantum recipient's X25519 key is a low-order point");
    return 0;
}

int
age_pq_recipient_from_key(struct age_recipient **out, const unsigned char pk[PK_SIZE])
{
    struct pq_recipient *r = malloc(sizeof(*r));

    *out = NULL;
    if (r == NULL)
        return M3_ENOMEM;
    memcpy(r->pk, pk, PK_SIZE);
    return (*out = age_recipient_new(&pq_recipient_ops, r)) ? 0 : M3_ENOMEM;
}

int
age_pq_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d)
{
    unsigned char *pk = malloc(PK_SIZE + 8);
    char hrp[16];
    size_t n = 0;
    int rc;

    *out = NULL;
    if (pk == NULL)
        return M3_ENOMEM;
    if (strncmp(s, "age1pq1", 7) != 0)
        rc = m3_diag_set(d, M3_EINVAL, "not an age1pq1 post-quantum recipient");
    else if (age_bech32_decode(s, hrp, sizeof(hrp), pk, PK_SIZE + 8, &n) != 0)
        rc = m3_diag_set(d, M3_EINVAL, "malformed post-quantum recipient (bad bech32)");
    else if (strcmp(hrp, "age1pq") != 0 || n != PK_SIZE)
        rc = m3_diag_set(d, M3_EINVAL,
                         "malformed post-quantum recipient (%zu bytes of key, expected %d)", n,
                         PK_SIZE);
    else if ((rc = check_public_key(pk, d)) == 0)
        rc = age_pq_recipient_from_key(out, pk);
    free(pk);
    return rc;
}

bool
age_recipient_is_pq(const struct age_recipient *r)
{
    return r != NULL && (r->ops->flags & AGE_RECIPIENT_PQ) != 0;
}

/* ---- identity ---------------------------------------------------------------------------- */

static int
pq_unwrap_one(const struct pq_identity *id, const struct age_stanza *s, unsigned char *file_key,
              struct m3_diag *d)
{
    unsigned char enc[ENC_SIZE];
    int rc;

    if (s->nargs != 1)
        return m3_diag_set(d, M3_EHEADER,
                           "malformed mlkem768x25519 stanza (expected 1 argument, got %zu)",
                           s->nargs);
    if ((rc = age_b64_arg_decode(s->args[0], enc, ENC_SIZE, "mlkem768x25519 stanza enc", d)) != 0)
        return rc;
    /* the body length is checked before any decryption (partitioning oracles) */
    if (s->body_len != AGE_WRAPPED_SIZE)
        return m3_diag_set(d, M3_EHEADER,
                           "malformed mlkem768x25519 stanza (body is %zu bytes, not 32)",
                           s->body_len);
    rc = age_hpke_open_base_key(id->key, enc, info, sizeof(info) - 1, NULL, 0, s->body, s->body_len,
                                file_key);
    if (rc == M3_EINVAL)
        return m3_diag_set(d, M3_EHEADER,
                           "mlkem768x25519 stanza share is a low-order X25519 point");
    return rc; /* 0, M3_ENOMATCH (another recipient's stanza), or a library error */
}

static int
pq_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
          struct m3_diag *d)
{
    const struct pq_identity *id = state;

    for (size_t i = 0; i < n; i++) {
        int rc;
        if (strcmp(stanzas[i].type, STANZA_TYPE) != 0)
            continue;
        rc = pq_unwrap_one(id, &stanzas[i], file_key, d);
        if (rc != M3_ENOMATCH)
            return rc;
    }
    return M3_ENOMATCH;
}

static int
pq_identity_recipient(const void *state, struct age_recipient **out)
{
    const struct pq_identity *id = state;

    return age_pq_recipient_from_key(out, id->pk);
}

static void
pq_identity_free(void *state)
{
    struct pq_identity *id = state;

    if (id == NULL)
        return;
    age_secret_free(id->seed);
    age_hpke_key_free(id->key);
    free(id);
}

static const struct age_identity_ops pq_identity_ops = {
    .type = STANZA_TYPE,
    .unwrap = pq_unwrap,
    .recipient = pq_identity_recipient,
    .free = pq_identity_free,
};

bool
age_identity_is_pq(const struct age_identity *id)
{
    return id != NULL && id->ops == &pq_identity_ops;
}

int
age_pq_identity_from_seed(struct age_identity **out, const unsigned char seed[32])
{
    struct pq_identity *id = calloc(1, sizeof(*id));
    int rc;

    *out = NULL;
    if (id == NULL || (id->seed = age_secret_alloc(32)) == NULL) {
        free(id);
        return M3_ENOMEM;
    }
    memcpy(id->seed, seed, 32);
    if ((rc = age_hpke_key_new(&id->key, KEM, id->seed)) != 0 ||
        (rc = age_hpke_key_public(id->key, id->pk)) != 0) {
        pq_identity_free(id);
        return rc;
    }
    return (*out = age_identity_new(&pq_identity_ops, id)) ? 0 : M3_ENOMEM;
}

int
age_pq_identity_generate(struct age_identity **out)
{
    unsigned char *seed = age_secret_alloc(32);
    int rc;

    if (seed == NULL)
        return M3_ENOMEM;
    randombytes_buf(seed, 32);
    rc = age_pq_identity_from_seed(out, seed);
    age_secret_free(seed);
    return rc;
}

int
age_pq_identity_parse(struct age_identity **out, const char *s, struct m3_diag *d)
{
    unsigned char *seed = age_secret_alloc(40);
    char hrp[24];
    size_t n = 0;
    int rc;

    *out = NULL;
    if (seed == NULL)
        return M3_ENOMEM;
    if (strncmp(s, "AGE-SECRET-KEY-PQ-1", 19) != 0 ||
        age_bech32_decode(s, hrp, sizeof(hrp), seed, 40, &n) != 0 ||
        strcmp(hrp, "age-secret-key-pq-") != 0 || n != 32) {
        /* Never echo the text: it may be (part of) a secret key. */
        rc = m3_diag_set(d, M3_EINVAL,
                         "malformed post-quantum secret key (expected AGE-SECRET-KEY-PQ-1...)");
        goto out;
    }
    rc = age_pq_identity_from_seed(out, seed);
out:
    age_secret_free(seed);
    return rc;
}

int
age_pq_identity_encode(const struct age_identity *id, char *buf, size_t cap)
{
    const struct pq_identity *p;

    if (!age_identity_is_pq(id))
        return M3_EINVAL;
    p = id->state;
    return age_bech32_encode("AGE-SECRET-KEY-PQ-", p->seed, 32, true, buf, cap);
}
