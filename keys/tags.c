/* tags.c: plugin recipients (bech32 HRP "age1" + plugin name) and the tags by which the
 * stanzas of the tagged P-256 types name their key: piv-p256 (age-plugin-yubikey), p256tag
 * and mlkem768p256tag (c2sp.org/age, "The tagged recipient types"). No private key, no
 * plugin: only what a header says about who can open it. */
#include "keys/keys.h"
#include "libage/cryptolib.h" /* OpenSSL, opened on first use */

#include <ctype.h>
#include <openssl/core_names.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define P256_COMPRESSED 33
#define P256_UNCOMPRESSED 65
#define MLKEM768_EK 1184
#define P256TAG_ENC 65
#define MLKEM768P256TAG_ENC 1153

/* p256_point_check: whether pt (SEC 1 encoding) is a point of P-256. OpenSSL decompresses a
 * compressed point (no square root: not a point) and checks an uncompressed one is on the
 * curve. */
static int
p256_point_check(const unsigned char *pt, size_t len, struct m3_diag *d)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    int rc;

    if ((rc = m3_crypto_load(d)) != 0)
        return rc;
    rc = M3_ENOMEM;
    if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
        !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, len) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) <= 0)
        goto out;
    rc = EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params) > 0 ? 0 : M3_EINVAL;
out:
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return rc;
}

/* plugin_sep: the index of the bech32 separator of s when s is a plugin recipient (its HRP
 * is "age1" and more), else 0. The data part has no '1' (not in the bech32 charset): the
 * separator is the last one. */
static size_t
plugin_sep(const char *s)
{
    const char *last = strrchr(s, '1');

    if (strncasecmp(s, "age1", 4) != 0 || last == NULL || last - s <= 3)
        return 0;
    /* "age1pq" is age's native post-quantum type (libage/mlkem768x25519.c), not a plugin */
    if (last - s == 6 && strncasecmp(s, "age1pq", 6) == 0)
        return 0;
    return (size_t)(last - s);
}

int
keys_plugin_parse(const char *s, struct keys_plugin_key *out, struct m3_diag *d)
{
    size_t sep = plugin_sep(s), n = strlen(s), len = 0;
    unsigned char *data = NULL, h[crypto_hash_sha256_BYTES];
    char *hrp = NULL;
    const char *name;
    int rc;

    memset(out, 0, sizeof(*out));
    if (sep == 0)
        return M3_ENOMATCH;
    if ((hrp = malloc(n + 1)) == NULL || (data = malloc(n)) == NULL) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    name = s + 4;
    if (sep - 4 >= sizeof(out->plugin)) {
        rc = m3_diag_set(d, M3_EINVAL, "plugin recipient with a name longer than %zu characters",
                         sizeof(out->plugin) - 1);
        goto out;
    }
    for (size_t i = 0; i < sep - 4; i++)
        out->plugin[i] = (char)tolower((unsigned char)name[i]);
    if (age_bech32_decode(s, hrp, n + 1, data, n, &len) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "malformed age1%s plugin recipient (bad bech32)",
                         out->plugin);
        goto out;
    }
    rc = 0;
    if (strcmp(out->plugin, "yubikey") == 0 || strcmp(out->plugin, "tag") == 0) {
        if (len != P256_COMPRESSED || (data[0] != 2 && data[0] != 3)) {
            rc = m3_diag_set(d, M3_EINVAL,
                             "age1%s recipient holds %zu bytes, not a 33-byte compressed P-256 "
                             "point",
                             out->plugin, len);
            goto out;
        }
        if ((rc = p256_point_check(data, len, d)) == M3_EINVAL)
            rc = m3_diag_set(d, M3_EINVAL, "age1%s recipient is not a point of P-256", out->plugin);
        out->scheme = KEYS_TAG_P256;
        crypto_hash_sha256(h, data, len);
    } else if (strcmp(out->plugin, "tagpq") == 0) {
        const unsigned char *pt = data + MLKEM768_EK;
        if (len != MLKEM768_EK + P256_UNCOMPRESSED || pt[0] != 4) {
            rc = m3_diag_set(d, M3_EINVAL,
                             "age1tagpq recipient holds %zu bytes, not an ML-KEM-768 key and an "
                             "uncompressed P-256 point (%d bytes)",
                             len, MLKEM768_EK + P256_UNCOMPRESSED);
            goto out;
        }
        if ((rc = p256_point_check(pt, P256_UNCOMPRESSED, d)) == M3_EINVAL)
            rc = m3_diag_set(d, M3_EINVAL, "age1tagpq recipient's P-256 point is not on the curve");
        out->scheme = KEYS_TAG_P256_PQ;
        crypto_hash_sha256(h, pt, P256_UNCOMPRESSED);
    }
    if (rc == 0 && out->scheme != KEYS_TAG_NONE)
        memcpy(out->hash, h, sizeof(out->hash));
out:
    free(hrp);
    free(data);
    return rc;
}

bool
keys_stanza_is_tagged(const struct age_stanza *s)
{
    return strcmp(s->type, "piv-p256") == 0 || strcmp(s->type, "p256tag") == 0 ||
           strcmp(s->type, "mlkem768p256tag") == 0;
}

/* hpke_tag_is: whether tag_b64 is the tag (age_tag_compute) of a stanza of type `type` whose
 * encapsulated key is enc_b64, for the key whose hash is `hash`. */
static bool
hpke_tag_is(const char *type, const char *enc_b64, size_t enc_len, const unsigned char hash[4],
            const char *tag_b64)
{
    unsigned char enc[MLKEM768P256TAG_ENC], tag[AGE_STANZA_TAG_SIZE], want[AGE_STANZA_TAG_SIZE];
    size_t n = 0;

    if (age_b64_decode(tag_b64, strlen(tag_b64), tag, sizeof(tag), &n) != 0 || n != 4 ||
        age_b64_decode(enc_b64, strlen(enc_b64), enc, sizeof(enc), &n) != 0 || n != enc_len)
        return false;
    age_tag_compute(type, enc, enc_len, hash, want);
    return sodium_memcmp(want, tag, sizeof(tag)) == 0;
}

bool
keys_plugin_stanza_matches(const struct keys_plugin_key *k, const struct age_stanza *s)
{
    if (k->scheme == KEYS_TAG_P256 && strcmp(s->type, "piv-p256") == 0 && s->nargs == 2) {
        unsigned char tag[4];
        size_t n = 0;
        return age_b64_decode(s->args[0], strlen(s->args[0]), tag, sizeof(tag), &n) == 0 &&
               n == 4 && memcmp(tag, k->hash, 4) == 0;
    }
    if (k->scheme == KEYS_TAG_P256 && strcmp(s->type, "p256tag") == 0 && s->nargs == 2)
        return hpke_tag_is("p256tag", s->args[1], P256TAG_ENC, k->hash, s->args[0]);
    if (k->scheme == KEYS_TAG_P256_PQ && strcmp(s->type, "mlkem768p256tag") == 0 && s->nargs == 2)
        return hpke_tag_is("mlkem768p256tag", s->args[1], MLKEM768P256TAG_ENC, k->hash, s->args[0]);
    return false;
}
