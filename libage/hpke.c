/* hpke.c: HPKE base mode over DHKEM(P-256), MLKEM768-X25519 and MLKEM768-P256 (see hpke.h).
 *
 * The hybrid KEMs follow filippo.io/hpke-pq, the reference the age specification names for
 * draft-ietf-hpke-pq-03: a 32-byte seed expands with SHAKE256 into an ML-KEM-768 seed and a
 * traditional one; the shared secret is SHA3-256(ss_PQ || ss_T || ct_T || ek_T || Label). */
#include "libage/hpke.h"

#include <sodium.h>
#include <string.h>

#include "libage/mlkem.h"
#include "libage/p256.h"
#include "libage/sha3.h"

/* The constant-time check (tests/tools/mlkem_ct.c, as in mlkem.c): libsodium's X25519 folds
 * its all-zero check without a branch, and its result (a low-order share, which only a
 * malformed public value gives) is public by design. */
#ifdef AGE_CT_CHECK
#include <valgrind/memcheck.h>
#define declassify(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)
#else
#define declassify(p, n) ((void)(p), (void)(n))
#endif

/* x25519: crypto_scalarmult, its refusal of an all-zero result declassified (see above). */
static int
x25519(unsigned char *out, const unsigned char *scalar, const unsigned char *point)
{
    int rc = crypto_scalarmult(out, scalar, point);

    declassify(&rc, sizeof(rc));
    return rc;
}

#define NK_MAX 32
#define NN 12
#define NH 32
#define MLKEM_EK AGE_MLKEM768_EK_SIZE
#define MLKEM_CT AGE_MLKEM768_CT_SIZE

static const unsigned char xwing_label[] = {0x5c, 0x2e, 0x2f, 0x2f, 0x5e, 0x5c}; /* \.//^\ */
static const char p256_hybrid_label[] = "MLKEM768-P256";

int
age_hpke_kem_sizes(uint16_t kem, size_t *nenc, size_t *npk)
{
    size_t e, p;

    switch (kem) {
    case AGE_HPKE_KEM_P256_SHA256:
        e = p = AGE_P256_POINT_SIZE;
        break;
    case AGE_HPKE_KEM_MLKEM768_X25519:
        e = MLKEM_CT + 32;
        p = MLKEM_EK + 32;
        break;
    case AGE_HPKE_KEM_MLKEM768_P256:
        e = MLKEM_CT + AGE_P256_POINT_SIZE;
        p = MLKEM_EK + AGE_P256_POINT_SIZE;
        break;
    default:
        return M3_EUNSUPPORTED;
    }
    if (nenc != NULL)
        *nenc = e;
    if (npk != NULL)
        *npk = p;
    return 0;
}

/* ---- HKDF-SHA256 with HPKE's labels (RFC 9180 section 4) ------------------------------ */

static void
hmac_parts(unsigned char out[32], const unsigned char *key, size_t key_len,
           const struct age_bytes *in, size_t n)
{
    static const unsigned char empty[1];
    crypto_auth_hmacsha256_state st;

    /* HPKE's empty salt (and empty psk_id, info or ikm parts) may come as NULL: libsodium's
     * init declares its key pointer nonnull, so an empty key is given as a real one */
    crypto_auth_hmacsha256_init(&st, key_len > 0 ? key : empty, key_len);
    for (size_t i = 0; i < n; i++)
        if (in[i].len > 0)
            crypto_auth_hmacsha256_update(&st, in[i].p, in[i].len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm) */
static void
labeled_extract(unsigned char prk[32], const unsigned char *suite, size_t suite_len,
                const unsigned char *salt, size_t salt_len, const char *label,
                const unsigned char *ikm, size_t ikm_len)
{
    struct age_bytes in[4] = {
        {"HPKE-v1", 7}, {suite, suite_len}, {label, strlen(label)}, {ikm, ikm_len}};

    hmac_parts(prk, salt, salt_len, in, 4);
}

/* LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id ||
 * label || info, L), L <= 255 * 32. */
static void
labeled_expand(unsigned char *out, size_t len, const unsigned char prk[32],
               const unsigned char *suite, size_t suite_len, const char *label,
               const unsigned char *info, size_t info_len)
{
    unsigned char l2[2] = {(unsigned char)(len >> 8), (unsigned char)len}, t[32], ctr = 0;
    size_t done = 0;

    while (done < len) {
        size_t take = len - done < 32 ? len - done : 32;
        struct age_bytes in[7] = {
            {t, ctr == 0 ? 0 : 32}, {l2, 2},          {"HPKE-v1", 7}, {suite, suite_len},
            {label, strlen(label)}, {info, info_len}, {&ctr, 1}};
        ctr++;
        hmac_parts(t, prk, 32, in, 7);
        memcpy(out + done, t, take);
        done += take;
    }
    sodium_memzero(t, sizeof(t));
}

static void
kem_suite(unsigned char s[5], uint16_t kem)
{
    memcpy(s, "KEM", 3);
    s[3] = (unsigned char)(kem >> 8);
    s[4] = (unsigned char)kem;
}

int
age_hpke_key_schedule(uint16_t kem, uint16_t kdf, uint16_t aead, const unsigned char *ss,
                      const unsigned char *info, size_t info_len, unsigned char *key,
                      unsigned char *base_nonce, unsigned char *exporter_secret)
{
    unsigned char suite[10] = {'H', 'P', 'K', 'E'}, ctx[1 + 2 * NH], secret[32];
    size_t nk;

    if (kdf != AGE_HPKE_KDF_HKDF_SHA256)
        return M3_EUNSUPPORTED;
    if (aead == AGE_HPKE_AEAD_CHACHA20POLY1305)
        nk = 32;
    else if (aead == AGE_HPKE_AEAD_AES128GCM)
        nk = 16;
    else
        return M3_EUNSUPPORTED;
    suite[4] = (unsigned char)(kem >> 8), suite[5] = (unsigned char)kem;
    suite[6] = (unsigned char)(kdf >> 8), suite[7] = (unsigned char)kdf;
    suite[8] = (unsigned char)(aead >> 8), suite[9] = (unsigned char)aead;
    ctx[0] = 0x00; /* mode_base */
    labeled_extract(ctx + 1, suite, sizeof(suite), NULL, 0, "psk_id_hash", NULL, 0);
    labeled_extract(ctx + 1 + NH, suite, sizeof(suite), NULL, 0, "info_hash", info, info_len);
    labeled_extract(secret, suite, sizeof(suite), ss, AGE_HPKE_SECRET_SIZE, "secret", NULL, 0);
    labeled_expand(key, nk, secret, suite, sizeof(suite), "key", ctx, sizeof(ctx));
    labeled_expand(base_nonce, NN, secret, suite, sizeof(suite), "base_nonce", ctx, sizeof(ctx));
    labeled_expand(exporter_secret, NH, secret, suite, sizeof(suite), "exp", ctx, sizeof(ctx));
    sodium_memzero(secret, sizeof(secret));
    return 0;
}

/* ---- the traditional groups ------------------------------------------------------------ */

/* P-256 RandomScalar: the first 32-byte chunk of seed (n chunks) in [1, n), chosen with
 * masks so that which chunk it was does not show in the timing. M3_EINVAL when none is
 * (probability below 2^-128 for four chunks). */
static int
p256_random_scalar(unsigned char sk[32], const unsigned char *seed, size_t chunks)
{
    unsigned found = 0;

    memset(sk, 0, 32);
    for (size_t c = 0; c < chunks; c++) {
        unsigned ok = (unsigned)age_p256_scalar_ok(seed + 32 * c);
        unsigned char take = (unsigned char)(0u - (ok & (found ^ 1)));
        for (size_t i = 0; i < 32; i++)
            sk[i] = (unsigned char)(sk[i] | (take & seed[32 * c + i]));
        found |= ok;
    }
    return found ? 0 : M3_EINVAL;
}

/* DHKEM(P-256) DeriveKeyPair (RFC 9180 section 7.1.3): candidates from LabeledExpand until
 * one is a valid scalar. */
static int
p256_derive_key_pair(unsigned char sk[32], const unsigned char *ikm, size_t ikm_len)
{
    unsigned char suite[5], prk[32];
    int rc = M3_EINVAL;

    kem_suite(suite, AGE_HPKE_KEM_P256_SHA256);
    labeled_extract(prk, suite, sizeof(suite), NULL, 0, "dkp_prk", ikm, ikm_len);
    for (unsigned counter = 0; counter < 256; counter++) {
        unsigned char c = (unsigned char)counter;
        labeled_expand(sk, 32, prk, suite, sizeof(suite), "candidate", &c, 1);
        if (age_p256_scalar_ok(sk)) {
            rc = 0;
            break;
        }
    }
    sodium_memzero(prk, sizeof(prk));
    return rc;
}

/* DHKEM's ExtractAndExpand(dh, enc || pkR). */
static void
dhkem_shared(unsigned char ss[32], const unsigned char dh[32], const unsigned char *enc,
             const unsigned char *pk)
{
    unsigned char suite[5], prk[32], ctx[2 * AGE_P256_POINT_SIZE];

    kem_suite(suite, AGE_HPKE_KEM_P256_SHA256);
    memcpy(ctx, enc, AGE_P256_POINT_SIZE);
    memcpy(ctx + AGE_P256_POINT_SIZE, pk, AGE_P256_POINT_SIZE);
    labeled_extract(prk, suite, sizeof(suite), NULL, 0, "eae_prk", dh, 32);
    labeled_expand(ss, 32, prk, suite, sizeof(suite), "shared_secret", ctx, sizeof(ctx));
    sodium_memzero(prk, sizeof(prk));
}

/* ---- the hybrid KEMs ----------------------------------------------------------------- */

/* The expanded key of a hybrid seed: ML-KEM's keys and the traditional scalar and point. */
struct hybrid_key {
    unsigned char dk[AGE_MLKEM768_DK_SIZE];
    unsigned char ek[MLKEM_EK];
    unsigned char skT[32];
    unsigned char pkT[AGE_P256_POINT_SIZE]; /* 32 bytes used for X25519 */
    unsigned char full[64 + 128];           /* SHAKE256(seed) */
};

static int
hybrid_expand(struct hybrid_key *k, uint16_t kem, const unsigned char *seed)
{
    int x = kem == AGE_HPKE_KEM_MLKEM768_X25519;
    struct age_bytes in = {seed, 32};
    int rc;

    if ((rc = age_sha3(AGE_SHAKE256, &in, 1, k->full, x ? 64 + 32 : 64 + 128)) != 0 ||
        (rc = age_mlkem768_keygen(k->ek, k->dk, k->full)) != 0)
        return rc;
    if (x) {
        memcpy(k->skT, k->full + 64, 32);
        crypto_scalarmult_base(k->pkT, k->skT);
        return 0;
    }
    if ((rc = p256_random_scalar(k->skT, k->full + 64, 4)) != 0)
        return rc;
    return age_p256_public(k->pkT, k->skT);
}

/* ss = SHA3-256(ss_PQ || ss_T || ct_T || ek_T || Label) */
static int
hybrid_combine(unsigned char *ss, uint16_t kem, const unsigned char *ss_pq,
               const unsigned char *ss_t, const unsigned char *ct_t, const unsigned char *ek_t)
{
    int x = kem == AGE_HPKE_KEM_MLKEM768_X25519;
    size_t elem = x ? 32 : AGE_P256_POINT_SIZE;
    struct age_bytes in[5] = {{ss_pq, 32},
                              {ss_t, 32},
                              {ct_t, elem},
                              {ek_t, elem},
                              {x ? (const void *)xwing_label : p256_hybrid_label,
                               x ? sizeof(xwing_label) : sizeof(p256_hybrid_label) - 1}};

    return age_sha3(AGE_SHA3_256, in, 5, ss, 32);
}

struct encap_ws {
    unsigned char rnd[32 + 128], ss_pq[32], ss_t[32], sk_e[32];
};

static int
hybrid_encap(uint16_t kem, unsigned char *enc, unsigned char *ss, const unsigned char *pk,
             const unsigned char *rnd)
{
    int x = kem == AGE_HPKE_KEM_MLKEM768_X25519;
    const unsigned char *ek_t = pk + MLKEM_EK;
    unsigned char *ct_t = enc + MLKEM_CT;
    struct encap_ws w;
    int rc;

    if (rnd != NULL)
        memcpy(w.rnd, rnd, x ? 64 : 32 + 128);
    else
        randombytes_buf(w.rnd, sizeof(w.rnd));
    if ((rc = age_mlkem768_encaps(enc, w.ss_pq, pk, w.rnd)) != 0)
        goto out;
    if (x) {
        memcpy(w.sk_e, w.rnd + 32, 32);
        crypto_scalarmult_base(ct_t, w.sk_e);
        /* libsodium refuses a low-order point (all-zero result): never a valid key */
        if (x25519(w.ss_t, w.sk_e, ek_t) != 0) {
            rc = M3_EINVAL;
            goto out;
        }
    } else if ((rc = p256_random_scalar(w.sk_e, w.rnd + 32, 4)) != 0 ||
               (rc = age_p256_public(ct_t, w.sk_e)) != 0 ||
               (rc = age_p256_dh(w.ss_t, w.sk_e, ek_t)) != 0)
        goto out;
    rc = hybrid_combine(ss, kem, w.ss_pq, w.ss_t, ct_t, ek_t);
out:
    sodium_memzero(&w, sizeof(w));
    return rc;
}

static int
hybrid_decap(uint16_t kem, unsigned char *ss, const unsigned char *enc, const struct hybrid_key *k)
{
    unsigned char ss_pq[32], ss_t[32];
    int rc;

    if ((rc = age_mlkem768_decaps(ss_pq, k->dk, enc)) != 0)
        goto out;
    if (kem == AGE_HPKE_KEM_MLKEM768_X25519) {
        if (x25519(ss_t, k->skT, enc + MLKEM_CT) != 0) {
            rc = M3_EINVAL; /* a low-order share */
            goto out;
        }
    } else if ((rc = age_p256_dh(ss_t, k->skT, enc + MLKEM_CT)) != 0)
        goto out;
    rc = hybrid_combine(ss, kem, ss_pq, ss_t, enc + MLKEM_CT, k->pkT);
out:
    sodium_memzero(ss_pq, sizeof(ss_pq));
    sodium_memzero(ss_t, sizeof(ss_t));
    return rc;
}

/* ---- private keys, expanded once ------------------------------------------------------ */

struct age_hpke_key {
    uint16_t kem;
    unsigned char sk[32];  /* the P-256 scalar (DHKEM) */
    struct hybrid_key hyb; /* the expanded seed (hybrid KEMs) */
};

int
age_hpke_key_new(struct age_hpke_key **out, uint16_t kem, const unsigned char *sk)
{
    struct age_hpke_key *k;
    int rc;

    *out = NULL;
    if (age_hpke_kem_sizes(kem, NULL, NULL) != 0)
        return M3_EUNSUPPORTED;
    if ((k = sodium_malloc(sizeof(*k))) == NULL)
        return M3_ENOMEM;
    k->kem = kem;
    if (kem == AGE_HPKE_KEM_P256_SHA256) {
        memcpy(k->sk, sk, 32);
        rc = age_p256_scalar_ok(sk) ? 0 : M3_EINVAL;
    } else
        rc = hybrid_expand(&k->hyb, kem, sk);
    if (rc != 0) {
        sodium_free(k);
        return rc;
    }
    *out = k;
    return 0;
}

void
age_hpke_key_free(struct age_hpke_key *k)
{
    if (k != NULL)
        sodium_free(k); /* wiped */
}

int
age_hpke_key_public(const struct age_hpke_key *k, unsigned char *pk)
{
    if (k->kem == AGE_HPKE_KEM_P256_SHA256)
        return age_p256_public(pk, k->sk);
    memcpy(pk, k->hyb.ek, MLKEM_EK);
    memcpy(pk + MLKEM_EK, k->hyb.pkT, k->kem == AGE_HPKE_KEM_MLKEM768_X25519 ? 32 : 65);
    return 0;
}

static int
key_decap(const struct age_hpke_key *k, unsigned char *ss, const unsigned char *enc)
{
    unsigned char dh[32], pk[AGE_P256_POINT_SIZE];
    int rc;

    if (k->kem != AGE_HPKE_KEM_P256_SHA256)
        return hybrid_decap(k->kem, ss, enc, &k->hyb);
    if ((rc = age_p256_dh(dh, k->sk, enc)) == 0 && (rc = age_p256_public(pk, k->sk)) == 0)
        dhkem_shared(ss, dh, enc, pk);
    sodium_memzero(dh, sizeof(dh));
    return rc;
}

/* ---- the KEM interface --------------------------------------------------------------- */

int
age_hpke_derive_key_pair(uint16_t kem, unsigned char *sk, const unsigned char *ikm, size_t ikm_len)
{
    /* the hybrids: SHAKE256.LabeledDerive(ikm, "DeriveKeyPair", "", 32) of
     * draft-ietf-hpke-pq-03, labeled_ikm = ikm || "HPKE-v1" || suite_id ||
     * I2OSP(len(label), 2) || label || I2OSP(L, 2) || context */
    static const char label[] = "DeriveKeyPair";
    unsigned char suite[5], lab_len[2] = {0, sizeof(label) - 1}, out_len[2] = {0, 32};
    struct age_bytes in[6] = {{ikm, ikm_len},
                              {"HPKE-v1", 7},
                              {suite, sizeof(suite)},
                              {lab_len, 2},
                              {label, sizeof(label) - 1},
                              {out_len, 2}};

    if (kem == AGE_HPKE_KEM_P256_SHA256)
        return p256_derive_key_pair(sk, ikm, ikm_len);
    if (age_hpke_kem_sizes(kem, NULL, NULL) != 0)
        return M3_EUNSUPPORTED;
    kem_suite(suite, kem);
    return age_sha3(AGE_SHAKE256, in, 6, sk, 32);
}

int
age_hpke_public_key(uint16_t kem, unsigned char *pk, const unsigned char *sk)
{
    struct age_hpke_key *k;
    int rc;

    if ((rc = age_hpke_key_new(&k, kem, sk)) != 0)
        return rc;
    rc = age_hpke_key_public(k, pk);
    age_hpke_key_free(k);
    return rc;
}

int
age_hpke_encap(uint16_t kem, unsigned char *enc, unsigned char *ss, const unsigned char *pkR,
               const unsigned char *rnd)
{
    unsigned char ikm[32], sk_e[32], dh[32];
    int rc;

    if (kem != AGE_HPKE_KEM_P256_SHA256)
        return age_hpke_kem_sizes(kem, NULL, NULL) != 0 ? M3_EUNSUPPORTED
                                                        : hybrid_encap(kem, enc, ss, pkR, rnd);
    if (rnd != NULL)
        memcpy(ikm, rnd, 32);
    else
        randombytes_buf(ikm, sizeof(ikm));
    if ((rc = p256_derive_key_pair(sk_e, ikm, sizeof(ikm))) == 0 &&
        (rc = age_p256_public(enc, sk_e)) == 0 && (rc = age_p256_dh(dh, sk_e, pkR)) == 0)
        dhkem_shared(ss, dh, enc, pkR);
    sodium_memzero(ikm, sizeof(ikm));
    sodium_memzero(sk_e, sizeof(sk_e));
    sodium_memzero(dh, sizeof(dh));
    return rc;
}

int
age_hpke_decap(uint16_t kem, unsigned char *ss, const unsigned char *enc, const unsigned char *skR)
{
    struct age_hpke_key *k;
    int rc;

    if ((rc = age_hpke_key_new(&k, kem, skR)) != 0)
        return rc;
    rc = key_decap(k, ss, enc);
    age_hpke_key_free(k);
    return rc;
}

/* ---- SealBase / OpenBase -------------------------------------------------------------- */

struct ctx_ws {
    unsigned char ss[32], key[NK_MAX], nonce[NN], exp[NH];
};

int
age_hpke_seal_base(uint16_t kem, const unsigned char *pkR, const unsigned char *info,
                   size_t info_len, const unsigned char *aad, size_t aad_len,
                   const unsigned char *pt, size_t pt_len, unsigned char *enc, unsigned char *ct,
                   const unsigned char *rnd)
{
    struct ctx_ws w;
    int rc;

    if ((rc = age_hpke_encap(kem, enc, w.ss, pkR, rnd)) != 0 ||
        (rc = age_hpke_key_schedule(kem, AGE_HPKE_KDF_HKDF_SHA256, AGE_HPKE_AEAD_CHACHA20POLY1305,
                                    w.ss, info, info_len, w.key, w.nonce, w.exp)) != 0)
        goto out;
    /* the first message of the context: sequence number 0, nonce = base_nonce */
    crypto_aead_chacha20poly1305_ietf_encrypt(ct, NULL, pt, pt_len, aad, aad_len, NULL, w.nonce,
                                              w.key);
out:
    sodium_memzero(&w, sizeof(w));
    return rc;
}

int
age_hpke_open_base_key(const struct age_hpke_key *k, const unsigned char *enc,
                       const unsigned char *info, size_t info_len, const unsigned char *aad,
                       size_t aad_len, const unsigned char *ct, size_t ct_len, unsigned char *pt)
{
    struct ctx_ws w;
    int rc;

    if (ct_len < AGE_HPKE_TAG_SIZE)
        return M3_EINVAL;
    if ((rc = key_decap(k, w.ss, enc)) != 0 ||
        (rc =
             age_hpke_key_schedule(k->kem, AGE_HPKE_KDF_HKDF_SHA256, AGE_HPKE_AEAD_CHACHA20POLY1305,
                                   w.ss, info, info_len, w.key, w.nonce, w.exp)) != 0)
        goto out;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(pt, NULL, NULL, ct, ct_len, aad, aad_len, w.nonce,
                                                  w.key) != 0)
        rc = M3_ENOMATCH;
out:
    sodium_memzero(&w, sizeof(w));
    return rc;
}

int
age_hpke_open_base(uint16_t kem, const unsigned char *skR, const unsigned char *enc,
                   const unsigned char *info, size_t info_len, const unsigned char *aad,
                   size_t aad_len, const unsigned char *ct, size_t ct_len, unsigned char *pt)
{
    struct age_hpke_key *k;
    int rc;

    if (ct_len < AGE_HPKE_TAG_SIZE)
        return M3_EINVAL;
    if ((rc = age_hpke_key_new(&k, kem, skR)) != 0)
        return rc;
    rc = age_hpke_open_base_key(k, enc, info, info_len, aad, aad_len, ct, ct_len, pt);
    age_hpke_key_free(k);
    return rc;
}
