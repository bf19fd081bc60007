/* base64.c: standard base64 encoding of public bytes for the armor (see base64.h): a
 * portable encoder that makes two characters per table lookup, and on x86-64 CPUs with AVX2
 * one that makes 32 characters from 24 bytes per step. */
#include "libage/base64.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define AGE_B64_X86 1
#include <immintrin.h>
#endif

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Each 12 bits of input are two characters: a 4096-entry table of character pairs (8 KiB,
 * cache-resident while a chunk is encoded). */
static uint16_t pairs[4096];
static bool use_avx2;
static pthread_once_t init_once = PTHREAD_ONCE_INIT;

static void
init(void)
{
    for (unsigned i = 0; i < 4096; i++) {
        char two[2] = {alphabet[i >> 6], alphabet[i & 63]};
        memcpy(&pairs[i], two, 2);
    }
#ifdef AGE_B64_X86
    /* Chosen at run time: the same binary runs on CPUs without AVX2. libgcc's and
     * compiler-rt's check includes the OS's support for the YMM registers (XCR0). */
    __builtin_cpu_init();
    use_avx2 = __builtin_cpu_supports("avx2");
#endif
}

/* tail: the last 0-2 bytes (1 or 2 padded with "="). */
static size_t
tail(char *out, const unsigned char *in, size_t len)
{
    unsigned v;

    if (len == 0)
        return 0;
    v = (unsigned)in[0] << 16 | (len > 1 ? (unsigned)in[1] << 8 : 0);
    out[0] = alphabet[v >> 18];
    out[1] = alphabet[(v >> 12) & 63];
    out[2] = len > 1 ? alphabet[(v >> 6) & 63] : '=';
    out[3] = '=';
    return 4;
}

/* scalar: whole 3-byte groups of in (len a multiple of 3). */
static void
scalar(char *out, const unsigned char *in, size_t len)
{
    for (size_t i = 0; i < len; i += 3, out += 4) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        memcpy(out, &pairs[v >> 12], 2);
        memcpy(out + 2, &pairs[v & 0xfff], 2);
    }
}

size_t
age_b64_std_scalar(char *out, const unsigned char *in, size_t len)
{
    size_t whole = len / 3 * 3;

    pthread_once(&init_once, init);
    scalar(out, in, whole);
    return whole / 3 * 4 + tail(out + whole / 3 * 4, in + whole, len - whole);
}

#ifdef AGE_B64_X86
/* enc24: 24 bytes at in (exactly those are read) to 32 characters.
 *  1. Each 128-bit lane gets 12 input bytes, as four 3-byte groups [a b c]: lane 0 from
 *     in[0..16) at offset 0, lane 1 from in[8..24) at offset 4, so that no byte past in[23]
 *     is loaded. A byte shuffle turns each group into the 32-bit word with bytes b a c b.
 *  2. Seen as two 16-bit words, a:b and b:c, the four 6-bit indices are bits 15..10 and 9..4
 *     of the first and 11..6 and 5..0 of the second. Two masks and two multiplies put them
 *     in the four bytes in order: mulhi by 2^6 and 2^10 shifts the 1st and 3rd right by 10
 *     and 6 (into bytes 0 and 2), mullo by 2^4 and 2^8 shifts the 2nd and 4th left by 4 and
 *     8 (into bytes 1 and 3).
 *  3. Index to character: an offset added per range (A-Z: +65, a-z: +71, 0-9: -4, '+': -19,
 *     '/': -16), picked with a 16-entry byte shuffle from a small range number: indices
 *     52..63 saturate down to 1..12, 26..51 to 0, and indices below 26 are set to 13. */
__attribute__((target("avx2"))) static inline __m256i
enc24(const unsigned char *in)
{
    const __m256i shuf = _mm256_setr_epi8(1, 0, 2, 1, 4, 3, 5, 4, 7, 6, 8, 7, 10, 9, 11, 10, 5, 4,
                                          6, 5, 8, 7, 9, 8, 11, 10, 12, 11, 14, 13, 15, 14);
    const __m256i offsets =
        _mm256_setr_epi8(71, -4, -4, -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0, 71, -4, -4,
                         -4, -4, -4, -4, -4, -4, -4, -4, -19, -16, 65, 0, 0);
    __m128i lo = _mm_loadu_si128((const __m128i *)(const void *)in);
    __m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(in + 8));
    __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1), a, b, idx, r;

    v = _mm256_shuffle_epi8(v, shuf);
    a = _mm256_mulhi_epu16(_mm256_and_si256(v, _mm256_set1_epi32(0x0fc0fc00)),
                           _mm256_set1_epi32(0x04000040));
    b = _mm256_mullo_epi16(_mm256_and_si256(v, _mm256_set1_epi32(0x003f03f0)),
                           _mm256_set1_epi32(0x01000010));
    idx = _mm256_or_si256(a, b);
    r = _mm256_subs_epu8(idx, _mm256_set1_epi8(51));
    r = _mm256_or_si256(
        r, _mm256_and_si256(_mm256_cmpgt_epi8(_mm256_set1_epi8(26), idx), _mm256_set1_epi8(13)));
    return _mm256_add_epi8(idx, _mm256_shuffle_epi8(offsets, r));
}

__attribute__((target("avx2"))) size_t
age_b64_std_avx2(char *out, const unsigned char *in, size_t len)
{
    size_t i = 0, o = 0;

    pthread_once(&init_once, init);
    for (; len - i >= 24; i += 24, o += 32)
        _mm256_storeu_si256((__m256i *)(void *)(out + o), enc24(in + i));
    return o + age_b64_std_scalar(out + o, in + i, len - i);
}

__attribute__((target("avx2"))) static size_t
lines_avx2(char *out, const unsigned char *in, size_t ngroups)
{
    for (size_t g = 0; g < ngroups; g++, in += 48, out += 65) {
        _mm256_storeu_si256((__m256i *)(void *)out, enc24(in));
        _mm256_storeu_si256((__m256i *)(void *)(out + 32), enc24(in + 24));
        out[64] = '\n';
    }
    return ngroups * 65;
}

bool
age_b64_have_avx2(void)
{
    pthread_once(&init_once, init);
    return use_avx2;
}
#else
size_t
age_b64_std_avx2(char *out, const unsigned char *in, size_t len)
{
    return age_b64_std_scalar(out, in, len); /* never chosen: age_b64_have_avx2 is false */
}

bool
age_b64_have_avx2(void)
{
    return false;
}
#endif

size_t
age_b64_std(char *out, const unsigned char *in, size_t len)
{
    pthread_once(&init_once, init);
#ifdef AGE_B64_X86
    if (use_avx2)
        return age_b64_std_avx2(out, in, len);
#endif
    return age_b64_std_scalar(out, in, len);
}

size_t
age_b64_lines(char *out, const unsigned char *in, size_t ngroups)
{
    pthread_once(&init_once, init);
#ifdef AGE_B64_X86
    if (use_avx2)
        return lines_avx2(out, in, ngroups);
#endif
    for (size_t g = 0; g < ngroups; g++) {
        scalar(out + 65 * g, in + 48 * g, 48);
        out[65 * g + 64] = '\n';
    }
    return ngroups * 65;
}
