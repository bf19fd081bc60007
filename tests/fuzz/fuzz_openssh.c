/* fuzz_openssh.c: OpenSSH and PEM private key files (keys_ssh_private_parse), unlocked when
 * they are not passphrase-protected (a protected key would make every run pay for the KDF),
 * and SSH public key lines as recipients (keys_recipient_parse). */
#include "keys/keys.h"
#include "keys/openssh.h"
#include "libage/internal.h"
#include "tests/fuzz/fuzz.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct keys_ssh_private *k = NULL;
    struct age_identity *id = NULL;
    struct age_recipient *r = NULL;
    struct m3_diag d;
    char *text;

    if (!init && age_init() == 0)
        init = 1;
    if ((text = age_secret_alloc(size + 1)) == NULL)
        abort();
    memcpy(text, data, size);
    m3_diag_clear(&d);
    if (keys_ssh_private_parse(&k, text, size, &d) == 0) {
        const unsigned char *wire;
        size_t wlen;
        (void)keys_ssh_private_wire(k, &wire, &wlen);
        if (!keys_ssh_private_encrypted(k) && keys_ssh_private_identity(k, NULL, &id, &d) == 0)
            age_identity_free(id);
        keys_ssh_private_free(k);
    } else if (d.msg[0] == '\0') {
        abort();
    }
    m3_diag_clear(&d);
    if (keys_recipient_parse(&r, text, &d) == 0)
        age_recipient_free(r);
    age_secret_free(text);
    return 0;
}
