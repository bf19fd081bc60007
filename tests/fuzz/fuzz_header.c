/* fuzz_header.c: the binary header parser. Every accepted header must serialize back to the
 * exact bytes it was parsed from (the MAC covers those bytes, so parse and serialize agree
 * or a MAC could verify over something else than what was checked). */
#include "libage/header.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct age_header *h = NULL;
    struct age_buf b = {0};
    struct m3_diag d;
    size_t consumed = 0;
    int rc;

    if (!init && age_init() == 0)
        init = 1;
    rc = age_header_parse(&h, data, size, &consumed, &d);
    if (rc != 0) {
        if (h != NULL || d.code != rc || d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL)
            abort(); /* failures leave nothing behind and explain themselves in one line */
        return 0;
    }
    if (consumed != h->header_len || consumed > size || h->mac_off > consumed)
        abort();
    if (age_header_serialize(h->stanzas, h->nstanzas, &b) != 0)
        abort();
    if (b.len != h->mac_off || memcmp(b.p, data, b.len) != 0)
        abort();
    free(b.p);
    age_header_free(h);
    return 0;
}
