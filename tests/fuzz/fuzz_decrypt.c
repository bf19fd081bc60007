/* fuzz_decrypt.c: a whole decryption (armor detection, header, unwrap, MAC, STREAM) with a
 * fixed X25519 identity and a fixed scrypt passphrase (work factor capped low so the
 * fuzzer stays fast). The seeds are encrypted to these keys, so the fuzzer starts past the
 * MAC. The first input byte picks the read size. */
#include "libage/internal.h"
#include "tests/fuzz/fuzz.h"

/* Throwaway test key (tests/fuzz/identity.txt), and the passphrase of the scrypt seeds. */
#define FUZZ_IDENTITY "AGE-SECRET-KEY-1JSC79E4CAVVGG7JYD4MDN7A44KZQJZ5LP4YPQEW96LF6E7H8VFZSVPKZ4G"
#define FUZZ_PASSPHRASE "fuzz"
#define FUZZ_MAX_LOG2N 4

static int
passphrase(void *ctx, const char *prompt, char *buf, size_t cap)
{
    (void)ctx;
    (void)prompt;
    if (cap < sizeof(FUZZ_PASSPHRASE))
        return M3_EPASSPHRASE;
    memcpy(buf, FUZZ_PASSPHRASE, sizeof(FUZZ_PASSPHRASE));
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct age_identity *ids[2];
    struct fuzz_src src;
    struct m3_diag d;
    size_t total = 0;
    int rc;

    if (ids[0] == NULL) {
        if (age_init() != 0 || age_x25519_identity_parse(&ids[0], FUZZ_IDENTITY, NULL) != 0 ||
            age_scrypt_identity_new(&ids[1], passphrase, NULL, "fuzz", FUZZ_MAX_LOG2N) != 0)
            abort();
    }
    if (size < 1)
        return 0;
    src = (struct fuzz_src){data + 1, size - 1, 0, fuzz_piece(data[0]), 0};
    m3_diag_clear(&d);
    rc = age_decrypt(ids, 2, fuzz_read, &src, fuzz_discard, &total, (data[0] & 0x80) ? 2 : 1, &d);
    if (rc > 0 || (rc < 0 && (d.msg[0] == '\0' || strchr(d.msg, '\n') != NULL)))
        abort();
    return 0;
}
