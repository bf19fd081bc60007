/* HPKE (libage/hpke.c) against known answers: RFC 9180's own vectors for
 * DHKEM(P-256, HKDF-SHA256) (A.5.1 with ChaCha20Poly1305: SealBase and OpenBase; A.3.1:
 * the KEM), and the draft-ietf-hpke-pq vectors copied in tests/testkit/hpke for
 * MLKEM768-X25519 (with HKDF-SHA256 and ChaCha20Poly1305, age's suite) and MLKEM768-P256
 * (its KEM, Encap and Decap, and key schedule). */
#include <criterion/criterion.h>
#include <sodium.h>

#include "libage/age.h"
#include "libage/hpke.h"
#include "libage/p256.h"
#include "mlkem_testkit.h"

static unsigned char *
hx(const char *s, size_t *len)
{
    size_t n;
    unsigned char *b = unhex(s, len ? len : &n);
    return b;
}

static void
assert_hex(const unsigned char *got, size_t len, const char *want, const char *what)
{
    size_t n;
    unsigned char *w = hx(want, &n);

    cr_assert_eq(len, n, "%s: %zu bytes, expected %zu", what, len, n);
    cr_assert(memcmp(got, w, n) == 0, "%s differs", what);
    free(w);
}

TestSuite(hpke, .init = (void (*)(void))age_init);

/* RFC 9180 A.5.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305, base mode,
 * sequence number 0. */
Test(hpke, rfc9180_p256_chacha20poly1305)
{
    static const char ikmE[] = "f1f1a3bc95416871539ecb51c3a8f0cf608afb40fbbe305c0a72819d35c33f1f";
    static const char pkRm[] = "04a697bffde9405c992883c5c439d6cc358170b51af72812333b015621dc0f40ba"
                               "d9bb726f68a5c013806a790ec716ab8669f84f6b694596c2987cf35baba2a006";
    static const char skRm[] = "a4d1c55836aa30f9b3fbb6ac98d338c877c2867dd3a77396d13f68d3ab150d3b";
    static const char enc[] = "04c07836a0206e04e31d8ae99bfd549380b072a1b1b82e563c935c095827824fc1"
                              "559eac6fb9e3c70cd3193968994e7fe9781aa103f5b50e934b5b2f387e381291";
    static const char ct0[] = "6469c41c5c81d3aa85432531ecf6460ec945bde1eb428cb2fedf7a29f5a685b4ccb0"
                              "d057f03ea2952a27bb458b";
    static const char info[] = "4f6465206f6e2061204772656369616e2055726e";
    static const char pt[] = "4265617574792069732074727574682c20747275746820626561757479";
    static const char aad[] = "436f756e742d30";
    size_t info_len, pt_len, aad_len;
    unsigned char *ikm = hx(ikmE, NULL), *pk = hx(pkRm, NULL), *sk = hx(skRm, NULL);
    unsigned char *in = hx(info, &info_len), *p = hx(pt, &pt_len), *a = hx(aad, &aad_len);
    unsigned char pub[65], e[65], c[128], back[128];

    cr_assert_eq(age_hpke_public_key(AGE_HPKE_KEM_P256_SHA256, pub, sk), 0);
    assert_hex(pub, 65, pkRm, "pkRm from skRm");
    cr_assert_eq(age_hpke_seal_base(AGE_HPKE_KEM_P256_SHA256, pk, in, info_len, a, aad_len, p,
                                    pt_len, e, c, ikm),
                 0);
    assert_hex(e, 65, enc, "enc");
    assert_hex(c, pt_len + 16, ct0, "ciphertext");
    cr_assert_eq(age_hpke_open_base(AGE_HPKE_KEM_P256_SHA256, sk, e, in, info_len, a, aad_len, c,
                                    pt_len + 16, back),
                 0);
    cr_assert(memcmp(back, p, pt_len) == 0);
    c[3] ^= 1;
    cr_assert_eq(age_hpke_open_base(AGE_HPKE_KEM_P256_SHA256, sk, e, in, info_len, a, aad_len, c,
                                    pt_len + 16, back),
                 M3_ENOMATCH);
    e[40] ^= 1; /* off the curve */
    cr_assert_eq(age_hpke_decap(AGE_HPKE_KEM_P256_SHA256, back, e, sk), M3_EINVAL);
    free(ikm), free(pk), free(sk), free(in), free(p), free(a);
}

/* RFC 9180 A.3.1 (the same KEM with AES-128-GCM): the shared secret. */
Test(hpke, rfc9180_p256_kem)
{
    unsigned char *ikm =
        hx("4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e", NULL);
    unsigned char *pk = hx("04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a77"
                           "9b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0",
                           NULL);
    unsigned char *sk =
        hx("f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2", NULL);
    unsigned char e[65], ss[32], ss2[32];

    {
        unsigned char *ikmR =
            hx("668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550", NULL);
        unsigned char d[32];
        cr_assert_eq(age_hpke_derive_key_pair(AGE_HPKE_KEM_P256_SHA256, d, ikmR, 32), 0);
        cr_assert(memcmp(d, sk, 32) == 0, "skRm = DeriveKeyPair(ikmR)");
        free(ikmR);
    }
    cr_assert_eq(age_hpke_encap(AGE_HPKE_KEM_P256_SHA256, e, ss, pk, ikm), 0);
    assert_hex(e, 65,
               "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4"
               "b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4",
               "enc");
    assert_hex(ss, 32, "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8",
               "shared_secret");
    cr_assert_eq(age_hpke_decap(AGE_HPKE_KEM_P256_SHA256, ss2, e, sk), 0);
    cr_assert(memcmp(ss, ss2, 32) == 0);
    free(ikm), free(pk), free(sk);
}

/* ---- the draft's JSON vectors: a small reader for their flat layout ------------------- */

static char *json;

static void
load_json(void)
{
    char path[PATH_MAX + 64];
    FILE *f;
    long n;

    if (!testkit_path("hpke/hpke-pq-test-vectors.json", path, sizeof(path)))
        cr_skip_test("no HPKE vectors (tests/testkit/hpke)");
    cr_assert_not_null(f = fopen(path, "r"));
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    json = calloc(1, (size_t)n + 1);
    cr_assert_eq(fread(json, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

/* obj_end: the end of the JSON object or array starting at p. */
static const char *
obj_end(const char *p)
{
    int depth = 0;
    for (; *p; p++) {
        if (*p == '"') {
            for (p++; *p && *p != '"'; p++)
                ;
        } else if (*p == '{' || *p == '[')
            depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0)
            return p + 1;
    }
    return p;
}

/* field: the value of "key" at the top level of the object [o, end), as a malloc'd string
 * (a string's contents or a number's digits), or NULL. */
static char *
field(const char *o, const char *end, const char *key)
{
    size_t kl = strlen(key);
    int depth = 0;

    for (const char *p = o; p < end; p++) {
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        else if (*p == '"') {
            const char *s = p + 1, *q = strchr(s, '"');
            if (depth == 1 && (size_t)(q - s) == kl && memcmp(s, key, kl) == 0) {
                const char *v = q + 1;
                while (*v == ':' || *v == ' ')
                    v++;
                if (*v == '"') {
                    const char *ve = strchr(v + 1, '"');
                    return strndup(v + 1, (size_t)(ve - v - 1));
                }
                return strndup(v, strcspn(v, ",}"));
            }
            p = q;
        }
    }
    return NULL;
}

static int
vectors_for(uint16_t kem, uint16_t kdf, uint16_t aead)
{
    int count = 0;

    load_json();
    for (const char *o = strchr(json, '{'); o != NULL; o = strchr(obj_end(o), '{')) {
        const char *end = obj_end(o);
        char *k = field(o, end, "kem_id"), *f = field(o, end, "kdf_id"),
             *a = field(o, end, "aead_id");
        int match = atoi(k) == kem && atoi(f) == kdf && atoi(a) == aead;
        free(k), free(f), free(a);
        if (!match)
            continue;
        count++;
        {
            char *sk = field(o, end, "skRm"), *pk = field(o, end, "pkRm"),
                 *enc = field(o, end, "enc");
            char *ss = field(o, end, "shared_secret"), *info = field(o, end, "info");
            char *key = field(o, end, "key"), *nonce = field(o, end, "base_nonce");
            char *exp = field(o, end, "exporter_secret"), *ikmE = field(o, end, "ikmE");
            size_t npk, nenc, info_len;
            unsigned char *skb = hx(sk, NULL), *encb = hx(enc, NULL), *infob = hx(info, &info_len);
            unsigned char *rnd = hx(ikmE, NULL), pub[AGE_HPKE_MAX_PK], e[AGE_HPKE_MAX_ENC];
            unsigned char s1[32], s2[32], kk[32], nn[12], xx[32];
            cr_assert_eq(age_hpke_kem_sizes(kem, &nenc, &npk), 0);
            {
                char *ikmR = field(o, end, "ikmR");
                size_t ikm_len;
                unsigned char *ikm = hx(ikmR, &ikm_len), derived[32];
                cr_assert_eq(age_hpke_derive_key_pair(kem, derived, ikm, ikm_len), 0);
                assert_hex(derived, 32, sk, "skRm = DeriveKeyPair(ikmR)");
                free(ikmR), free(ikm);
            }
            cr_assert_eq(age_hpke_public_key(kem, pub, skb), 0);
            assert_hex(pub, npk, pk, "pkRm from skRm");
            cr_assert_eq(age_hpke_decap(kem, s1, encb, skb), 0);
            assert_hex(s1, 32, ss, "shared_secret (Decap)");
            {
                /* ikmE is the Encap randomness: ML-KEM's m, then the X25519 scalar (32 bytes)
                 * or the P-256 seed that RandomScalar samples from (96 bytes here; its first
                 * 32-byte candidate is valid, so the 128 bytes we draw give the same key) */
                unsigned char r[32 + 128] = {0};
                size_t rlen;
                free(rnd);
                rnd = hx(ikmE, &rlen);
                cr_assert_leq(rlen, sizeof(r));
                memcpy(r, rnd, rlen);
                cr_assert_eq(age_hpke_encap(kem, e, s2, pub, r), 0);
                assert_hex(e, nenc, enc, "enc (Encap)");
                assert_hex(s2, 32, ss, "shared_secret (Encap)");
            }
            cr_assert_eq(age_hpke_key_schedule(kem, kdf, aead, s1, infob, info_len, kk, nn, xx), 0);
            assert_hex(kk, aead == AGE_HPKE_AEAD_AES128GCM ? 16 : 32, key, "key");
            assert_hex(nn, 12, nonce, "base_nonce");
            assert_hex(xx, 32, exp, "exporter_secret");
            if (aead == AGE_HPKE_AEAD_CHACHA20POLY1305) {
                /* the first encryption (sequence number 0) through OpenBase */
                const char *enx = strstr(o, "\"encryptions\"");
                const char *e0 = strchr(enx, '{'), *e0end = obj_end(e0);
                char *aad = field(e0, e0end, "aad"), *ct = field(e0, e0end, "ct");
                char *pt = field(e0, e0end, "pt");
                size_t aad_len, ct_len;
                unsigned char *aadb = hx(aad, &aad_len), *ctb = hx(ct, &ct_len), back[512];
                cr_assert_lt(ct_len, sizeof(back));
                cr_assert_eq(age_hpke_open_base(kem, skb, encb, infob, info_len, aadb, aad_len, ctb,
                                                ct_len, back),
                             0);
                assert_hex(back, ct_len - 16, pt, "plaintext (OpenBase)");
                free(aad), free(ct), free(pt), free(aadb), free(ctb);
            }
            free(sk), free(pk), free(enc), free(ss), free(info), free(key), free(nonce), free(exp);
            free(ikmE), free(skb), free(encb), free(infob), free(rnd);
        }
    }
    free(json);
    return count;
}

Test(hpke, draft_mlkem768_x25519)
{
    cr_assert_eq(vectors_for(AGE_HPKE_KEM_MLKEM768_X25519, AGE_HPKE_KDF_HKDF_SHA256,
                             AGE_HPKE_AEAD_CHACHA20POLY1305),
                 1);
}

Test(hpke, draft_mlkem768_p256)
{
    cr_assert_eq(
        vectors_for(AGE_HPKE_KEM_MLKEM768_P256, AGE_HPKE_KDF_HKDF_SHA256, AGE_HPKE_AEAD_AES128GCM),
        1);
}

Test(hpke, hybrid_round_trip_and_bad_keys)
{
    static const uint16_t kems[] = {AGE_HPKE_KEM_MLKEM768_X25519, AGE_HPKE_KEM_MLKEM768_P256,
                                    AGE_HPKE_KEM_P256_SHA256};
    unsigned char sk[32], pk[AGE_HPKE_MAX_PK], enc[AGE_HPKE_MAX_ENC], ct[16 + 16], pt[16];
    static const unsigned char msg[16] = "YELLOW SUBMARINE";

    for (size_t i = 0; i < 3; i++) {
        randombytes_buf(sk, sizeof(sk));
        sk[0] &= 0x7f; /* a valid P-256 scalar */
        cr_assert_eq(age_hpke_public_key(kems[i], pk, sk), 0);
        cr_assert_eq(age_hpke_seal_base(kems[i], pk, (const unsigned char *)"i", 1, NULL, 0, msg,
                                        16, enc, ct, NULL),
                     0);
        cr_assert_eq(age_hpke_open_base(kems[i], sk, enc, (const unsigned char *)"i", 1, NULL, 0,
                                        ct, sizeof(ct), pt),
                     0);
        cr_assert(memcmp(pt, msg, 16) == 0);
        /* another info: the AEAD refuses */
        cr_assert_eq(age_hpke_open_base(kems[i], sk, enc, (const unsigned char *)"j", 1, NULL, 0,
                                        ct, sizeof(ct), pt),
                     M3_ENOMATCH);
    }
    /* an ML-KEM key with a coefficient >= q fails the modulus check */
    cr_assert_eq(age_hpke_public_key(AGE_HPKE_KEM_MLKEM768_X25519, pk, sk), 0);
    pk[0] = 0xff, pk[1] |= 0x0f;
    cr_assert_eq(age_hpke_encap(AGE_HPKE_KEM_MLKEM768_X25519, enc, pt, pk, NULL), M3_EINVAL);
}

/* P-256 scalars: 0 and n are refused, n - 1 and 1 accepted; a point off the curve and a
 * compressed point that does not decompress are refused. */
Test(hpke, p256_scalar_bounds_and_points)
{
    unsigned char n[32], s[32], pub[65], x[32], comp[33];
    size_t len;
    unsigned char *order =
        hx("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", &len);

    memcpy(n, order, 32);
    memset(s, 0, 32);
    cr_assert_eq(age_p256_scalar_ok(s), 0, "zero");
    cr_assert_eq(age_p256_public(pub, s), M3_EINVAL);
    cr_assert_eq(age_p256_scalar_ok(n), 0, "n");
    memcpy(s, n, 32);
    s[31] -= 1;
    cr_assert_eq(age_p256_scalar_ok(s), 1, "n - 1");
    cr_assert_eq(age_p256_public(pub, s), 0);
    memset(s, 0xff, 32);
    cr_assert_eq(age_p256_scalar_ok(s), 0, "2^256 - 1");
    memset(s, 0, 32);
    s[31] = 1;
    cr_assert_eq(age_p256_scalar_ok(s), 1, "one");
    cr_assert_eq(age_p256_public(pub, s), 0);
    assert_hex(pub, 65,
               "046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b"
               "8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
               "1 * G");
    /* the generator compressed: y is odd (0x03) */
    comp[0] = 0x03;
    memcpy(comp + 1, pub + 1, 32);
    {
        unsigned char back[65];
        cr_assert_eq(age_p256_decompress(back, comp), 0);
        cr_assert(memcmp(back, pub, 65) == 0, "decompressed G");
    }
    pub[64] ^= 1; /* off the curve */
    cr_assert_eq(age_p256_dh(x, s, pub), M3_EINVAL);
    comp[0] = 0x05;
    cr_assert_eq(age_p256_decompress(pub, comp), M3_EINVAL);
    free(order);
}

/* MLKEM768-P256 key generation takes the first valid 32-byte chunk of the seed's P-256
 * part: with the first chunk >= n the second one is the key (RandomScalar's rejection). */
Test(hpke, p256_random_scalar_rejection)
{
    unsigned char rnd[32 + 128], enc[1153], ss[32], pk1[65], pk2[65];
    unsigned char sk[32], hpk[1249];

    randombytes_buf(sk, sizeof(sk));
    cr_assert_eq(age_hpke_public_key(AGE_HPKE_KEM_MLKEM768_P256, hpk, sk), 0);
    /* Encap with m, then a first chunk of 0xff (>= n) and a valid second chunk */
    randombytes_buf(rnd, sizeof(rnd));
    memset(rnd + 32, 0xff, 32);
    rnd[64] &= 0x7f;
    cr_assert_eq(age_hpke_encap(AGE_HPKE_KEM_MLKEM768_P256, enc, ss, hpk, rnd), 0);
    cr_assert_eq(age_p256_public(pk1, rnd + 64), 0);
    memcpy(pk2, enc + 1088, 65);
    cr_assert(memcmp(pk1, pk2, 65) == 0, "the second chunk was not the ephemeral key");
}
