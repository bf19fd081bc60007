/* keygen.c: `m3age keygen` and `m3age keygen -y`. */
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "keys/keys.h"
#include "libage/internal.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static void
keygen_usage(FILE *f)
{
    fprintf(f, "Usage: m3age keygen [--pq] [-o OUTPUT]\n"
               "       m3age keygen -y [IDENTITY_FILE]\n\n"
               "Generate a new age X25519 identity and write it to OUTPUT (created with mode\n"
               "0600, never overwritten) or standard output; the public key (recipient) goes to\n"
               "standard error. With --pq (or -pq, as age-keygen spells it), generate a\n"
               "post-quantum hybrid identity (ML-KEM-768 + X25519, AGE-SECRET-KEY-PQ-1...,\n"
               "recipient age1pq1...) instead. With -y, print the recipient of each identity in\n"
               "IDENTITY_FILE (default: standard input), post-quantum ones included.\n\n"
               "Exit status: 0 done, 1 IDENTITY_FILE holds no usable identity, 2 usage or\n"
               "operational error (OUTPUT exists, or its folder does not).\n");
}

static int
keygen_new(const char *output, bool pq)
{
    struct age_identity *id = NULL;
    struct age_recipient *r = NULL;
    struct m3_out out = {.fd = -1};
    size_t sk_cap = (pq ? AGE_PQ_IDENTITY_LEN : AGE_X25519_IDENTITY_LEN) + 1;
    char *sk = age_secret_alloc(sk_cap), *pk = NULL, *text = NULL;
    char stamp[32];
    /* the comment lines, the recipient (1959 characters for a post-quantum one), the key */
    size_t cap = 128 + AGE_PQ_RECIPIENT_LEN + AGE_PQ_IDENTITY_LEN;
    time_t now = time(NULL);
    int rc = M3_EXIT_USAGE;

    if (sk == NULL || (text = age_secret_alloc(cap)) == NULL)
        goto out;
    if (output != NULL && strcmp(output, "-") != 0 && access(output, F_OK) == 0) {
        m3_error("%s: file exists, refusing to overwrite", output);
        goto out;
    }
    if ((pq ? age_pq_identity_generate(&id) : age_x25519_identity_generate(&id)) != 0 ||
        (pq ? age_pq_identity_encode(id, sk, sk_cap)
            : age_x25519_identity_encode(id, sk, sk_cap)) ||
        id->ops->recipient(id->state, &r) != 0 || (pk = age_recipient_string(r)) == NULL) {
        m3_error("cannot generate a key");
        goto out;
    }
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    snprintf(text, cap, "# created: %s\n# public key: %s\n%s\n", stamp, pk, sk);
    out.no_clobber = true;
    if (m3_out_open(&out, output, 0600) != 0)
        goto out;
    if (m3_fd_write(&out.fd, text, strlen(text)) != 0) {
        m3_error("%s: write failed", out.name);
        m3_out_abort(&out);
        goto out;
    }
    if (m3_out_commit(&out) != 0)
        goto out;
    if (output != NULL || !isatty(1))
        fprintf(stderr, "Public key: %s\n", pk);
    rc = 0;
out:
    age_secret_free(sk);
    age_secret_free(text);
    free(pk);
    age_recipient_free(r);
    age_identity_free(id);
    return rc;
}

static int
keygen_public(const char *input)
{
    struct keys_identities ids = {0};
    struct m3_diag d;
    int rc = M3_EXIT_NEGATIVE;

    m3_diag_clear(&d);
    if (keys_identities_load_file(&ids, input ? input : "/dev/stdin", m3_passphrase_cb, NULL, &d) !=
        0) {
        m3_error_diag(m3_in_name(input), d.code, &d);
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++) {
        struct age_recipient *r = NULL;
        char *s = NULL;
        if (ids.v[i]->ops->recipient == NULL ||
            ids.v[i]->ops->recipient(ids.v[i]->state, &r) != 0 ||
            (s = age_recipient_string(r)) == NULL) {
            m3_error("%s: identity %zu has no recipient form", m3_in_name(input), i + 1);
            age_recipient_free(r);
            goto out;
        }
        printf("%s\n", s);
        free(s);
        age_recipient_free(r);
    }
    rc = 0;
out:
    keys_identities_clear(&ids);
    return rc;
}

int
cmd_keygen(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"output", required_argument, NULL, 'o'},
        {"pq", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *output = NULL;
    bool public = false, pq = false;
    int c;

    /* age-keygen's Go-style single-dash -pq (getopt would read it as -p -q) */
    for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++)
        if (strcmp(argv[i], "-pq") == 0)
            argv[i] = (char *)"--pq";
    optind = 1;
    while ((c = m3_getopt(argc, argv, "o:yh", longopts, "keygen")) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'y':
            public
            = true;
            break;
        case 'P':
            pq = true;
            break;
        case 'h':
            keygen_usage(stdout);
            return 0;
        default:
            return M3_EXIT_USAGE;
        }
    }
    if (public) {
        if (output != NULL || pq || argc - optind > 1) {
            keygen_usage(stderr);
            return M3_EXIT_USAGE;
        }
        return keygen_public(optind < argc ? argv[optind] : NULL);
    }
    if (optind < argc) {
        m3_error("unexpected argument '%s'", argv[optind]);
        keygen_usage(stderr);
        return M3_EXIT_USAGE;
    }
    return keygen_new(output, pq);
}
