/* fuzz_base64.c: the header's strict base64; whatever decodes is canonical, so it encodes
 * back to the same text. And the armor's fast encoders (libage/base64.c): the portable and
 * the AVX2 one give libsodium's encoding of the input, and the 64-column lines of its whole
 * 48-byte groups are that encoding cut into lines. */
#include "tests/fuzz/fuzz.h"
#include "libage/base64.h"

#include <sodium.h>

static void
check_encoders(const uint8_t *data, size_t size)
{
    size_t n = AGE_B64_LEN(size), groups = size / 48;
    char *ref = malloc(n + 1), *got = malloc(n + 1), *lines = malloc(groups * 65 + 1);

    if (ref == NULL || got == NULL || lines == NULL)
        abort();
    sodium_bin2base64(ref, n + 1, data, size, sodium_base64_VARIANT_ORIGINAL);
    if (age_b64_std_scalar(got, data, size) != n || memcmp(got, ref, n) != 0)
        abort();
    if (age_b64_have_avx2() && (age_b64_std_avx2(got, data, size) != n || memcmp(got, ref, n) != 0))
        abort();
    if (age_b64_std(got, data, size) != n || memcmp(got, ref, n) != 0)
        abort();
    if (age_b64_lines(lines, data, groups) != groups * 65)
        abort();
    for (size_t g = 0; g < groups; g++)
        if (memcmp(lines + 65 * g, ref + 64 * g, 64) != 0 || lines[65 * g + 64] != '\n')
            abort();
    free(ref);
    free(got);
    free(lines);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out;
    size_t cap = size, len = 0;
    char *again;

    check_encoders(data, size);
    if ((out = malloc(cap + 1)) == NULL)
        abort();
    if (age_b64_decode((const char *)data, size, out, cap, &len) == 0) {
        if (len > cap || (again = age_b64_encode(out, len)) == NULL)
            abort();
        if (strlen(again) != size || memcmp(again, data, size) != 0)
            abort();
        free(again);
    }
    /* A buffer one byte short must fail cleanly, never overflow. */
    if (len > 0 && age_b64_decode((const char *)data, size, out, len - 1, &len) == 0)
        abort();
    free(out);
    return 0;
}
