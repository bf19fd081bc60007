/* affected.c: `m3age affected [REV]`: the hosts whose deployed secrets a change touches. */
#include "cmd/cmd.h"
#include "cmd/report.h"
#include "secrets/affected.h"
#include "secrets/interrupt.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void
affected_usage(FILE *f)
{
    fprintf(f, "Usage: m3age affected [REV] [--json | --format text|json|matrix] [--rules FILE]\n"
               "                      [--nix | --no-nix]\n\n"
               "List the hosts whose deployed secrets differ between REV and the working tree,\n"
               "with why: a secret file a host uses was re-encrypted (its content or its\n"
               "recipients, from the headers: no key needed), its registry entry was added,\n"
               "removed or changed, or a host module that defines age.secrets changed.\n"
               "Default REV: the merge base with the branch's upstream, else HEAD~1.\n\n"
               "  --json           {\"rev\", \"base\", \"hosts\": [{\"host\", \"reasons\"}], "
               "\"secrets\"}\n"
               "  --format matrix  {\"host\":[...]}: a GitHub/Gitea Actions strategy.matrix\n"
               "  --rules FILE     the registry (default: $RULES, ./secrets.nix or a parent's)\n"
               "  --nix, --no-nix  evaluate the registry with nix-instantiate, or never\n"
               "                   (default: only when m3age cannot evaluate it itself);\n"
               "                   --nix also takes the hosts' secrets from the flake's\n"
               "                   nixosConfigurations as Nix evaluates them\n\n"
               "  for h in $(m3age affected --format matrix | jq -r '.host[]'); do\n"
               "    m3age check --host \"$h\"; done\n\n"
               "Exit status: 0 the list (empty when nothing is touched), 2 error.\n");
}

static void
print_text(const struct secrets_affected *a)
{
    for (size_t i = 0; i < a->nhosts; i++) {
        printf("%s\n", m3_shown(a->hosts[i].name));
        for (size_t j = 0; j < a->hosts[i].nreasons; j++)
            printf("  %s\n", m3_shown(a->hosts[i].reasons[j]));
    }
    if (a->nhosts == 0)
        printf("no host affected");
    else
        printf("%zu of %zu host%s affected", a->nhosts, a->nhosts_seen,
               a->nhosts_seen == 1 ? "" : "s");
    printf(" (compared with %.12s, %s)\n", a->rev, m3_shown(a->rev_desc));
}

static void
print_json(const struct secrets_affected *a)
{
    printf("{\n  \"version\": 1,\n  \"rev\": ");
    m3_json_str(stdout, a->rev);
    printf(",\n  \"base\": ");
    m3_json_str(stdout, a->rev_desc);
    printf(",\n  \"hosts\": [");
    for (size_t i = 0; i < a->nhosts; i++) {
        printf("%s\n    {\"host\": ", i ? "," : "");
        m3_json_str(stdout, a->hosts[i].name);
        printf(", \"reasons\": [");
        for (size_t j = 0; j < a->hosts[i].nreasons; j++) {
            printf("%s", j ? ", " : "");
            m3_json_str(stdout, a->hosts[i].reasons[j]);
        }
        printf("]}");
    }
    printf("%s],\n  \"secrets\": [", a->nhosts ? "\n  " : "");
    for (size_t i = 0; i < a->nchanged; i++) {
        printf("%s", i ? ", " : "");
        m3_json_str(stdout, a->changed[i]);
    }
    printf("]\n}\n");
}

static void
print_matrix(const struct secrets_affected *a)
{
    printf("{\"host\":[");
    for (size_t i = 0; i < a->nhosts; i++) {
        printf("%s", i ? "," : "");
        m3_json_str(stdout, a->hosts[i].name);
    }
    printf("]}\n");
}

int
cmd_affected(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"format", required_argument, NULL, 'f'},
        {"rules", required_argument, NULL, 'R'},
        {"nix", no_argument, &m3_nix_mode, M3_NIX_ALWAYS},
        {"no-nix", no_argument, &m3_nix_mode, M3_NIX_NEVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct secrets_affected_opts o = {0};
    struct secrets_affected *a = NULL;
    struct m3_diag d = {0};
    const char *rules = NULL, *format = NULL;
    char *registry = NULL;
    int c, sig, rc = M3_EXIT_USAGE;

    optind = 1;
    while ((c = m3_getopt(argc, argv, "h", longopts, "affected")) != -1) {
        switch (c) {
        case 'j':
        case 'f':
            if (format != NULL) {
                m3_error("--json and --format given twice");
                goto out;
            }
            format = c == 'j' ? "json" : optarg;
            break;
        case 'R':
            rules = optarg;
            break;
        case 'h':
            affected_usage(stdout);
            rc = M3_EXIT_OK;
            goto out;
        case 0: /* --nix, --no-nix: m3_nix_mode set */
            break;
        default: /* m3_getopt said what was wrong */
            goto out;
        }
    }
    if (format == NULL)
        format = "text";
    if (strcmp(format, "text") != 0 && strcmp(format, "json") != 0 &&
        strcmp(format, "matrix") != 0) {
        m3_error("--format %s: unknown format (text, json or matrix)", m3_shown(format));
        goto out;
    }
    if (optind < argc)
        o.rev = argv[optind++];
    if (optind < argc) {
        m3_error("unexpected argument '%s'", m3_shown(argv[optind]));
        affected_usage(stderr);
        goto out;
    }
    m3_nix_hosts_install();
    if ((registry = m3_find_registry(rules)) == NULL)
        goto out;
    o.registry = registry;
    o.tmp_base = getenv("TMPDIR");
    if ((rc = secrets_affected_run(&o, &a, &d)) != 0) {
        m3_diag_error(rc, &d);
        if (rc == M3_ECANCELED && (sig = secrets_interrupted()) != 0) {
            /* its copy of the revision removed: now end as the signal would have */
            free(registry);
            signal(sig, SIG_DFL);
            raise(sig);
        }
        if (rc == M3_ENOTFOUND && o.rev == NULL)
            m3_hint("name the revision to compare with: m3age affected REV (e.g. origin/main)");
        rc = M3_EXIT_USAGE;
        goto out;
    }
    if (strcmp(format, "json") == 0)
        print_json(a);
    else if (strcmp(format, "matrix") == 0)
        print_matrix(a);
    else
        print_text(a);
    rc = M3_EXIT_OK;
out:
    secrets_affected_free(a);
    free(registry);
    return rc;
}
