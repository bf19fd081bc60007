/* The armor's base64 encoders (libage/base64.c): the portable one, the AVX2 one where the CPU
 * has it, and the dispatching entry points give exactly what a plain bit-by-bit encoder and
 * libsodium's sodium_bin2base64 give, on random bytes of every length 0..300 at every
 * alignment of input and output; the line encoder gives 64-column lines. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "libage/base64.h"

#define MAXLEN 300
#define ALIGNS 64

/* reference: RFC 4648's description, six bits at a time. */
static size_t
reference(char *out, const unsigned char *in, size_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, bits = 0;
    unsigned acc = 0;

    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8 | in[i]) & 0xffff;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[o++] = a[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[o++] = a[(acc << (6 - bits)) & 63];
    while (o % 4 != 0)
        out[o++] = '=';
    return o;
}

typedef size_t (*encoder)(char *, const unsigned char *, size_t);

static void
check_encoder(encoder enc, const char *name)
{
    static unsigned char in[MAXLEN + ALIGNS];
    static char want[AGE_B64_LEN(MAXLEN) + 1], got[AGE_B64_LEN(MAXLEN) + ALIGNS + 1],
        sod[AGE_B64_LEN(MAXLEN) + 1];

    cr_assert_geq(sodium_init(), 0);
    for (size_t len = 0; len <= MAXLEN; len++)
        for (size_t al = 0; al < ALIGNS; al++) {
            size_t n, wn;
            randombytes_buf(in, sizeof(in));
            wn = reference(want, in + al, len);
            cr_assert_eq(wn, AGE_B64_LEN(len));
            sodium_bin2base64(sod, sizeof(sod), in + al, len, sodium_base64_VARIANT_ORIGINAL);
            cr_assert(strlen(sod) == wn && memcmp(sod, want, wn) == 0,
                      "reference and libsodium differ at length %zu", len);
            memset(got, '#', sizeof(got));
            n = enc(got + (ALIGNS - 1 - al), in + al, len);
            cr_assert_eq(n, wn, "%s: length %zu gave %zu characters", name, len, n);
            cr_assert(memcmp(got + (ALIGNS - 1 - al), want, wn) == 0,
                      "%s: length %zu, alignment %zu: wrong encoding", name, len, al);
            cr_assert_eq(got[ALIGNS - 1 - al + wn], '#', "%s: wrote past the end", name);
        }
}

Test(base64, scalar_encoder)
{
    check_encoder(age_b64_std_scalar, "scalar");
}

Test(base64, avx2_encoder)
{
    if (!age_b64_have_avx2())
        cr_skip_test("this CPU has no AVX2");
    check_encoder(age_b64_std_avx2, "avx2");
}

Test(base64, dispatching_encoder)
{
    check_encoder(age_b64_std, "dispatch");
}

/* Every index value in every position: the bytes 00..ff in all three phases. */
Test(base64, every_index_in_every_position)
{
    unsigned char in[256 * 3];
    char want[AGE_B64_LEN(sizeof(in))], got[AGE_B64_LEN(sizeof(in))];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i / 3 + (i % 3) * 85);
    for (size_t off = 0; off < 3; off++) {
        size_t n = reference(want, in + off, sizeof(in) - off);
        cr_assert_eq(age_b64_std(got, in + off, sizeof(in) - off), n);
        cr_assert(memcmp(got, want, n) == 0, "offset %zu", off);
        cr_assert_eq(age_b64_std_scalar(got, in + off, sizeof(in) - off), n);
        cr_assert(memcmp(got, want, n) == 0, "offset %zu (scalar)", off);
    }
}

/* The line encoder: 48-byte groups as 64 columns and a newline, at every alignment. */
Test(base64, lines)
{
    static unsigned char in[48 * 12 + ALIGNS];
    static char want[65 * 12], got[65 * 12 + ALIGNS + 1];

    for (size_t groups = 0; groups <= 12; groups++)
        for (size_t al = 0; al < ALIGNS; al++) {
            randombytes_buf(in, sizeof(in));
            for (size_t g = 0; g < groups; g++) {
                reference(want + 65 * g, in + al + 48 * g, 48);
                want[65 * g + 64] = '\n';
            }
            memset(got, '#', sizeof(got));
            cr_assert_eq(age_b64_lines(got + al, in + al, groups), 65 * groups);
            cr_assert(memcmp(got + al, want, 65 * groups) == 0, "%zu groups, alignment %zu", groups,
                      al);
            cr_assert_eq(got[al + 65 * groups], '#', "wrote past the end");
        }
}
