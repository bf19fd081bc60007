/* test_keys_tags.c: plugin recipients (age1PLUGIN1...) and the tags that tie piv-p256 and
 * p256tag stanzas to them. Keys are real P-256 keys made with OpenSSL here; the tags are
 * computed with OpenSSL's SHA-256 and HMAC, apart from the code under test (libsodium). */
#include <criterion/criterion.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

#include "keys/keys.h"
#include "libage/age.h"

static void
init(void)
{
    cr_assert_eq(age_init(), 0);
}

/* p256_point: a fresh P-256 key's public point, compressed (33 bytes) or not (65). */
static size_t
p256_point(unsigned char *out, bool compressed)
{
    EVP_PKEY *pk = EVP_EC_gen("P-256");
    size_t len = 0;

    cr_assert_not_null(pk);
    cr_assert_eq(EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
                                                compressed ? "compressed" : "uncompressed"),
                 1);
    cr_assert_eq(EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, out, 65, &len), 1);
    EVP_PKEY_free(pk);
    return len;
}

static void
recipient(const char *hrp, const unsigned char *data, size_t len, char *out, size_t cap)
{
    cr_assert_eq(age_bech32_encode(hrp, data, len, false, out, cap), 0);
}

Test(tags, yubikey_recipient_and_piv_p256_tag, .init = init)
{
    unsigned char pt[65], eph[65], h[32];
    char r[128], *tag, *epk, *wrong;
    struct keys_plugin_key k;
    struct m3_diag d = {0};

    p256_point(pt, true);
    p256_point(eph, true);
    recipient("age1yubikey", pt, 33, r, sizeof(r));
    cr_assert_eq(keys_plugin_parse(r, &k, &d), 0, "%s: %s", r, d.msg);
    cr_expect_str_eq(k.plugin, "yubikey");
    cr_expect_eq(k.scheme, KEYS_TAG_P256);
    SHA256(pt, 33, h);
    cr_expect_eq(memcmp(k.hash, h, 4), 0);

    tag = age_b64_encode(h, 4);
    epk = age_b64_encode(eph, 33);
    h[0] ^= 1;
    wrong = age_b64_encode(h, 4);
    {
        char *args[] = {tag, epk}, *bad[] = {wrong, epk}, *one[] = {tag};
        struct age_stanza s = {"piv-p256", args, 2, NULL, 0};
        struct age_stanza sb = {"piv-p256", bad, 2, NULL, 0};
        struct age_stanza s1 = {"piv-p256", one, 1, NULL, 0};
        struct age_stanza ssh = {"ssh-ed25519", args, 2, NULL, 0};
        cr_expect(keys_plugin_stanza_matches(&k, &s));
        cr_expect(!keys_plugin_stanza_matches(&k, &sb));
        cr_expect(!keys_plugin_stanza_matches(&k, &s1));
        cr_expect(!keys_plugin_stanza_matches(&k, &ssh));
        cr_expect(keys_stanza_is_tagged(&s));
        cr_expect(!keys_stanza_is_tagged(&ssh));
    }
    free(tag);
    free(epk);
    free(wrong);
}

Test(tags, p256tag_tag_covers_the_encapsulated_key, .init = init)
{
    unsigned char pt[65], enc[65], h[32], mac[32];
    static const char salt[] = "age-encryption.org/p256tag";
    unsigned char ikm[69];
    unsigned int maclen = 0;
    char r[128], *tag, *encb, *encb2;
    struct keys_plugin_key k;

    p256_point(pt, true);
    cr_assert_eq(p256_point(enc, false), 65);
    recipient("age1tag", pt, 33, r, sizeof(r));
    cr_assert_eq(keys_plugin_parse(r, &k, NULL), 0);
    cr_expect_str_eq(k.plugin, "tag");
    SHA256(pt, 33, h);
    memcpy(ikm, enc, 65);
    memcpy(ikm + 65, h, 4);
    HMAC(EVP_sha256(), salt, sizeof(salt) - 1, ikm, sizeof(ikm), mac, &maclen);
    tag = age_b64_encode(mac, 4);
    encb = age_b64_encode(enc, 65);
    enc[10] ^= 1;
    encb2 = age_b64_encode(enc, 65);
    {
        char *args[] = {tag, encb}, *other[] = {tag, encb2};
        struct age_stanza s = {"p256tag", args, 2, NULL, 0};
        struct age_stanza so = {"p256tag", other, 2, NULL, 0};
        struct age_stanza piv = {"piv-p256", args, 2, NULL, 0};
        cr_expect(keys_plugin_stanza_matches(&k, &s));
        cr_expect(!keys_plugin_stanza_matches(&k, &so), "the tag must depend on enc");
        cr_expect(!keys_plugin_stanza_matches(&k, &piv));
    }
    free(tag);
    free(encb);
    free(encb2);
}

Test(tags, tagpq_hashes_the_uncompressed_point, .init = init)
{
    static unsigned char data[1184 + 65];
    unsigned char h[32];
    char *r = malloc(2200);
    struct keys_plugin_key k;
    struct m3_diag d = {0};

    memset(data, 0x5a, 1184);
    p256_point(data + 1184, false);
    recipient("age1tagpq", data, sizeof(data), r, 2200);
    cr_assert_eq(keys_plugin_parse(r, &k, &d), 0, "%s", d.msg);
    cr_expect_eq(k.scheme, KEYS_TAG_P256_PQ);
    SHA256(data + 1184, 65, h);
    cr_expect_eq(memcmp(k.hash, h, 4), 0);
    recipient("age1tagpq", data, sizeof(data) - 1, r, 2200);
    cr_expect_eq(keys_plugin_parse(r, &k, &d), M3_EINVAL);
    cr_expect(strstr(d.msg, "age1tagpq recipient holds 1248 bytes") != NULL, "%s", d.msg);
    free(r);
}

Test(tags, not_plugin_recipients_are_no_match, .init = init)
{
    static const char *const s[] = {
        "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ1111",
        "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX",
        "",
        "age1",
    };
    struct keys_plugin_key k;

    for (size_t i = 0; i < sizeof(s) / sizeof(s[0]); i++)
        cr_expect_eq(keys_plugin_parse(s[i], &k, NULL), M3_ENOMATCH, "'%s'", s[i]);
}

Test(tags, malformed_plugin_recipients_say_why, .init = init)
{
    unsigned char pt[65], bad[33];
    char r[128], up[128];
    struct keys_plugin_key k;
    struct m3_diag d = {0};
    size_t n;

    p256_point(pt, true);
    recipient("age1yubikey", pt, 33, r, sizeof(r));
    /* upper case is bech32 too */
    for (n = 0; r[n]; n++)
        up[n] = (char)(r[n] >= 'a' && r[n] <= 'z' ? r[n] - 32 : r[n]);
    up[n] = '\0';
    cr_expect_eq(keys_plugin_parse(up, &k, NULL), 0, "%s", up);
    /* a changed character: the checksum fails */
    r[20] = r[20] == 'q' ? 'p' : 'q';
    cr_expect_eq(keys_plugin_parse(r, &k, &d), M3_EINVAL);
    cr_expect_str_eq(d.msg, "malformed age1yubikey plugin recipient (bad bech32)");
    /* mixed case */
    up[5] = (char)(up[5] + 32);
    cr_expect_eq(keys_plugin_parse(up, &k, NULL), M3_EINVAL);
    /* 32 bytes: not a compressed point */
    recipient("age1yubikey", pt, 32, r, sizeof(r));
    cr_expect_eq(keys_plugin_parse(r, &k, &d), M3_EINVAL);
    cr_expect_str_eq(d.msg, "age1yubikey recipient holds 32 bytes, not a 33-byte compressed P-256 "
                            "point");
    /* x = 2^256 - 1 is not a field element of P-256: no such point */
    bad[0] = 2;
    memset(bad + 1, 0xff, 32);
    recipient("age1yubikey", bad, 33, r, sizeof(r));
    cr_expect_eq(keys_plugin_parse(r, &k, &d), M3_EINVAL);
    cr_expect_str_eq(d.msg, "age1yubikey recipient is not a point of P-256");
    /* another plugin: any data, no tag */
    recipient("age1fido2-hmac", bad, 20, r, sizeof(r));
    cr_expect_eq(keys_plugin_parse(r, &k, NULL), 0);
    cr_expect_str_eq(k.plugin, "fido2-hmac");
    cr_expect_eq(k.scheme, KEYS_TAG_NONE);
    /* encrypting to one needs its plugin: without it, a clear reason */
    {
        struct age_recipient *rc = NULL;
        setenv("PATH", "/nonexistent", 1);
        cr_expect_eq(keys_recipient_parse(&rc, r, &d), M3_ENOTFOUND);
        cr_expect_str_eq(d.msg, "age-plugin-fido2-hmac not found in PATH");
        cr_expect_null(rc);
    }
}
