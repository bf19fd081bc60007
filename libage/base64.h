/* base64.h: fast standard base64 encoding (RFC 4648 section 4, "=" padded) for the ASCII
 * armor, with an AVX2 path chosen at run time and a portable one.
 *
 * Not constant time (table lookups and branches on the data): it is only ever given public
 * bytes (ciphertext). Secret data goes through libsodium's sodium_bin2base64, which is.
 * Hand-written: no library packaged here has a vectorised base64 encoder (libb64 and
 * libbaseencode are scalar). The decoder's speed does not matter (armor.c uses libsodium's). */
#ifndef M3_AGE_BASE64_H
#define M3_AGE_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* AGE_B64_LEN: the encoding's length for len input bytes (no terminator). */
#define AGE_B64_LEN(len) (((len) + 2) / 3 * 4)

/* age_b64_std: encodes len bytes of in into out (AGE_B64_LEN(len) bytes, padded, not
 * NUL-terminated) with the fastest encoder this CPU runs; returns the length written.
 * Thread-safe. */
size_t age_b64_std(char *out, const unsigned char *in, size_t len);
/* age_b64_lines: ngroups whole 48-byte groups of in as 64-column lines, each followed by
 * "\n" (65 * ngroups bytes into out); returns the length written. Thread-safe. */
size_t age_b64_lines(char *out, const unsigned char *in, size_t ngroups);

/* The encoders behind them, for tests and benchmarks: the portable one, and the AVX2 one
 * (x86-64 only; call it only when age_b64_have_avx2() is true). */
size_t age_b64_std_scalar(char *out, const unsigned char *in, size_t len);
size_t age_b64_std_avx2(char *out, const unsigned char *in, size_t len);
bool age_b64_have_avx2(void);

#endif
