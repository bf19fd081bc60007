/* rekey_floor: the least work a rekey of one secret needs, measured on this machine:
 * the X25519 operations of the format (ssh-ed25519: unwrap = 2 scalar multiplications;
 * wrap to each recipient = 1 base-point + 2 scalar multiplications) and one fsync of a small
 * file plus one of its folder. Usage: rekey_floor RECIPIENTS BYTES DIR [ITERATIONS].
 * Prints "floor_ms_per_file X25519_ms fsync_ms" (one core). The X25519 part is CPU time (on
 * an idle core the same as wall time; on a shared machine not inflated by others' work),
 * the fsync part wall time (waiting for the disk is what it costs). */
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_ms(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int
main(int argc, char **argv)
{
    unsigned char sk[32], pk[32], out[32], buf[4096];
    int nrcpt, bytes, iters, dfd;
    double t0, x_ms, f_ms;
    char path[4096];

    if (argc < 4 || sodium_init() < 0) {
        fprintf(stderr, "usage: rekey_floor RECIPIENTS BYTES DIR [ITERATIONS]\n");
        return 2;
    }
    nrcpt = atoi(argv[1]);
    bytes = atoi(argv[2]);
    iters = argc > 4 ? atoi(argv[4]) : 200;
    if (bytes > (int)sizeof(buf))
        bytes = sizeof(buf);
    randombytes_buf(sk, sizeof(sk));
    crypto_scalarmult_base(pk, sk);
    t0 = now_ms(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < iters; i++) {
        for (int j = 0; j < 2; j++) /* unwrap: shared secret, then the tweak */
            if (crypto_scalarmult(out, sk, pk) != 0)
                return 1;
        for (int r = 0; r < nrcpt; r++) { /* wrap: ephemeral share, shared, tweak */
            crypto_scalarmult_base(out, sk);
            if (crypto_scalarmult(out, sk, pk) != 0 || crypto_scalarmult(out, sk, pk) != 0)
                return 1;
        }
    }
    x_ms = (now_ms(CLOCK_PROCESS_CPUTIME_ID) - t0) / iters;
    if ((dfd = open(argv[3], O_RDONLY | O_DIRECTORY)) < 0) {
        perror(argv[3]);
        return 2;
    }
    memset(buf, 'x', sizeof(buf));
    snprintf(path, sizeof(path), "%s/.floor.tmp", argv[3]);
    t0 = now_ms(CLOCK_MONOTONIC);
    for (int i = 0; i < iters / 4 + 1; i++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, buf, (size_t)bytes + 200) < 0 || fsync(fd) != 0 || close(fd) != 0)
            return 1;
        if (fsync(dfd) != 0)
            return 1;
    }
    f_ms = (now_ms(CLOCK_MONOTONIC) - t0) / (iters / 4 + 1);
    unlink(path);
    close(dfd);
    printf("%.3f %.3f %.3f\n", x_ms + f_ms, x_ms, f_ms);
    return 0;
}
