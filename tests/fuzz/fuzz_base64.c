/* fuzz_base64.c: the header's strict base64; whatever decodes is canonical, so it encodes
 * back to the same text. */
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char *out;
    size_t cap = size, len = 0;
    char *again;

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
