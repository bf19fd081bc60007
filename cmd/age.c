/* age.c: age compatibility: when called as `age` or with an option first, m3age takes the
 * flags of the reference age command and, like it, exits 1 on any failure. */
#include "cmd/cmd.h"
#include "cmd/crypt.h"

#include <getopt.h>
#include <string.h>

static void
age_usage(FILE *f)
{
    fprintf(
        f,
        "Usage:\n"
        "    age [--encrypt] (-r RECIPIENT | -R PATH)... [--armor] [-o OUTPUT] [INPUT]\n"
        "    age [--encrypt] --passphrase [--armor] [-o OUTPUT] [INPUT]\n"
        "    age --decrypt [-i PATH]... [-o OUTPUT] [INPUT]\n\n"
        "Options:\n"
        "    -e, --encrypt               Encrypt the input to the output. Default if omitted.\n"
        "    -d, --decrypt               Decrypt the input to the output.\n"
        "    -o, --output OUTPUT         Write the result to the file at path OUTPUT.\n"
        "    -a, --armor                 Encrypt to a PEM encoded format.\n"
        "    -p, --passphrase            Encrypt with a passphrase.\n"
        "    -r, --recipient RECIPIENT   Encrypt to the specified RECIPIENT. Can be repeated.\n"
        "    -R, --recipients-file PATH  Encrypt to recipients listed at PATH. Can be repeated.\n"
        "    -i, --identity PATH         Use the identity file at PATH. Can be repeated.\n"
        "    -j PLUGIN                   Use the default identity of age-plugin-PLUGIN.\n\n"
        "INPUT defaults to standard input, and OUTPUT defaults to standard output.\n"
        "If OUTPUT exists, it will be overwritten.\n\n"
        "This is m3age in age compatibility mode; see 'm3age --help' for its own commands.\n");
}

int
cmd_age_compat(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"encrypt", no_argument, NULL, 'e'},
        {"decrypt", no_argument, NULL, 'd'},
        {"recipient", required_argument, NULL, 'r'},
        {"recipients-file", required_argument, NULL, 'R'},
        {"identity", required_argument, NULL, 'i'},
        {"armor", no_argument, NULL, 'a'},
        {"passphrase", no_argument, NULL, 'p'},
        {"output", required_argument, NULL, 'o'},
        {"plugin", required_argument, NULL, 'j'},
        {"version", no_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct m3_encrypt_args ea;
    struct m3_decrypt_args da;
    bool encrypt = false, decrypt = false;
    int c, rc = 1;

    memset(&ea, 0, sizeof(ea));
    memset(&da, 0, sizeof(da));
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "edr:R:i:apo:j:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'e':
            encrypt = true;
            break;
        case 'd':
            decrypt = true;
            break;
        case 'r':
            m3_list_push(&ea.recipients, optarg);
            break;
        case 'R':
            m3_list_push(&ea.recipients_files, optarg);
            break;
        case 'i':
            m3_list_push(&ea.identity_files, optarg);
            m3_list_push(&da.identity_files, optarg);
            break;
        case 'a':
            ea.armor = true;
            break;
        case 'p':
            ea.passphrase = true;
            break;
        case 'o':
            ea.output = da.output = optarg;
            break;
        case 'j':
            m3_list_push(&ea.plugins, optarg);
            m3_list_push(&da.plugins, optarg);
            break;
        case 'V':
            printf("v1.1.1-m3age-%s\n", M3AGE_VERSION);
            rc = 0;
            goto out;
        case 'h':
            age_usage(stdout);
            rc = 0;
            goto out;
        default:
            /* `m3age -x`: a typo'd letter that age does not know either is more likely meant
             * for m3age than for age; neither usage is the right answer, both hints are. */
            if (strcmp(m3_progname, "age") != 0 && optopt != 0 &&
                strchr("edrRiapojhV", optopt) == NULL) {
                m3_error("unknown flag '%s'", argv[optind - 1]);
                m3_hint("'m3age --help' lists m3age's commands; 'm3age -h' shows the age "
                        "flags it takes when called with a flag first");
                rc = M3_EXIT_USAGE;
                goto out;
            }
            m3_error("unknown or incomplete flag '%s'", argv[optind - 1]);
            age_usage(stderr);
            goto out;
        }
    }
    if (encrypt && decrypt) {
        m3_error("-e/--encrypt can't be used with -d/--decrypt");
        goto out;
    }
    if (argc - optind > 1) {
        m3_error("too many INPUT arguments: %s", argv[optind + 1]);
        goto out;
    }
    ea.input = da.input = optind < argc ? argv[optind] : NULL;
    if (decrypt) {
        if (ea.recipients.n || ea.recipients_files.n) {
            m3_error("-r/--recipient and -R/--recipients-file can't be used with -d/--decrypt");
            goto out;
        }
        if (ea.armor) {
            m3_error("-a/--armor can't be used with -d/--decrypt; armored input is detected");
            goto out;
        }
        if (ea.passphrase) {
            m3_error("-p/--passphrase can't be used with -d/--decrypt; it is detected");
            goto out;
        }
        rc = m3_run_decrypt(&da) ? 1 : 0;
    } else {
        rc = m3_run_encrypt(&ea) ? 1 : 0;
    }
out:
    m3_list_free(&ea.recipients);
    m3_list_free(&ea.recipients_files);
    m3_list_free(&ea.identity_files);
    m3_list_free(&da.identity_files);
    m3_list_free(&da.plugins);
    m3_list_free(&ea.plugins);
    return rc;
}
