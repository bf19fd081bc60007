/* audit_gen.c: writes N age files OUT_DIR/sNNNN.age (for bench_audit.sh and
 * bench_rekey.sh), each a fresh random plaintext of BYTES bytes (default 150) encrypted with
 * libage to every recipient of a recipients file, in one process: the repository is made by
 * m3age's own code without paying a process start per file.
 * Usage: audit_gen RECIPIENTS_FILE N OUT_DIR [BYTES] */
#include "keys/keys.h"
#include "libage/age.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int
fd_write(void *ctx, const void *buf, size_t len)
{
    return write(*(int *)ctx, buf, len) == (ssize_t)len ? 0 : -1;
}

int
main(int argc, char **argv)
{
    struct keys_recipients rs = {0};
    struct m3_diag d = {0};
    struct age_encrypt_opts opts = {.armor = false, .threads = 1};
    unsigned char pt[4096];
    long n, bytes = argc > 4 ? strtol(argv[4], NULL, 10) : 150;

    if (argc < 4 || argc > 5 || (n = strtol(argv[2], NULL, 10)) <= 0 || bytes < 0 ||
        bytes > (long)sizeof(pt)) {
        fprintf(stderr, "usage: audit_gen RECIPIENTS_FILE N OUT_DIR [BYTES (at most 4096)]\n");
        return 2;
    }
    if (age_init() != 0 || keys_recipients_load_file(&rs, argv[1], &d) != 0) {
        fprintf(stderr, "audit_gen: %s: %s\n", argv[1], d.msg);
        return 2;
    }
    for (long i = 1; i <= n; i++) {
        char path[4096];
        struct age_encryptor *e = NULL;
        int fd;
        snprintf(path, sizeof(path), "%s/s%04ld.age", argv[3], i);
        if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0) {
            perror(path);
            return 2;
        }
        randombytes_buf(pt, (size_t)bytes);
        if (age_encryptor_new(&e, rs.v, rs.n, &opts, fd_write, &fd, &d) != 0 ||
            age_encryptor_write(e, pt, (size_t)bytes, &d) != 0 ||
            age_encryptor_finish(e, &d) != 0) {
            fprintf(stderr, "audit_gen: %s: %s\n", path, d.msg);
            return 2;
        }
        age_encryptor_free(e);
        close(fd);
    }
    keys_recipients_clear(&rs);
    return 0;
}
