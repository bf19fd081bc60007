/* Known-answer tests for libage's building blocks: bech32 (BIP 173 vectors, age keys), strict
 * base64, HKDF-SHA-256 (RFC 5869) and the STREAM chunk nonce layout, the last checked against
 * OpenSSL's ChaCha20-Poly1305 driven by hand. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <stdlib.h>
#include <string.h>

#include "libage/age.h"
#include "libage/internal.h"

static void
init(void)
{
    cr_assert_eq(age_init(), 0);
}

static size_t
unhex(const char *hex, unsigned char *out, size_t cap)
{
    size_t n = strlen(hex) / 2;

    cr_assert_leq(n, cap);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
        out[i] = (unsigned char)v;
    }
    return n;
}

/* ---- bech32 ------------------------------------------------------------------------- */

struct b32_valid {
    const char *s, *hrp, *hex;
};

/* BIP 173 "valid checksum" strings (with their 8-bit payloads), plus two of ours. */
static const struct b32_valid b32_valid[] = {
    {"A12UEL5L", "a", ""},
    {"a12uel5l", "a", ""},
    {"an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio1tt5tgs",
     "an83characterlonghumanreadablepartthatcontainsthenumber1andtheexcludedcharactersbio", ""},
    {"abcdef1qpzry9x8gf2tvdw0s3jn54khce6mua7lmqqqxw", "abcdef",
     "00443214c74254b635cf84653a56d7c675be77df"},
    {"11qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqc8247j",
     "1",
     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000"},
    {"split1checkupstagehandshakeupstreamerranterredcaperred2y9e3w", "split",
     "c5f38b70305f519bf66d85fb6cf03058f3dde463ecd7918f2dc743918f2d"},
    {"?1ezyfcl", "?", ""},
    {"a1qqqd87cq", "a", "00"},     /* 10 bits: one byte, 2 zero padding bits */
    {"a1qqqqtk27v5", "a", "0000"}, /* 20 bits: two bytes, 4 zero padding bits */
};

/* BIP 173 "invalid" strings (except the over-long ones: age lifts the length limit), plus
 * mixed case, a bad checksum, and non-zero or over-long padding in the 5-to-8-bit conversion. */
static const char *const b32_invalid[] = {
    " 1nwldj5", /* HRP character out of range */
    "\x7f"
    "1axkwrx",
    "\x80"
    "1eym55h",
    "pzry9x0s0muk",  /* no separator */
    "1pzry9x0s0muk", /* empty HRP */
    "x1b4n0q5v",     /* invalid data character */
    "li1dgmt3",      /* checksum too short */
    "de1lg7wt\xff",  /* invalid character in checksum */
    "A1G7SGD8",      /* checksum computed over the upper-case HRP */
    "10a06t8",
    "1qzzfhee",   /* empty HRP */
    "A12uEL5L",   /* mixed case */
    "a12uel5m",   /* bad checksum */
    "a1lmyple6",  /* 5 bits of padding */
    "a1qpamnt9j", /* non-zero padding bits */
    "",
};

Test(bech32, bip173_valid_decode, .init = init)
{
    for (size_t i = 0; i < sizeof(b32_valid) / sizeof(b32_valid[0]); i++) {
        const struct b32_valid *v = &b32_valid[i];
        char hrp[128];
        unsigned char data[128], want[128];
        size_t len = 999, wlen = unhex(v->hex, want, sizeof(want));
        int rc = age_bech32_decode(v->s, hrp, sizeof(hrp), data, sizeof(data), &len);

        cr_expect_eq(rc, 0, "%s: decode returned %d", v->s, rc);
        if (rc != 0)
            continue;
        cr_expect_str_eq(hrp, v->hrp, "%s: hrp", v->s);
        cr_expect_eq(len, wlen, "%s: %zu bytes, want %zu", v->s, len, wlen);
        cr_expect(len == wlen && memcmp(data, want, wlen) == 0, "%s: data differs", v->s);
    }
}

Test(bech32, bip173_valid_encode, .init = init)
{
    for (size_t i = 0; i < sizeof(b32_valid) / sizeof(b32_valid[0]); i++) {
        const struct b32_valid *v = &b32_valid[i];
        unsigned char data[128];
        size_t len = unhex(v->hex, data, sizeof(data));
        bool upper = v->s[0] >= 'A' && v->s[0] <= 'Z';
        char out[160];
        int rc = age_bech32_encode(v->hrp, data, len, upper, out, sizeof(out));

        cr_expect_eq(rc, 0, "%s: encode returned %d", v->s, rc);
        if (rc == 0)
            cr_expect_str_eq(out, v->s);
    }
}

Test(bech32, bip173_invalid, .init = init)
{
    for (size_t i = 0; i < sizeof(b32_invalid) / sizeof(b32_invalid[0]); i++) {
        char hrp[128];
        unsigned char data[128];
        size_t len = 0;
        int rc = age_bech32_decode(b32_invalid[i], hrp, sizeof(hrp), data, sizeof(data), &len);

        cr_expect_neq(rc, 0, "invalid bech32 string #%zu '%s' was accepted", i, b32_invalid[i]);
    }
}

Test(bech32, no_length_limit_and_small_buffers, .init = init)
{
    unsigned char data[200], back[200];
    char s[400], hrp[16];
    size_t len = 0;

    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 7 + 3);
    cr_assert_eq(age_bech32_encode("age", data, sizeof(data), false, s, sizeof(s)), 0);
    cr_expect_gt(strlen(s), 90);
    cr_assert_eq(age_bech32_decode(s, hrp, sizeof(hrp), back, sizeof(back), &len), 0);
    cr_expect_str_eq(hrp, "age");
    cr_expect_eq(len, sizeof(data));
    cr_expect_arr_eq(back, data, sizeof(data));
    /* too small an output buffer is an error, not a truncation */
    cr_expect_neq(age_bech32_encode("age", data, sizeof(data), false, s, 100), 0);
    cr_expect_neq(age_bech32_decode(s, hrp, sizeof(hrp), back, 199, &len), 0);
}

/* The identity from the C2SP test vectors and the recipient Go's age-keygen -y derives. */
#define KAT_IDENTITY "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM0"
#define KAT_RECIPIENT "age1xmwwc06ly3ee5rytxm9mflaz2u56jjj36s0mypdrwsvlul66mv4q47ryef"
#define KAT_SCALAR "ca1626252c53cf1a4dc46695e7fcc46594cb4ccadedb6712dfda0753f3ae355e"
#define KAT_PUBLIC "36dcec3f5f24739a0c8b36cbb4ffa25729a94a51d41fb205a37419fe7f5adb2a"

static char *
identity_recipient(struct age_identity *id)
{
    struct age_recipient *r = NULL;
    char *s;

    cr_assert_not_null(id->ops->recipient);
    cr_assert_eq(id->ops->recipient(id->state, &r), 0);
    s = age_recipient_string(r);
    age_recipient_free(r);
    cr_assert_not_null(s);
    return s;
}

Test(age_keys, x25519_known_answer, .init = init)
{
    struct age_identity *id = NULL, *id2 = NULL;
    struct age_recipient *r = NULL;
    unsigned char scalar[32], pub[32];
    char *enc = age_secret_alloc(AGE_X25519_IDENTITY_LEN + 1), *s, rs[80];

    unhex(KAT_SCALAR, scalar, sizeof(scalar));
    unhex(KAT_PUBLIC, pub, sizeof(pub));
    cr_assert_eq(age_x25519_identity_parse(&id, KAT_IDENTITY, NULL), 0);
    cr_expect(age_identity_is_x25519(id));
    cr_assert_eq(age_x25519_identity_encode(id, enc, AGE_X25519_IDENTITY_LEN + 1), 0);
    cr_expect_str_eq(enc, KAT_IDENTITY);
    s = identity_recipient(id);
    cr_expect_str_eq(s, KAT_RECIPIENT);
    free(s);

    cr_assert_eq(age_x25519_identity_from_scalar(&id2, scalar), 0);
    cr_assert_eq(age_x25519_identity_encode(id2, enc, AGE_X25519_IDENTITY_LEN + 1), 0);
    cr_expect_str_eq(enc, KAT_IDENTITY);

    cr_assert_eq(age_x25519_recipient_parse(&r, KAT_RECIPIENT, NULL), 0);
    s = age_recipient_string(r);
    cr_expect_str_eq(s, KAT_RECIPIENT);
    free(s);
    cr_assert_eq(age_x25519_encode_recipient(pub, rs, sizeof(rs)), 0);
    cr_expect_str_eq(rs, KAT_RECIPIENT);
    cr_expect_eq(strlen(KAT_RECIPIENT), AGE_X25519_RECIPIENT_LEN);
    cr_expect_eq(strlen(KAT_IDENTITY), AGE_X25519_IDENTITY_LEN);

    age_recipient_free(r);
    age_identity_free(id);
    age_identity_free(id2);
    age_secret_free(enc);
}

Test(age_keys, x25519_generate_round_trip, .init = init)
{
    for (int i = 0; i < 8; i++) {
        struct age_identity *id = NULL, *back = NULL;
        struct age_recipient *r = NULL;
        char *enc = age_secret_alloc(AGE_X25519_IDENTITY_LEN + 1);
        char *enc2 = age_secret_alloc(AGE_X25519_IDENTITY_LEN + 1);
        char *s1, *s2, *s3;

        cr_assert_eq(age_x25519_identity_generate(&id), 0);
        cr_assert_eq(age_x25519_identity_encode(id, enc, AGE_X25519_IDENTITY_LEN + 1), 0);
        cr_expect_eq(strlen(enc), AGE_X25519_IDENTITY_LEN);
        cr_expect_eq(strncmp(enc, "AGE-SECRET-KEY-1", 16), 0);
        cr_assert_eq(age_x25519_identity_parse(&back, enc, NULL), 0);
        cr_assert_eq(age_x25519_identity_encode(back, enc2, AGE_X25519_IDENTITY_LEN + 1), 0);
        cr_expect_str_eq(enc, enc2);
        s1 = identity_recipient(id);
        s2 = identity_recipient(back);
        cr_expect_str_eq(s1, s2);
        cr_expect_eq(strlen(s1), AGE_X25519_RECIPIENT_LEN);
        cr_assert_eq(age_x25519_recipient_parse(&r, s1, NULL), 0);
        s3 = age_recipient_string(r);
        cr_expect_str_eq(s3, s1);
        free(s1);
        free(s2);
        free(s3);
        age_recipient_free(r);
        age_identity_free(id);
        age_identity_free(back);
        age_secret_free(enc);
        age_secret_free(enc2);
    }
}

Test(age_keys, x25519_rejects_malformed, .init = init)
{
    unsigned char pub[32];
    char wrong_hrp[100], short_key[100], bad_sum[100], mixed[100];
    struct age_recipient *r = NULL;
    struct age_identity *id = NULL;
    struct m3_diag d;

    unhex(KAT_PUBLIC, pub, sizeof(pub));
    cr_assert_eq(age_bech32_encode("bge", pub, 32, false, wrong_hrp, sizeof(wrong_hrp)), 0);
    cr_assert_eq(age_bech32_encode("age", pub, 31, false, short_key, sizeof(short_key)), 0);
    strcpy(bad_sum, KAT_RECIPIENT);
    bad_sum[strlen(bad_sum) - 1] = 'g';
    strcpy(mixed, KAT_RECIPIENT);
    mixed[10] = (char)(mixed[10] - 'a' + 'A');

    const char *bad_recipients[] = {wrong_hrp,    short_key, bad_sum, mixed,
                                    KAT_IDENTITY, "",        "age1",  "ssh-ed25519 AAAA"};
    for (size_t i = 0; i < sizeof(bad_recipients) / sizeof(bad_recipients[0]); i++) {
        m3_diag_clear(&d);
        int rc = age_x25519_recipient_parse(&r, bad_recipients[i], &d);
        cr_expect_lt(rc, 0, "recipient '%s' accepted", bad_recipients[i]);
        if (rc == 0)
            age_recipient_free(r);
        r = NULL;
    }
    const char *bad_identities[] = {
        KAT_RECIPIENT,
        "AGE-SECRET-KEY-PQ-1HZLGZUPT4ETPKDEV8HSGFDCYZ4E522W0A7PU2LHT8EH9W6YLNC3SW78XKG",
        "AGE-SECRET-KEY-1EGTZVFFV20835NWYV6270LXYVK2VKNX2MMDKWYKLMGR48UAWX40Q2P2LM1",
        "AGE-SECRET-KEY-1",
        "",
    };
    for (size_t i = 0; i < sizeof(bad_identities) / sizeof(bad_identities[0]); i++) {
        int rc = age_x25519_identity_parse(&id, bad_identities[i], NULL);
        cr_expect_lt(rc, 0, "identity '%s' accepted", bad_identities[i]);
        if (rc == 0)
            age_identity_free(id);
        id = NULL;
    }
}

/* ---- base64 ------------------------------------------------------------------------- */

Test(base64, rfc4648_unpadded, .init = init)
{
    static const char *const enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};

    for (size_t i = 0; i < 7; i++) {
        unsigned char out[16];
        size_t len = 99;
        char *e = age_b64_encode((const unsigned char *)dec[i], strlen(dec[i]));

        cr_assert_not_null(e);
        cr_expect_str_eq(e, enc[i]);
        free(e);
        cr_expect_eq(age_b64_decode(enc[i], strlen(enc[i]), out, sizeof(out), &len), 0, "%s",
                     enc[i]);
        cr_expect_eq(len, strlen(dec[i]));
        cr_expect_eq(memcmp(out, dec[i], strlen(dec[i])), 0);
    }
}

Test(base64, strict, .init = init)
{
    static const char *const bad[] = {
        "Zg==",   "Zm8=",     "Zg=",     "Zm9vYg==", /* padding */
        "Zh",     "Zm9",      "Zm9vYh",  "Zm9vYmF",  /* non-canonical: trailing bits set */
        "Z",      "Zm9vY",                           /* impossible lengths */
        "Zm9v\n", "Zm 9v",    " Zm9v",   "Zm9v\r",   /* whitespace */
        "Zm9v-_", "Zm9v+/==", "Zm\x80v",             /* URL alphabet, padding, non-ASCII */
        "Z===",   "====",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned char out[16];
        size_t len = 0;

        cr_expect_neq(age_b64_decode(bad[i], strlen(bad[i]), out, sizeof(out), &len), 0,
                      "base64 '%s' was accepted", bad[i]);
    }
    /* the standard alphabet's 62nd and 63rd characters are fine */
    unsigned char out[16];
    size_t len = 0;
    cr_expect_eq(age_b64_decode("+/+/", 4, out, sizeof(out), &len), 0);
    cr_expect_eq(len, 3);
    /* output that does not fit is an error */
    cr_expect_neq(age_b64_decode("Zm9vYmFy", 8, out, 5, &len), 0);
}

Test(base64, round_trip_all_lengths, .init = init)
{
    unsigned char in[100], out[100];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(0xff - i * 13);
    for (size_t n = 0; n <= sizeof(in); n++) {
        char *e = age_b64_encode(in, n);
        size_t len = 0;

        cr_assert_not_null(e);
        cr_expect_eq(strlen(e), (n * 4 + 2) / 3, "length of encoding of %zu bytes", n);
        cr_expect_null(strchr(e, '='));
        cr_expect_eq(age_b64_decode(e, strlen(e), out, sizeof(out), &len), 0);
        cr_expect_eq(len, n);
        cr_expect_eq(memcmp(in, out, n), 0);
        free(e);
    }
}

/* ---- HKDF-SHA-256, RFC 5869 appendix A.1-A.3 ----------------------------------------- */

struct hkdf_case {
    const char *ikm, *salt, *info, *okm;
};

Test(hkdf, rfc5869, .init = init)
{
    static const struct hkdf_case cases[] = {
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "000102030405060708090a0b0c",
         "f0f1f2f3f4f5f6f7f8f9",
         "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
        {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a"
         "2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f",
         "606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f808182838485868788898a"
         "8b8c8d8e8f909192939495969798999a9b9c9d9e9fa0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
         "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9da"
         "dbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
         "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41"
         "c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
         "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
    };
    for (size_t i = 0; i < 3; i++) {
        unsigned char ikm[128], salt[128], okm[128], out[128];
        char info[129];
        size_t ni = unhex(cases[i].ikm, ikm, sizeof(ikm));
        size_t ns = unhex(cases[i].salt, salt, sizeof(salt));
        size_t nf = unhex(cases[i].info, (unsigned char *)info, sizeof(info) - 1);
        size_t no = unhex(cases[i].okm, okm, sizeof(okm));

        info[nf] = '\0'; /* the RFC's info strings have no zero byte */
        memset(out, 0, sizeof(out));
        cr_expect_eq(age_hkdf(ikm, ni, ns ? salt : NULL, ns, info, out, no), 0);
        cr_expect_arr_eq(out, okm, no, "RFC 5869 case A.%zu", i + 1);
    }
}

/* age_hkdf is written over libsodium's HMAC; OpenSSL's HKDF is the oracle, over salts and
 * keys of every length class (none, shorter and longer than the hash, longer than the HMAC
 * block) and outputs of one byte up to 255 blocks. */
Test(hkdf, agrees_with_openssl, .init = init)
{
    static const size_t ikm_lens[] = {0, 16, 32, 64, 65, 200};
    static const size_t salt_lens[] = {0, 16, 32, 64, 65, 200};
    static const size_t out_lens[] = {1, 31, 32, 33, 64, 100, 255 * 32};
    static unsigned char ikm[200], salt[200], want[255 * 32], got[255 * 32];
    const char *info = "age-encryption.org/v1/X25519";

    for (size_t i = 0; i < sizeof(ikm); i++)
        ikm[i] = (unsigned char)(i * 7 + 1), salt[i] = (unsigned char)(i * 13 + 5);
    for (size_t a = 0; a < sizeof(ikm_lens) / sizeof(*ikm_lens); a++)
        for (size_t b = 0; b < sizeof(salt_lens) / sizeof(*salt_lens); b++)
            for (size_t c = 0; c < sizeof(out_lens) / sizeof(*out_lens); c++) {
                size_t ni = ikm_lens[a], ns = salt_lens[b], no = out_lens[c];
                EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
                size_t n = no;

                cr_assert_not_null(k);
                cr_assert_eq(EVP_PKEY_derive_init(k), 1);
                cr_assert_eq(EVP_PKEY_CTX_set_hkdf_md(k, EVP_sha256()), 1);
                if (ns)
                    cr_assert_eq(EVP_PKEY_CTX_set1_hkdf_salt(k, salt, (int)ns), 1);
                cr_assert_eq(EVP_PKEY_CTX_set1_hkdf_key(k, ikm, (int)ni), 1);
                cr_assert_eq(
                    EVP_PKEY_CTX_add1_hkdf_info(k, (const unsigned char *)info, (int)strlen(info)),
                    1);
                cr_assert_eq(EVP_PKEY_derive(k, want, &n), 1);
                EVP_PKEY_CTX_free(k);
                memset(got, 0xaa, sizeof(got));
                cr_assert_eq(age_hkdf(ikm, ni, ns ? salt : NULL, ns, info, got, no), 0);
                cr_expect_arr_eq(got, want, no, "ikm %zu, salt %zu, out %zu", ni, ns, no);
                cr_expect_eq(got[no < sizeof(got) ? no : 0], no < sizeof(got) ? 0xaa : got[0],
                             "wrote past %zu bytes", no);
            }
    /* RFC 5869 caps the output at 255 blocks */
    cr_expect_eq(age_hkdf(ikm, 16, NULL, 0, info, got, 255 * 32 + 1), M3_EINVAL);
}

/* ---- STREAM nonce layout ------------------------------------------------------------ */

struct mbuf {
    unsigned char *p;
    size_t len, cap, pos;
};

static int
mb_write(void *ctx, const void *buf, size_t len)
{
    struct mbuf *m = ctx;

    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2 + 64;
        m->p = realloc(m->p, m->cap);
        cr_assert_not_null(m->p);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static ssize_t
mb_read(void *ctx, void *buf, size_t len)
{
    struct mbuf *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;

    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

/* payload key = HKDF-SHA-256(ikm = file key, salt = nonce, info = "payload"), via OpenSSL */
static void
payload_key(const unsigned char fk[16], const unsigned char nonce[16], unsigned char key[32])
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
    size_t n = 32;

    cr_assert_not_null(c);
    cr_assert_eq(EVP_PKEY_derive_init(c), 1);
    cr_assert_eq(EVP_PKEY_CTX_set_hkdf_md(c, EVP_sha256()), 1);
    cr_assert_eq(EVP_PKEY_CTX_set1_hkdf_salt(c, nonce, 16), 1);
    cr_assert_eq(EVP_PKEY_CTX_set1_hkdf_key(c, fk, 16), 1);
    cr_assert_eq(EVP_PKEY_CTX_add1_hkdf_info(c, (const unsigned char *)"payload", 7), 1);
    cr_assert_eq(EVP_PKEY_derive(c, key, &n), 1);
    EVP_PKEY_CTX_free(c);
}

/* chunk nonce per the spec: 11-byte big-endian counter || last flag */
static void
chunk_nonce(unsigned char n[12], unsigned long long counter, int last)
{
    memset(n, 0, 12);
    for (int i = 10; i >= 0 && counter; i--, counter >>= 8)
        n[i] = (unsigned char)(counter & 0xff);
    n[11] = last ? 1 : 0;
}

/* ChaCha20-Poly1305 open/seal with OpenSSL EVP. Returns 1 when the tag verified (open). */
static int
aead(int enc, const unsigned char key[32], const unsigned char nonce[12], const unsigned char *in,
     size_t len, unsigned char *out)
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, ok;

    cr_assert_not_null(c);
    cr_assert_eq(EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc), 1);
    cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, 12, NULL), 1);
    cr_assert_eq(EVP_CipherInit_ex(c, NULL, NULL, key, nonce, enc), 1);
    if (enc) {
        cr_assert_eq(EVP_CipherUpdate(c, out, &n, in, (int)len), 1);
        cr_assert_eq(EVP_CipherFinal_ex(c, out + n, &n), 1);
        cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, out + len), 1);
        ok = 1;
    } else {
        cr_assert_geq(len, 16);
        cr_assert_eq(EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + len - 16)), 1);
        cr_assert_eq(EVP_CipherUpdate(c, out, &n, in, (int)(len - 16)), 1);
        ok = EVP_CipherFinal_ex(c, out + n, &n) == 1;
    }
    EVP_CIPHER_CTX_free(c);
    return ok;
}

#define PT2 (AGE_CHUNK_SIZE + 100) /* two chunks: a full one and a 100-byte final one */

struct sealed {
    struct mbuf file;
    struct age_identity *id;
    unsigned char *fk; /* the file key, recovered through the identity's unwrap */
    size_t hlen;       /* binary header length, up to the payload nonce */
    unsigned char *pt;
};

static void
seal_two_chunks(struct sealed *s, size_t ptlen)
{
    struct age_recipient *r = NULL;
    struct age_header *h = NULL;
    struct age_encrypt_opts o = {.armor = false, .threads = 1};
    struct mbuf in = {0};
    struct m3_diag d = {0};

    memset(s, 0, sizeof(*s));
    s->pt = malloc(ptlen + 1);
    for (size_t i = 0; i < ptlen; i++)
        s->pt[i] = (unsigned char)(i * 31 + (i >> 16));
    in.p = s->pt;
    in.len = ptlen;
    cr_assert_eq(age_x25519_identity_generate(&s->id), 0);
    cr_assert_eq(s->id->ops->recipient(s->id->state, &r), 0);
    cr_assert_eq(age_encrypt(&r, 1, &o, mb_read, &in, mb_write, &s->file, &d), 0, "%s", d.msg);
    age_recipient_free(r);
    cr_assert_eq(age_header_parse(&h, s->file.p, s->file.len, &s->hlen, &d), 0, "%s", d.msg);
    cr_assert_eq(h->header_len, s->hlen);
    s->fk = age_secret_alloc(AGE_FILE_KEY_SIZE);
    cr_assert_eq(s->id->ops->unwrap(s->id->state, h->stanzas, h->nstanzas, s->fk, &d), 0);
    age_header_free(h);
}

static void
sealed_free(struct sealed *s)
{
    free(s->file.p);
    free(s->pt);
    age_secret_free(s->fk);
    age_identity_free(s->id);
}

Test(stream, nonce_layout_two_chunks_by_hand, .init = init)
{
    struct sealed s;
    unsigned char key[32], nonce[12], *out = malloc(AGE_CHUNK_SIZE + 16);
    const unsigned char *p;

    seal_two_chunks(&s, PT2);
    /* exact size: nonce, a full chunk with its tag, a 100-byte chunk with its tag */
    cr_assert_eq(s.file.len, s.hlen + 16 + (AGE_CHUNK_SIZE + 16) + (100 + 16));
    payload_key(s.fk, s.file.p + s.hlen, key);
    p = s.file.p + s.hlen + 16;

    chunk_nonce(nonce, 0, 0);
    cr_expect(aead(0, key, nonce, p, AGE_CHUNK_SIZE + 16, out), "chunk 0 with nonce 0||0");
    cr_expect_arr_eq(out, s.pt, AGE_CHUNK_SIZE);
    chunk_nonce(nonce, 0, 1);
    cr_expect_not(aead(0, key, nonce, p, AGE_CHUNK_SIZE + 16, out), "chunk 0 opened as last");

    p += AGE_CHUNK_SIZE + 16;
    chunk_nonce(nonce, 1, 1);
    cr_expect_eq(nonce[10], 1);
    cr_expect_eq(nonce[11], 1);
    cr_expect(aead(0, key, nonce, p, 100 + 16, out), "chunk 1 with nonce 1||1");
    cr_expect_arr_eq(out, s.pt + AGE_CHUNK_SIZE, 100);
    chunk_nonce(nonce, 1, 0);
    cr_expect_not(aead(0, key, nonce, p, 116, out), "final chunk opened as not last");
    /* a little-endian counter would put the 1 in the first byte */
    memset(nonce, 0, 12);
    nonce[0] = 1;
    nonce[11] = 1;
    cr_expect_not(aead(0, key, nonce, p, 116, out), "little-endian counter accepted");
    free(out);
    sealed_free(&s);
}

/* Reseals the payload of s by hand with the given plaintext split, then decrypts with libage.
 * le_counter: 0 the spec nonce, 1 a little-endian counter, 2 a one-byte counter. */
static int
decrypt_resealed(struct sealed *s, const unsigned char *pt, const size_t *lens, size_t nchunks,
                 int le_counter, struct mbuf *out)
{
    struct mbuf f = {0};
    unsigned char key[32], nonce[12], *ct = malloc(AGE_CHUNK_SIZE + 16);
    struct age_decryptor *dec = NULL;
    struct m3_diag d = {0};
    int rc;

    mb_write(&f, s->file.p, s->hlen + 16);
    payload_key(s->fk, s->file.p + s->hlen, key);
    for (size_t i = 0; i < nchunks; i++) {
        chunk_nonce(nonce, i, i + 1 == nchunks);
        if (le_counter == 1) { /* little-endian counter */
            memset(nonce, 0, 11);
            nonce[0] = (unsigned char)i;
            nonce[1] = (unsigned char)(i >> 8);
        } else if (le_counter == 2) { /* a one-byte counter that wraps */
            memset(nonce, 0, 11);
            nonce[10] = (unsigned char)i;
        }
        aead(1, key, nonce, pt, lens[i], ct);
        mb_write(&f, ct, lens[i] + 16);
        pt += lens[i];
    }
    rc = age_decryptor_new(&dec, mb_read, &f, &d);
    if (rc == 0)
        rc = age_decryptor_unwrap(dec, &s->id, 1, &d);
    if (rc == 0)
        rc = age_decryptor_stream(dec, mb_write, out, 1, &d);
    if (rc != 0)
        cr_log_info("resealed %zu chunks%s: %d (%s)", nchunks, le_counter ? " (LE counter)" : "",
                    rc, d.msg);
    age_decryptor_free(dec);
    free(f.p);
    free(ct);
    return rc;
}

Test(stream, hand_sealed_payload_decrypts, .init = init)
{
    struct sealed s;
    struct mbuf out = {0};
    unsigned char *pt = malloc(3 * AGE_CHUNK_SIZE);
    size_t two[] = {AGE_CHUNK_SIZE, 7}, three[] = {AGE_CHUNK_SIZE, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE};
    size_t one_full[] = {AGE_CHUNK_SIZE}, short_first[] = {100, 100};

    for (size_t i = 0; i < 3 * AGE_CHUNK_SIZE; i++)
        pt[i] = (unsigned char)(i ^ (i >> 9));
    seal_two_chunks(&s, PT2);

    cr_expect_eq(decrypt_resealed(&s, pt, two, 2, 0, &out), 0);
    cr_expect_eq(out.len, AGE_CHUNK_SIZE + 7);
    cr_expect(out.len == AGE_CHUNK_SIZE + 7 && memcmp(out.p, pt, out.len) == 0);
    out.len = 0;
    cr_expect_eq(decrypt_resealed(&s, pt, three, 3, 0, &out), 0);
    cr_expect_eq(out.len, 3 * AGE_CHUNK_SIZE);
    out.len = 0;
    cr_expect_eq(decrypt_resealed(&s, pt, one_full, 1, 0, &out), 0, "one full final chunk");
    cr_expect_eq(out.len, AGE_CHUNK_SIZE);
    out.len = 0;
    /* little-endian counter: chunk 0 is the same, chunk 1 must fail */
    cr_expect_eq(decrypt_resealed(&s, pt, two, 2, 1, &out), M3_EPAYLOAD);
    out.len = 0;
    /* a short chunk that is not the last one */
    cr_expect_eq(decrypt_resealed(&s, pt, short_first, 2, 0, &out), M3_EPAYLOAD);
    free(out.p);
    free(pt);
    sealed_free(&s);
}

Test(stream, final_chunk_rules, .init = init)
{
    /* a full-size plaintext is one final chunk (no empty chunk after it); an empty plaintext
     * is one empty final chunk */
    size_t sizes[] = {
        0, 1, AGE_CHUNK_SIZE - 1, AGE_CHUNK_SIZE, AGE_CHUNK_SIZE + 1, 2 * AGE_CHUNK_SIZE};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        struct sealed s;
        size_t n = sizes[i], chunks = n == 0 ? 1 : (n + AGE_CHUNK_SIZE - 1) / AGE_CHUNK_SIZE;

        seal_two_chunks(&s, n);
        cr_expect_eq(s.file.len, s.hlen + 16 + n + 16 * chunks, "plaintext of %zu bytes", n);
        sealed_free(&s);
    }
}

Test(stream, counter_is_wider_than_a_byte, .init = init, .timeout = 60)
{
    /* 258 chunks: chunk 256's nonce is 00..01 00 || 0; a one-byte counter would reuse chunk
     * 0's nonce there */
    size_t n = 258, *lens = malloc(n * sizeof(*lens)), total = 0;
    unsigned char *pt;
    struct sealed s;
    struct mbuf out = {0};

    for (size_t i = 0; i < n; i++)
        total += lens[i] = i + 1 < n ? AGE_CHUNK_SIZE : 7;
    pt = malloc(total);
    for (size_t i = 0; i < total; i++)
        pt[i] = (unsigned char)(i * 13 + (i >> 16));
    seal_two_chunks(&s, 10);
    cr_expect_eq(decrypt_resealed(&s, pt, lens, n, 0, &out), 0);
    cr_expect_eq(out.len, total);
    cr_expect(out.len == total && memcmp(out.p, pt, total) == 0);
    out.len = 0;
    cr_expect_eq(decrypt_resealed(&s, pt, lens, n, 2, &out), M3_EPAYLOAD);
    cr_expect_eq(out.len, 256 * (size_t)AGE_CHUNK_SIZE, "chunks before the bad one");
    out.len = 0;
    cr_expect_eq(decrypt_resealed(&s, pt, lens, n, 1, &out), M3_EPAYLOAD);
    free(out.p);
    free(pt);
    free(lens);
    sealed_free(&s);
}
