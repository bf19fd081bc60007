/* decrypt.c: `m3age decrypt`. */
#include "cmd/cmd.h"
#include "cmd/crypt.h"
#include "cmd/repo.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

/* registry_defaults: as agenix -d, a secret named in the registry is decrypted with the
 * default identities (~/.ssh/id_ed25519, ~/.ssh/id_rsa) when no -i is given. A registry that
 * is found but does not load is the cause to report (-1), not a silent "no identity"; no
 * registry at all is fine (decrypt is age's command too). */
static int
registry_defaults(struct m3_decrypt_args *a, const char *rules)
{
    struct secrets_repo *r = NULL;
    struct secrets_target t;
    struct m3_diag d;
    const char *env = getenv("RULES");
    int rc;

    if (a->identity_files.n > 0 || a->input == NULL || strcmp(a->input, "-") == 0)
        return 0;
    m3_diag_clear(&d);
    if ((rc = secrets_repo_open(&r, rules, env, &d)) != 0) {
        if (rc == M3_ENOTFOUND && rules == NULL && (env == NULL || *env == '\0'))
            return 0;
        m3_error("%s", m3_cwd_relative(d.msg[0] ? d.msg : m3_strerror(rc)));
        m3_diag_hint_print(&d);
        return -1;
    }
    if (secrets_repo_find(r, a->input, &t, NULL) == 0) {
        if (t.via_dir)
            m3_info("using the rule '%s' of %s", t.entry->name, r->rules);
        m3_default_identity_paths(&a->identity_files);
        a->defaults_apply = true;
        secrets_target_clear(&t);
    }
    secrets_repo_free(r);
    return 0;
}

static void
decrypt_usage(FILE *f)
{
    fprintf(f, "Usage: m3age decrypt [-i IDENTITY_FILE]... [-o OUTPUT] [INPUT]\n\n"
               "Decrypt INPUT (default: standard input; binary or armored) to OUTPUT\n"
               "(default: standard output). A passphrase-encrypted file asks for its\n"
               "passphrase on the terminal (or takes M3AGE_PASSPHRASE).\n\n"
               "  -i, --identity FILE   an age identity file (AGE-PLUGIN-NAME-1... lines go\n"
               "                        through age-plugin-NAME) or ssh private key (repeatable)\n"
               "  -o, --output FILE     write to FILE (atomically; nothing is left on failure)\n"
               "  --rules FILE          the registry: a secret it names is decrypted with\n"
               "                        ~/.ssh/id_ed25519 and ~/.ssh/id_rsa when no -i is given\n\n"
               "Exit status: 0 decrypted, 1 the file could not be decrypted (no identity\n"
               "matched, damaged), 2 usage or operational error (no identity, a key or input\n"
               "file that cannot be read, a registry that does not load).\n");
}

int
cmd_decrypt(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"identity", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'o'},
        {"rules", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct m3_decrypt_args a;
    const char *rules = NULL;
    int c, rc;

    memset(&a, 0, sizeof(a));
    optind = 1;
    while ((c = m3_getopt(argc, argv, "i:o:h", longopts, "decrypt")) != -1) {
        switch (c) {
        case 'i':
            m3_list_push(&a.identity_files, optarg);
            break;
        case 'o':
            if (a.output != NULL) {
                m3_error("-o/--output given twice");
                rc = M3_EXIT_USAGE;
                goto out;
            }
            a.output = optarg;
            break;
        case 'R':
            rules = optarg;
            break;
        case 'h':
            decrypt_usage(stdout);
            rc = 0;
            goto out;
        default:
            rc = M3_EXIT_USAGE;
            goto out;
        }
    }
    if (argc - optind > 1) {
        m3_error("too many arguments: only one INPUT file can be decrypted");
        rc = M3_EXIT_USAGE;
        goto out;
    }
    a.input = optind < argc ? argv[optind] : NULL;
    a.native = true;
    a.rules = rules;
    if (registry_defaults(&a, rules) != 0) {
        rc = M3_EXIT_USAGE;
        goto out;
    }
    rc = m3_run_decrypt(&a);
out:
    m3_list_free(&a.identity_files);
    return rc;
}
