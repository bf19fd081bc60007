/* fuzz_bech32.c: bech32 decoding; whatever decodes must encode back to the same string in
 * the same case. */
#include "tests/fuzz/fuzz.h"

#include <ctype.h>

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_strndup(data, size);
    char hrp[128], *again = NULL;
    unsigned char out[512];
    size_t len = 0;

    if (age_bech32_decode(s, hrp, sizeof(hrp), out, sizeof(out), &len) == 0) {
        bool upper = false;
        size_t cap = strlen(s) + 1;
        for (const char *c = s; *c; c++)
            if (isupper((unsigned char)*c))
                upper = true;
        again = malloc(cap);
        if (again == NULL || len > sizeof(out) ||
            age_bech32_encode(hrp, out, len, upper, again, cap) != 0 || strcmp(again, s) != 0)
            abort();
    }
    free(again);
    free(s);
    return 0;
}
