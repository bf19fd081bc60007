/* fuzz_recipients.c: recipient strings (-r) and recipients files (-R). Every recipient that
 * parses encodes back to a string that parses to the same encoding. */
#include "keys/keys.h"
#include "tests/fuzz/fuzz.h"

static void
check_roundtrip(const struct age_recipient *r)
{
    char *s = age_recipient_string(r), *t;
    struct age_recipient *r2 = NULL;

    if (s == NULL)
        return;
    if (keys_recipient_parse(&r2, s, NULL) != 0 || (t = age_recipient_string(r2)) == NULL ||
        strcmp(s, t) != 0)
        abort();
    free(t);
    free(s);
    age_recipient_free(r2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct keys_recipients l = {0};
    struct age_recipient *r = NULL;
    struct m3_diag d;
    char *s;

    if (!init && age_init() == 0)
        init = 1;
    s = fuzz_strndup(data, size);
    m3_diag_clear(&d);
    if (keys_recipient_parse(&r, s, &d) == 0) {
        check_roundtrip(r);
        age_recipient_free(r);
    } else if (d.msg[0] == '\0') {
        /* Not checked for one line here: keys_recipient_parse quotes its input as is
         * (bugs-harden.md, "unknown recipient type"). Lines of a file have no newline. */
        abort();
    }
    free(s);
    m3_diag_clear(&d);
    if (keys_recipients_parse_buf(&l, (const char *)data, size, &d) == 0) {
        for (size_t i = 0; i < l.n; i++)
            check_roundtrip(l.v[i]);
    } else if (d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL) {
        abort();
    }
    keys_recipients_clear(&l);
    return 0;
}
