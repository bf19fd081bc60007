/* ssh_rsa.c: the ssh-rsa recipient type (age/agessh): the file key sealed with RSA-OAEP,
 * SHA-256 and MGF1-SHA-256, under the label "age-encryption.org/v1/ssh-rsa" (OpenSSL EVP). */
#include "libage/internal.h"
#include "libage/cryptolib.h" /* OpenSSL, opened on first use */
#include "libage/ssh_internal.h"

#include <openssl/core_names.h>

#include <stdlib.h>
#include <string.h>

struct rsa_key {
    struct age_ssh_common c; /* first: see ssh_internal.h */
    EVP_PKEY *pkey;
};

/* Go age refuses keys whose modulus is shorter than 256 bytes. */
static int
check_size(EVP_PKEY *pkey, struct m3_diag *d)
{
    int bits = EVP_PKEY_get_bits(pkey);

    if ((bits + 7) / 8 < AGE_SSH_RSA_MIN_BITS / 8)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "ssh-rsa key of %d bits is too small: age needs at least %d bits", bits,
                           AGE_SSH_RSA_MIN_BITS);
    return 0;
}

static size_t
put_string(unsigned char *p, const unsigned char *s, size_t n)
{
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    memcpy(p + 4, s, n);
    return 4 + n;
}

/* put_mpint: an SSH mpint of a non-negative BIGNUM (leading zero when the top bit is set). */
static size_t
put_mpint(unsigned char *p, const BIGNUM *bn)
{
    size_t n = (size_t)BN_num_bytes(bn);
    size_t pad = n > 0 && BN_num_bits(bn) % 8 == 0 ? 1 : 0;

    p[0] = (unsigned char)((n + pad) >> 24);
    p[1] = (unsigned char)((n + pad) >> 16);
    p[2] = (unsigned char)((n + pad) >> 8);
    p[3] = (unsigned char)(n + pad);
    p[4] = 0;
    BN_bn2bin(bn, p + 4 + pad);
    return 4 + pad + n;
}

/* wire_from_pkey: the SSH wire form (string "ssh-rsa", mpint e, mpint n) of an RSA key. */
static int
wire_from_pkey(EVP_PKEY *pkey, struct age_ssh_common *c)
{
    BIGNUM *n = NULL, *e = NULL;
    unsigned char *wire = NULL;
    size_t len;
    int rc = M3_EINVAL;

    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) != 1 ||
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e) != 1)
        goto out;
    len = 4 + 7 + 4 + 1 + (size_t)BN_num_bytes(e) + 4 + 1 + (size_t)BN_num_bytes(n);
    if ((wire = malloc(len)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    len = put_string(wire, (const unsigned char *)"ssh-rsa", 7);
    len += put_mpint(wire + len, e);
    len += put_mpint(wire + len, n);
    rc = age_ssh_common_set(c, wire, len);
out:
    free(wire);
    BN_free(n);
    BN_free(e);
    return rc;
}

static EVP_PKEY_CTX *
oaep_ctx(EVP_PKEY *pkey, int decrypt)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    unsigned char *label;

    if (ctx == NULL)
        return NULL;
    if ((decrypt ? EVP_PKEY_decrypt_init(ctx) : EVP_PKEY_encrypt_init(ctx)) != 1 ||
        EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) != 1 ||
        EVP_PKEY_CTX_set_rsa_oaep_md(ctx, EVP_sha256()) != 1 ||
        EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) != 1)
        goto fail;
    /* set0 takes ownership of an OPENSSL_malloc'd label. */
    if ((label = OPENSSL_memdup(AGE_SSH_RSA_LABEL, strlen(AGE_SSH_RSA_LABEL))) == NULL)
        goto fail;
    if (EVP_PKEY_CTX_set0_rsa_oaep_label(ctx, label, (int)strlen(AGE_SSH_RSA_LABEL)) != 1) {
        OPENSSL_free(label);
        goto fail;
    }
    return ctx;
fail:
    EVP_PKEY_CTX_free(ctx);
    return NULL;
}

static void
rsa_free(void *state)
{
    struct rsa_key *k = state;

    if (k == NULL)
        return;
    age_ssh_common_clear(&k->c);
    EVP_PKEY_free(k->pkey);
    free(k);
}

/* ---- recipient ---------------------------------------------------------------------- */

static int
rsa_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
         struct m3_diag *d)
{
    const struct rsa_key *k = state;
    EVP_PKEY_CTX *ctx = oaep_ctx(k->pkey, 0);
    unsigned char *body = NULL;
    size_t len = 0;
    const char *args[1] = {k->c.tag};
    int rc = M3_ENOMEM;

    if (ctx == NULL)
        goto out;
    if (EVP_PKEY_encrypt(ctx, NULL, &len, file_key, AGE_FILE_KEY_SIZE) != 1 ||
        (body = malloc(len)) == NULL ||
        EVP_PKEY_encrypt(ctx, body, &len, file_key, AGE_FILE_KEY_SIZE) != 1) {
        rc = m3_diag_set(d, M3_ENOMEM, "RSA-OAEP encryption failed");
        goto out;
    }
    rc = age_stanza_list_add(out, "ssh-rsa", args, 1, body, len);
out:
    free(body);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static char *
rsa_encode(const void *state)
{
    const struct rsa_key *k = state;

    return age_ssh_encode_line(k->c.wire, k->c.wire_len);
}

const struct age_recipient_ops age_ssh_rsa_recipient_ops = {
    .type = "ssh-rsa",
    .wrap = rsa_wrap,
    .encode = rsa_encode,
    .free = rsa_free,
};

static int
consistent(const BIGNUM *n, const BIGNUM *e, const BIGNUM *d, const BIGNUM *p, const BIGNUM *q,
           const BIGNUM *iqmp, BN_CTX *ctx)
{
    BIGNUM *t = BN_secure_new(), *m = BN_secure_new();
    int ok = 0;

    if (t == NULL || m == NULL || !BN_mul(t, p, q, ctx) || BN_cmp(t, n) != 0)
        goto out;
    if (!BN_sub(m, p, BN_value_one()) || !BN_mod_mul(t, e, d, m, ctx) || !BN_is_one(t))
        goto out;
    if (!BN_sub(m, q, BN_value_one()) || !BN_mod_mul(t, e, d, m, ctx) || !BN_is_one(t))
        goto out;
    if (!BN_mod_mul(t, q, iqmp, p, ctx) || !BN_is_one(t))
        goto out;
    ok = 1;
out:
    BN_clear_free(t);
    BN_clear_free(m);
    return ok;
}

/* pkey_from_params: an RSA EVP_PKEY from big-endian components (public: n, e only). */
static int
pkey_from_params(EVP_PKEY **out, const struct age_ssh_rsa_components *c, int private)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BN_CTX *bctx = NULL;
    BIGNUM *n = NULL, *e = NULL, *d = NULL, *p = NULL, *q = NULL, *iqmp = NULL;
    BIGNUM *dp = NULL, *dq = NULL, *t = NULL;
    int rc = M3_ENOMEM;

    *out = NULL;
    if (bld == NULL || (n = BN_bin2bn(c->n, (int)c->n_len, NULL)) == NULL ||
        (e = BN_bin2bn(c->e, (int)c->e_len, NULL)) == NULL)
        goto out;
    if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        goto out;
    if (private) {
        /* OpenSSH stores n, e, d, iqmp, p, q; OpenSSL's CRT also wants d mod (p-1), d mod
         * (q-1). Key material in BIGNUMs is cleared when freed. */
        if ((bctx = BN_CTX_secure_new()) == NULL || (d = BN_secure_new()) == NULL ||
            (p = BN_secure_new()) == NULL || (q = BN_secure_new()) == NULL ||
            (iqmp = BN_secure_new()) == NULL || (dp = BN_secure_new()) == NULL ||
            (dq = BN_secure_new()) == NULL || (t = BN_secure_new()) == NULL)
            goto out;
        if (!BN_bin2bn(c->d, (int)c->d_len, d) || !BN_bin2bn(c->p, (int)c->p_len, p) ||
            !BN_bin2bn(c->q, (int)c->q_len, q) || !BN_bin2bn(c->iqmp, (int)c->iqmp_len, iqmp))
            goto out;
        rc = M3_EINVAL;
        if (BN_is_zero(p) || BN_is_zero(q) || BN_is_one(p) || BN_is_one(q))
            goto out;
        if (!BN_sub(t, p, BN_value_one()) || !BN_mod(dp, d, t, bctx) ||
            !BN_sub(t, q, BN_value_one()) || !BN_mod(dq, d, t, bctx))
            goto out;
        /* A corrupted key must fail here, not as a wrong decryption later. These checks are
         * cheap (no primality tests, unlike EVP_PKEY_pairwise_check): n = pq, e d = 1 modulo
         * p - 1 and q - 1, and q iqmp = 1 mod p. */
        if (!consistent(n, e, d, p, q, iqmp, bctx))
            goto out;
        if (!OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, d) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, p) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, q) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, dp) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, dq) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, iqmp))
            goto out;
    }
    rc = M3_EINVAL;
    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
        EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, out, private ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto out;
    rc = 0;
out:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    BN_CTX_free(bctx);
    BN_free(n);
    BN_free(e);
    BN_clear_free(d);
    BN_clear_free(p);
    BN_clear_free(q);
    BN_clear_free(iqmp);
    BN_clear_free(dp);
    BN_clear_free(dq);
    BN_clear_free(t);
    return rc;
}

int
age_ssh_rsa_recipient_from_wire(struct age_recipient **out, const unsigned char *wire, size_t len,
                                struct m3_diag *d)
{
    struct age_ssh_buf b = {wire, len};
    struct age_ssh_rsa_components c = {0};
    struct rsa_key *k;
    int rc;

    *out = NULL;
    if (age_ssh_get_cstring(&b, "ssh-rsa") != 0 || age_ssh_get_string(&b, &c.e, &c.e_len) != 0 ||
        age_ssh_get_string(&b, &c.n, &c.n_len) != 0 || b.len != 0 || c.e_len == 0 || c.n_len == 0 ||
        (c.e[0] & 0x80) || (c.n[0] & 0x80))
        return m3_diag_set(d, M3_EINVAL, "malformed ssh-rsa public key");
    if ((rc = m3_crypto_load(d)) != 0)
        return rc;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return M3_ENOMEM;
    if ((rc = pkey_from_params(&k->pkey, &c, 0)) != 0) {
        rc = m3_diag_set(d, rc, "malformed ssh-rsa public key");
        goto fail;
    }
    if ((rc = check_size(k->pkey, d)) != 0 || (rc = age_ssh_common_set(&k->c, wire, len)) != 0)
        goto fail;
    if ((*out = age_recipient_new(&age_ssh_rsa_recipient_ops, k)) == NULL)
        return M3_ENOMEM;
    return 0;
fail:
    rsa_free(k);
    return rc;
}

/* ---- identity ----------------------------------------------------------------------- */

static int
rsa_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
           struct m3_diag *d)
{
    struct rsa_key *k = state;
    const struct age_stanza *s;
    EVP_PKEY_CTX *ctx = NULL;
    unsigned char *buf = NULL;
    size_t i, len = 0;
    int rc;

    if ((rc = age_ssh_find_stanza(stanzas, n, k->c.wire, k->c.wire_len, &i, d)) != 0)
        return rc;
    s = &stanzas[i];
    rc = M3_ENOMEM;
    if ((ctx = oaep_ctx(k->pkey, 1)) == NULL)
        goto out;
    len = (size_t)EVP_PKEY_get_size(k->pkey);
    if ((buf = age_secret_alloc(len)) == NULL)
        goto out;
    /* As in Go age, a stanza whose tag names this key but does not decrypt is an error. */
    if (EVP_PKEY_decrypt(ctx, buf, &len, s->body, s->body_len) != 1 || len != AGE_FILE_KEY_SIZE) {
        rc = m3_diag_set(d, M3_EHEADER,
                         "the ssh-rsa stanza for key %s does not decrypt (tampered header)",
                         k->c.tag);
        goto out;
    }
    memcpy(file_key, buf, AGE_FILE_KEY_SIZE);
    rc = 0;
out:
    age_secret_free(buf);
    EVP_PKEY_CTX_free(ctx);
    return rc;
}

static int
rsa_identity_recipient(const void *state, struct age_recipient **out)
{
    const struct rsa_key *k = state;

    return age_ssh_rsa_recipient_from_wire(out, k->c.wire, k->c.wire_len, NULL);
}

const struct age_identity_ops age_ssh_rsa_identity_ops = {
    .type = "ssh-rsa",
    .unwrap = rsa_unwrap,
    .recipient = rsa_identity_recipient,
    .free = rsa_free,
};

static int
identity_from_owned_pkey(struct age_identity **out, EVP_PKEY *pkey, struct m3_diag *d)
{
    struct rsa_key *k;
    int rc;

    if ((k = calloc(1, sizeof(*k))) == NULL) {
        EVP_PKEY_free(pkey);
        return M3_ENOMEM;
    }
    k->pkey = pkey;
    if (!EVP_PKEY_is_a(pkey, "RSA")) {
        rc = m3_diag_set(d, M3_EUNSUPPORTED, "not an RSA key");
        goto fail;
    }
    if ((rc = check_size(pkey, d)) != 0)
        goto fail;
    if ((rc = wire_from_pkey(pkey, &k->c)) != 0) {
        rc = m3_diag_set(d, rc, "cannot read the RSA public key");
        goto fail;
    }
    if ((*out = age_identity_new(&age_ssh_rsa_identity_ops, k)) == NULL)
        return M3_ENOMEM;
    return 0;
fail:
    rsa_free(k);
    return rc;
}

int
age_ssh_rsa_identity_new(struct age_identity **out, const struct age_ssh_rsa_components *c,
                         struct m3_diag *d)
{
    EVP_PKEY *pkey = NULL;
    int rc;

    *out = NULL;
    if (age_init() != 0)
        return M3_ENOMEM;
    if ((rc = m3_crypto_load(d)) != 0)
        return rc;
    if ((rc = pkey_from_params(&pkey, c, 1)) != 0)
        return m3_diag_set(d, rc,
                           rc == M3_EINVAL ? "corrupted key: the ssh-rsa private key is "
                                             "inconsistent"
                                           : "cannot build the ssh-rsa private key");
    return identity_from_owned_pkey(out, pkey, d);
}

int
age_ssh_rsa_identity_from_pkey(struct age_identity **out, struct evp_pkey_st *pkey,
                               struct m3_diag *d)
{
    *out = NULL;
    if (age_init() != 0 || m3_crypto_load(d) != 0)
        return d != NULL && d->code != 0 ? d->code : M3_ENOMEM;
    if (EVP_PKEY_up_ref(pkey) != 1)
        return M3_ENOMEM;
    return identity_from_owned_pkey(out, pkey, d);
}
