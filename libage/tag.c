/* tag.c: the tagged recipient types of age (c2sp.org/age, "The tagged recipient types"):
 * age1tag1... (p256tag: HPKE with DHKEM(P-256)) and age1tagpq1... (mlkem768p256tag: HPKE with
 * MLKEM768-P256). Encryption only: their identities live in hardware and are reached through
 * plugins. Each stanza names its key by a 4-byte tag, computed here (age_tag_compute) for
 * both wrapping and matching (keys/tags.c). */
#include "libage/internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "libage/cryptolib.h"
#include "libage/hpke.h"
#include "libage/mlkem.h"
#include "libage/p256.h"

#define P256_PK AGE_P256_POINT_SIZE
#define P256_ENC AGE_P256_POINT_SIZE
#define PQ_PK (AGE_MLKEM768_EK_SIZE + AGE_P256_POINT_SIZE) /* 1249 */
#define PQ_ENC 1153

struct tag_recipient {
    bool pq;                       /* age1tagpq1 (mlkem768p256tag), else age1tag1 (p256tag) */
    unsigned char pk[PQ_PK];       /* the HPKE public key: the uncompressed point for p256tag */
    unsigned char text_key[PQ_PK]; /* the key as the recipient string encodes it */
    size_t text_len;
    unsigned char hash[4]; /* SHA-256(compressed point)[:4] or SHA-256(pk[1184:])[:4] */
};

void
age_tag_compute(const char *stanza_type, const unsigned char *enc, size_t enc_len,
                const unsigned char hash[4], unsigned char tag[AGE_STANZA_TAG_SIZE])
{
    unsigned char label[64], mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    size_t ll;

    /* HKDF-Extract(salt, ikm) is HMAC-SHA-256 keyed with the salt, which is the label
     * "age-encryption.org/" || stanza type */
    ll = (size_t)snprintf((char *)label, sizeof(label), "age-encryption.org/%s", stanza_type);
    crypto_auth_hmacsha256_init(&st, label, ll < sizeof(label) ? ll : sizeof(label) - 1);
    crypto_auth_hmacsha256_update(&st, enc, enc_len);
    crypto_auth_hmacsha256_update(&st, hash, 4);
    crypto_auth_hmacsha256_final(&st, mac);
    memcpy(tag, mac, AGE_STANZA_TAG_SIZE);
}

static int
tag_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
         struct m3_diag *d)
{
    const struct tag_recipient *r = state;
    const char *type = r->pq ? "mlkem768p256tag" : "p256tag";
    const char *info = r->pq ? "age-encryption.org/mlkem768p256tag" : "age-encryption.org/p256tag";
    size_t enc_len = r->pq ? PQ_ENC : P256_ENC;
    unsigned char enc[PQ_ENC], body[AGE_WRAPPED_SIZE], tag[AGE_STANZA_TAG_SIZE];
    const char *args[2];
    char *tag64 = NULL, *enc64 = NULL;
    int rc;

    if ((rc = m3_crypto_load(d)) != 0)
        return rc;
    rc = age_hpke_seal_base(r->pq ? AGE_HPKE_KEM_MLKEM768_P256 : AGE_HPKE_KEM_P256_SHA256, r->pk,
                            (const unsigned char *)info, strlen(info), NULL, 0, file_key,
                            AGE_FILE_KEY_SIZE, enc, body, NULL);
    if (rc == M3_EINVAL)
        return m3_diag_set(d, rc, "%s recipient is not a valid key",
                           r->pq ? "age1tagpq" : "age1tag");
    if (rc != 0)
        return rc;
    age_tag_compute(type, enc, enc_len, r->hash, tag);
    rc = M3_ENOMEM;
    if ((tag64 = age_b64_encode(tag, sizeof(tag))) == NULL ||
        (enc64 = age_b64_encode(enc, enc_len)) == NULL)
        goto out;
    args[0] = tag64;
    args[1] = enc64;
    rc = age_stanza_list_add(out, type, args, 2, body, sizeof(body));
out:
    free(tag64);
    free(enc64);
    return rc;
}

static char *
tag_encode(const void *state)
{
    const struct tag_recipient *r = state;
    size_t cap = 16 + (r->text_len * 8 + 4) / 5 + 8;
    char *s = malloc(cap);

    if (s != NULL && age_bech32_encode(r->pq ? "age1tagpq" : "age1tag", r->text_key, r->text_len,
                                       false, s, cap) != 0) {
        free(s);
        s = NULL;
    }
    return s;
}

static const struct age_recipient_ops tag_ops = {
    .type = "p256tag",
    .wrap = tag_wrap,
    .encode = tag_encode,
    .free = free,
    .flags = 0,
};

static const struct age_recipient_ops tagpq_ops = {
    .type = "mlkem768p256tag",
    .wrap = tag_wrap,
    .encode = tag_encode,
    .free = free,
    .flags = AGE_RECIPIENT_PQ,
};

/* point_is_valid: whether pt is an uncompressed point of P-256: compressing it by hand and
 * decompressing it gives it back only when its y is the curve's for its x. */
static bool
point_is_valid(const unsigned char pt[AGE_P256_POINT_SIZE])
{
    unsigned char c[AGE_P256_COMPRESSED_SIZE], u[AGE_P256_POINT_SIZE];

    if (pt[0] != 4)
        return false;
    c[0] = (unsigned char)(2 | (pt[64] & 1));
    memcpy(c + 1, pt + 1, 32);
    return age_p256_decompress(u, c) == 0 && memcmp(u, pt, sizeof(u)) == 0;
}

int
age_tag_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d)
{
    struct tag_recipient *r = NULL;
    unsigned char *data = NULL, h[crypto_hash_sha256_BYTES];
    size_t n = 0, cap = strlen(s);
    bool pq = strncmp(s, "age1tagpq1", 10) == 0;
    const char *what = pq ? "age1tagpq" : "age1tag";
    char hrp[16];
    int rc;

    *out = NULL;
    if (!pq && strncmp(s, "age1tag1", 8) != 0)
        return m3_diag_set(d, M3_EINVAL, "not an age1tag1 or age1tagpq1 recipient");
    if ((rc = m3_crypto_load(d)) != 0)
        return rc;
    if ((data = malloc(cap + 1)) == NULL || (r = calloc(1, sizeof(*r))) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    r->pq = pq;
    if (age_bech32_decode(s, hrp, sizeof(hrp), data, cap, &n) != 0 || strcmp(hrp, what) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "malformed %s recipient (bad bech32)", what);
        goto out;
    }
    if (pq) {
        if (n != PQ_PK) {
            rc = m3_diag_set(d, M3_EINVAL,
                             "age1tagpq recipient holds %zu bytes, not an ML-KEM-768 key and an "
                             "uncompressed P-256 point (%d bytes)",
                             n, PQ_PK);
            goto out;
        }
        if (age_mlkem768_check_ek(data) != 0) {
            rc = m3_diag_set(d, M3_EINVAL,
                             "age1tagpq recipient has an invalid ML-KEM-768 key (a coefficient is "
                             "not reduced modulo q)");
            goto out;
        }
        if (!point_is_valid(data + AGE_MLKEM768_EK_SIZE)) {
            rc = m3_diag_set(d, M3_EINVAL, "age1tagpq recipient's P-256 point is not on the curve");
            goto out;
        }
        memcpy(r->pk, data, PQ_PK);
        crypto_hash_sha256(h, data + AGE_MLKEM768_EK_SIZE, AGE_P256_POINT_SIZE);
    } else {
        if (n != AGE_P256_COMPRESSED_SIZE || (data[0] != 2 && data[0] != 3)) {
            rc = m3_diag_set(d, M3_EINVAL,
                             "age1tag recipient holds %zu bytes, not a 33-byte compressed P-256 "
                             "point",
                             n);
            goto out;
        }
        /* HPKE's DeserializePublicKey takes the uncompressed point (the spec's MUST) */
        if (age_p256_decompress(r->pk, data) != 0) {
            rc = m3_diag_set(d, M3_EINVAL, "age1tag recipient is not a point of P-256");
            goto out;
        }
        crypto_hash_sha256(h, data, AGE_P256_COMPRESSED_SIZE);
    }
    memcpy(r->text_key, data, n);
    r->text_len = n;
    memcpy(r->hash, h, sizeof(r->hash));
    {
        struct tag_recipient *st = r; /* age_recipient_new owns it, even when it fails */
        r = NULL;
        if ((*out = age_recipient_new(pq ? &tagpq_ops : &tag_ops, st)) == NULL)
            rc = M3_ENOMEM;
    }
out:
    free(r);
    free(data);
    return rc;
}
