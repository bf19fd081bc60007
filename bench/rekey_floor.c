/* rekey_floor: the least work a rekey of one secret needs on this machine.
 *
 * X25519, as CPU time: opening an ssh-ed25519 stanza takes 2 multiplications of a point (the
 * shared secret, then the tweak over it); wrapping the file key to each recipient takes the
 * ephemeral share (a multiplication of the base point) and 1 multiplication of a point (the
 * tweak can be applied to the recipient's point once per run, as libage does: scalar
 * multiplications commute). Each kind of operation is priced at the fastest implementation
 * here among those measured and printed: libsodium's ladder (crypto_scalarmult,
 * crypto_scalarmult_base), libsodium's Ed25519 fixed-base tables with the map to X25519
 * (age_x25519_base), and OpenSSL's (EVP_PKEY X25519 derive with a new peer key per operation,
 * as every stanza has its own point; and key generation for the base point).
 *
 * The crash-safety contract's system calls, on the repository's own files (DIR, the folder
 * m3age has just rekeyed: same files, same file system state), each rewritten with the same
 * bytes: read the old file (open, read, close), write the new one (a temp file created in the
 * folder, write, fsync, close, rename over the old one), and one fsync of the folder per
 * pass; their CPU time (user + system: the kernel's work done for the process) and their
 * wall time (with the waits for the disk). Best of three passes, as bench_rekey.sh keeps
 * m3age's best run.
 *
 * Usage: rekey_floor RECIPIENTS DIR. Prints one line, milliseconds per file, microseconds
 * per operation, and the number of files:
 *   X25519_ms syscalls_cpu_ms syscalls_wall_ms
 *   sodium_var_us sodium_base_us age_base_us openssl_var_us openssl_var_bare_us openssl_base_us
 *   files
 * (openssl_var_bare: the same peer key and context every time, OpenSSL's ladder alone; not
 * usable for stanzas, printed for comparison). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libage/internal.h"

#define OPS 1500

static double
now_ms(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

enum op { SODIUM_VAR, SODIUM_BASE, AGE_BASE, OSSL_VAR, OSSL_VAR_BARE, OSSL_BASE, NOPS };

struct ctx {
    unsigned char sk[32], pk[32], out[32];
    EVP_PKEY *priv, *peer;
    EVP_PKEY_CTX *bare, *keygen;
};

static int
run_op(struct ctx *c, enum op op)
{
    EVP_PKEY *k = NULL;
    EVP_PKEY_CTX *x = NULL;
    size_t len = 32;
    int ok = 0;

    switch (op) {
    case SODIUM_VAR:
        return crypto_scalarmult(c->out, c->sk, c->pk) == 0;
    case SODIUM_BASE:
        return crypto_scalarmult_base(c->out, c->sk) == 0;
    case AGE_BASE:
        age_x25519_base(c->out, c->sk);
        return 1;
    case OSSL_VAR:
        ok = (k = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, c->pk, 32)) != NULL &&
             (x = EVP_PKEY_CTX_new(c->priv, NULL)) != NULL && EVP_PKEY_derive_init(x) == 1 &&
             EVP_PKEY_derive_set_peer(x, k) == 1 && EVP_PKEY_derive(x, c->out, &len) == 1;
        EVP_PKEY_CTX_free(x);
        EVP_PKEY_free(k);
        return ok;
    case OSSL_VAR_BARE:
        return EVP_PKEY_derive(c->bare, c->out, &len) == 1;
    case OSSL_BASE:
        ok = EVP_PKEY_keygen(c->keygen, &k) == 1;
        EVP_PKEY_free(k);
        return ok;
    case NOPS:
        break;
    }
    return 0;
}

/* op_us: CPU microseconds of one operation, best of three rounds. */
static double
op_us(struct ctx *c, enum op op)
{
    double best = 1e30;

    for (int round = 0; round < 3; round++) {
        double t0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), t;
        for (int i = 0; i < OPS; i++)
            if (!run_op(c, op))
                return -1;
        t = (now_ms(CLOCK_PROCESS_CPUTIME_ID) - t0) * 1e3 / OPS;
        best = t < best ? t : best;
    }
    return best;
}

static int
setup_openssl(struct ctx *c)
{
    return (c->priv = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, c->sk, 32)) != NULL &&
           (c->peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, c->pk, 32)) != NULL &&
           (c->bare = EVP_PKEY_CTX_new(c->priv, NULL)) != NULL &&
           EVP_PKEY_derive_init(c->bare) == 1 && EVP_PKEY_derive_set_peer(c->bare, c->peer) == 1 &&
           (c->keygen = EVP_PKEY_CTX_new_id(EVP_PKEY_X25519, NULL)) != NULL &&
           EVP_PKEY_keygen_init(c->keygen) == 1;
}

/* contract: the system calls of rewriting, in place and with the same bytes, every "*.age"
 * file of dir (the repository m3age has just rekeyed: the same folder, files and file system
 * state), as CPU and wall milliseconds per file (best of three passes). Names are looked up
 * relative to the folder, the cheapest way. *nfiles receives the number of files. */
static int
contract(const char *dir, int *nfiles, double *cpu, double *wall)
{
    char **names = NULL, tmp[300];
    size_t n = 0, cap = 0;
    unsigned char buf[1 << 16];
    struct dirent *de;
    DIR *dh = opendir(dir);
    int dfd, rc = -1;

    *cpu = *wall = 1e30;
    if (dh == NULL)
        return -1;
    dfd = dirfd(dh);
    while ((de = readdir(dh)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l < 5 || l > 250 || strcmp(de->d_name + l - 4, ".age") != 0)
            continue;
        if (n == cap) {
            char **nv = realloc(names, (cap = cap ? 2 * cap : 512) * sizeof(*names));
            if (nv == NULL)
                goto out;
            names = nv;
        }
        if ((names[n] = strdup(de->d_name)) == NULL)
            goto out;
        n++;
    }
    if (n == 0)
        goto out;
    for (int pass = 0; pass < 3; pass++) {
        double c0 = now_ms(CLOCK_PROCESS_CPUTIME_ID), w0 = now_ms(CLOCK_MONOTONIC), c, w;
        for (size_t i = 0; i < n; i++) {
            ssize_t len;
            int fd;
            snprintf(tmp, sizeof(tmp), ".%s.floor", names[i]);
            if ((fd = openat(dfd, names[i], O_RDONLY)) < 0 ||
                (len = read(fd, buf, sizeof(buf))) <= 0 || close(fd) != 0)
                goto out;
            if ((fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0 ||
                write(fd, buf, (size_t)len) != len || fsync(fd) != 0 || close(fd) != 0 ||
                renameat(dfd, tmp, dfd, names[i]) != 0)
                goto out;
        }
        if (fsync(dfd) != 0)
            goto out;
        c = (now_ms(CLOCK_PROCESS_CPUTIME_ID) - c0) / (double)n;
        w = (now_ms(CLOCK_MONOTONIC) - w0) / (double)n;
        *cpu = c < *cpu ? c : *cpu;
        *wall = w < *wall ? w : *wall;
    }
    *nfiles = (int)n;
    rc = 0;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(dh);
    return rc;
}

int
main(int argc, char **argv)
{
    struct ctx c = {0};
    double us[NOPS], var, base, x_ms, sys_cpu, sys_wall;
    int nrcpt, nfiles = 0;

    if (argc != 3 || sodium_init() < 0 || (nrcpt = atoi(argv[1])) <= 0) {
        fprintf(stderr, "usage: rekey_floor RECIPIENTS DIR\n");
        return 2;
    }
    randombytes_buf(c.sk, sizeof(c.sk));
    crypto_scalarmult_base(c.pk, c.sk);
    if (!setup_openssl(&c)) {
        fprintf(stderr, "rekey_floor: OpenSSL has no X25519 here\n");
        return 1;
    }
    for (int op = 0; op < NOPS; op++)
        if ((us[op] = op_us(&c, (enum op)op)) < 0) {
            fprintf(stderr, "rekey_floor: X25519 operation %d failed\n", op);
            return 1;
        }
    var = us[SODIUM_VAR] < us[OSSL_VAR] ? us[SODIUM_VAR] : us[OSSL_VAR];
    base = us[SODIUM_BASE];
    base = us[AGE_BASE] < base ? us[AGE_BASE] : base;
    base = us[OSSL_BASE] < base ? us[OSSL_BASE] : base;
    x_ms = (2 * var + nrcpt * (base + var)) / 1e3;
    if (contract(argv[2], &nfiles, &sys_cpu, &sys_wall) != 0) {
        fprintf(stderr, "rekey_floor: %s: no .age file, or %s\n", argv[2], strerror(errno));
        return 1;
    }
    printf("%.3f %.3f %.3f %.2f %.2f %.2f %.2f %.2f %.2f %d\n", x_ms, sys_cpu, sys_wall,
           us[SODIUM_VAR], us[SODIUM_BASE], us[AGE_BASE], us[OSSL_VAR], us[OSSL_VAR_BARE],
           us[OSSL_BASE], nfiles);
    EVP_PKEY_CTX_free(c.bare);
    EVP_PKEY_CTX_free(c.keygen);
    EVP_PKEY_free(c.priv);
    EVP_PKEY_free(c.peer);
    return 0;
}
