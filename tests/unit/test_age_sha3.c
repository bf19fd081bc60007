/* libage/sha3.c, m3age's own Keccak, against FIPS 202 known answers (the empty message, and
 * NIST's 1600-bit message of 0xa3 bytes, which spans more than one block of every rate),
 * inputs given in parts, and XOF outputs longer than a block (a squeeze of several blocks is
 * the prefix property SampleNTT relies on). The ML-KEM known answers exercise it further. */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "libage/sha3.h"

static void
hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void
check(enum age_sha3_alg alg, const struct age_bytes *in, size_t nin, size_t out_len, size_t at,
      const char *want)
{
    unsigned char out[512];
    char got[1025];

    cr_assert_eq(age_sha3(alg, in, nin, out, out_len), 0);
    hex(out + at, strlen(want) / 2, got);
    cr_expect_str_eq(got, want, "alg %d, %zu bytes at %zu", (int)alg, out_len, at);
}

Test(sha3, empty_message)
{
    struct age_bytes none = {"", 0};

    check(AGE_SHA3_256, &none, 1, 32, 0,
          "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
    check(AGE_SHA3_512, &none, 0, 64, 0,
          "a69f73cca23a9ac5c8b567dc185a756e97c982164fe25859e0d1dcc1475c80a6"
          "15b2123af1f5f94c11e3e9402c3ac558f500199d95b6d3e301758586281dcd26");
    check(AGE_SHAKE128, &none, 1, 32, 0,
          "7f9c2ba4e88f827d616045507605853ed73b8093f6efbc88eb1a6eacfa66ef26");
    check(AGE_SHAKE256, &none, 1, 32, 0,
          "46b9dd2b0ba88d13233b3feb743eeb243fcd52ea62b81b82b50c27646ed5762f");
}

Test(sha3, multi_block_message_in_parts_and_long_squeeze)
{
    unsigned char m[200];
    struct age_bytes whole = {m, 200}, parts[3] = {{m, 1}, {m + 1, 135}, {m + 136, 64}};

    memset(m, 0xa3, sizeof(m));
    check(AGE_SHA3_256, &whole, 1, 32, 0,
          "79f38adec5c20307a98ef76e8324afbfd46cfd81b22e3973c65fa1bd9de31787");
    check(AGE_SHA3_256, parts, 3, 32, 0,
          "79f38adec5c20307a98ef76e8324afbfd46cfd81b22e3973c65fa1bd9de31787");
    /* bytes 368..399 of a 400-byte SHAKE128 output: the third block of the squeeze */
    check(AGE_SHAKE128, parts, 3, 400, 368,
          "b744c8506f37e9b4e749a184b30f43eb188d855f1b70d71ff3e50c537ac1b0f8");
}

Test(sha3, bad_arguments)
{
    unsigned char out[64];
    struct age_bytes none = {"", 0};

    cr_expect_eq(age_sha3(AGE_SHA3_256, &none, 1, out, 64), M3_EINVAL);
    cr_expect_eq(age_sha3((enum age_sha3_alg)9, &none, 1, out, 32), M3_EINVAL);
}

/* The same hashes through OpenSSL's EVP (libcrypto, which the tests link): every length from 0
 * to past two blocks of the widest rate (168 bytes, SHAKE128), in one part and split in two,
 * and XOF outputs of every length up to three blocks, so that every padding position and
 * every squeeze boundary of our Keccak is compared with an independent implementation. */
static void
openssl_hash(enum age_sha3_alg alg, const unsigned char *in, size_t len, unsigned char *out,
             size_t out_len)
{
    const EVP_MD *md = alg == AGE_SHA3_256   ? EVP_sha3_256()
                       : alg == AGE_SHA3_512 ? EVP_sha3_512()
                       : alg == AGE_SHAKE128 ? EVP_shake128()
                                             : EVP_shake256();
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n = 0;

    cr_assert_not_null(c);
    cr_assert_eq(EVP_DigestInit_ex(c, md, NULL), 1);
    cr_assert_eq(EVP_DigestUpdate(c, in, len), 1);
    if (alg == AGE_SHAKE128 || alg == AGE_SHAKE256)
        cr_assert_eq(EVP_DigestFinalXOF(c, out, out_len), 1);
    else
        cr_assert_eq(EVP_DigestFinal_ex(c, out, &n), 1);
    EVP_MD_CTX_free(c);
}

Test(sha3, agrees_with_openssl_at_every_length)
{
    static const enum age_sha3_alg algs[] = {AGE_SHA3_256, AGE_SHA3_512, AGE_SHAKE128,
                                             AGE_SHAKE256};
    static const size_t fixed[] = {32, 64};
    unsigned char msg[400], ours[504], theirs[504];

    for (size_t i = 0; i < sizeof(msg); i++)
        msg[i] = (unsigned char)(i * 131 + 7);
    for (size_t a = 0; a < 4; a++)
        for (size_t len = 0; len <= 340; len++) {
            bool xof = algs[a] == AGE_SHAKE128 || algs[a] == AGE_SHAKE256;
            size_t out_len = xof ? 1 + (len * 37) % 503 : fixed[algs[a] == AGE_SHA3_512];
            struct age_bytes parts[2] = {{msg, len / 3}, {msg + len / 3, len - len / 3}};

            openssl_hash(algs[a], msg, len, theirs, out_len);
            cr_assert_eq(age_sha3(algs[a], parts, 2, ours, out_len), 0);
            cr_assert(memcmp(ours, theirs, out_len) == 0, "alg %zu, %zu bytes in, %zu out", a,
                      len, out_len);
        }
}
