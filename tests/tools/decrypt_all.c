/* decrypt_all: test helper for the rekey crash test. Usage: decrypt_all IDENTITY FILE...
 * Prints one line per FILE: "FILE<TAB>first line of its plaintext", or "FILE<TAB>ERROR: why".
 * Exits 0 when every file decrypted, 1 otherwise. One process instead of one per file keeps
 * the crash test fast. */
#include "keys/keys.h"
#include "secrets/repo.h"

#include <stdio.h>
#include <string.h>

int
main(int argc, char **argv)
{
    struct keys_identities ids = {0};
    struct m3_diag d;
    int rc = 0;

    if (argc < 2 || age_init() != 0) {
        fprintf(stderr, "usage: decrypt_all IDENTITY FILE...\n");
        return 2;
    }
    m3_diag_clear(&d);
    if (keys_identities_load_file(&ids, argv[1], NULL, NULL, &d) != 0) {
        fprintf(stderr, "%s: %s\n", argv[1], d.msg);
        return 2;
    }
    for (int i = 2; i < argc; i++) {
        struct secrets_buf b = {0};
        m3_diag_clear(&d);
        if (secrets_decrypt_file(argv[i], ids.v, ids.n, &b, &d) != 0) {
            printf("%s\tERROR: %s\n", argv[i], d.msg);
            rc = 1;
        } else {
            printf("%s\t%.*s\n", argv[i], (int)strcspn((char *)b.p, "\n"), (char *)b.p);
        }
        secrets_buf_free(&b);
    }
    keys_identities_clear(&ids);
    return rc;
}
