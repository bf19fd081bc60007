/* encrypt.c: `m3age encrypt`. */
#include "cmd/cmd.h"
#include "cmd/crypt.h"

#include <getopt.h>
#include <string.h>

static void
encrypt_usage(FILE *f)
{
    fprintf(f,
            "Usage: m3age encrypt [-r RECIPIENT]... [-R RECIPIENTS_FILE]... [-i IDENTITY]...\n"
            "                     [-p] [-a] [-o OUTPUT] [INPUT]\n\n"
            "Encrypt INPUT (default: standard input) to OUTPUT (default: standard output).\n\n"
            "  -r, --recipient RECIPIENT        an age1... (age1pq1, age1tag1, age1tagpq1) or ssh\n"
            "                                   public key (repeatable); a plugin's age1NAME1...\n"
            "                                   goes through age-plugin-NAME\n"
            "  -R, --recipients-file FILE       a file of recipients, one per line (repeatable)\n"
            "  -i, --identity FILE              encrypt to the recipient of an identity file\n"
            "  -p, --passphrase                 encrypt with a passphrase (scrypt)\n"
            "  -a, --armor                      PEM-armored (text) output\n"
            "  -o, --output FILE                write to FILE (atomically)\n\n"
            "Environment: M3AGE_PASSPHRASE (passphrase for -p without a terminal),\n"
            "M3AGE_THREADS (worker threads), M3AGE_SCRYPT_WORK_FACTOR (log2 N for -p, 1 to 22).\n");
}

int
cmd_encrypt(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"recipient", required_argument, NULL, 'r'},
        {"recipients-file", required_argument, NULL, 'R'},
        {"identity", required_argument, NULL, 'i'},
        {"passphrase", no_argument, NULL, 'p'},
        {"armor", no_argument, NULL, 'a'},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct m3_encrypt_args a;
    int c, rc;

    memset(&a, 0, sizeof(a));
    optind = 1;
    while ((c = m3_getopt(argc, argv, "r:R:i:pao:h", longopts, "encrypt")) != -1) {
        switch (c) {
        case 'r':
            m3_list_push(&a.recipients, optarg);
            break;
        case 'R':
            m3_list_push(&a.recipients_files, optarg);
            break;
        case 'i':
            m3_list_push(&a.identity_files, optarg);
            break;
        case 'p':
            a.passphrase = true;
            break;
        case 'a':
            a.armor = true;
            break;
        case 'o':
            if (a.output != NULL) {
                m3_error("-o/--output given twice");
                rc = M3_EXIT_USAGE;
                goto out;
            }
            a.output = optarg;
            break;
        case 'h':
            encrypt_usage(stdout);
            rc = 0;
            goto out;
        default:
            rc = M3_EXIT_USAGE;
            goto out;
        }
    }
    if (argc - optind > 1) {
        m3_error("too many arguments: only one INPUT file can be encrypted");
        encrypt_usage(stderr);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    a.input = optind < argc ? argv[optind] : NULL;
    rc = m3_run_encrypt(&a);
out:
    m3_list_free(&a.recipients);
    m3_list_free(&a.recipients_files);
    m3_list_free(&a.identity_files);
    return rc;
}
