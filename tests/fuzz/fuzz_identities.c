/* fuzz_identities.c: identity files (-i) as keys_identities_parse_buf reads them, from
 * secret memory as the real loader does. Passphrase prompts are answered with a fixed
 * passphrase. Every identity that parses and can name its recipient yields a recipient that
 * parses. */
#include "keys/keys.h"
#include "libage/internal.h"
#include "tests/fuzz/fuzz.h"

static int
passphrase(void *ctx, const char *prompt, char *buf, size_t cap)
{
    (void)ctx;
    (void)prompt;
    if (cap < 5)
        return M3_ECANCELED;
    memcpy(buf, "fuzz", 5);
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct keys_identities l = {0};
    struct m3_diag d;
    char *buf;

    if (!init && age_init() == 0)
        init = 1;
    if ((buf = age_secret_alloc(size + 1)) == NULL)
        abort();
    memcpy(buf, data, size);
    m3_diag_clear(&d);
    if (keys_identities_parse_buf(&l, buf, size, "fuzz", passphrase, NULL, &d) == 0) {
        for (size_t i = 0; i < l.n; i++) {
            struct age_recipient *r = NULL, *r2 = NULL;
            char *s;
            if (l.v[i]->ops->recipient == NULL || l.v[i]->ops->recipient(l.v[i]->state, &r) != 0)
                continue;
            if ((s = age_recipient_string(r)) != NULL) {
                if (keys_recipient_parse(&r2, s, NULL) != 0)
                    abort();
                age_recipient_free(r2);
                free(s);
            }
            age_recipient_free(r);
        }
    } else if (d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL) {
        abort();
    }
    keys_identities_clear(&l);
    age_secret_free(buf);
    return 0;
}
