/* audit.c: `m3age audit`: every finding about the repository, before deployment. */
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "cmd/opts.h"
#include "cmd/report.h"
#include "keys/keys.h"
#include "registry/registry.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
audit_usage(FILE *f)
{
    fprintf(f, "Usage: m3age audit [--host HOST]... [--json] [--require-pq] [-i IDENTITY]...\n"
               "                   [--rules FILE]\n\n"
               "Check the registry, the age files' headers and the hosts' modules for what\n"
               "would break or leak at deployment: missing or stray files, recipient drift,\n"
               "hosts using secrets not encrypted to their key, weak or duplicate keys,\n"
               "plaintext in the secrets folder. No private key is needed; with -i every\n"
               "file an identity opens has its MAC and payload verified.\n\n"
               "  --host HOST      only this host and the secrets it uses (repeatable)\n"
               "  --json           machine-readable output (schema in m3age-audit(1))\n"
               "  --require-pq     every secret that is not post-quantum protected is an error\n"
               "                   (M3A028): for public repositories\n"
               "  -i, --identity FILE  verify with this identity file (repeatable)\n"
               "  --rules FILE     the registry (default: $RULES, ./secrets.nix or a parent's)\n"
               "  --color[=WHEN]   always, never or auto (default: auto: a terminal, NO_COLOR\n"
               "                   unset or empty, TERM not dumb)\n"
               "  --nix, --no-nix  evaluate the registry with nix-instantiate, or never\n"
               "                   (default: only when m3age cannot evaluate it itself);\n"
               "                   --nix also takes the hosts' secrets from the flake's\n"
               "                   nixosConfigurations as Nix evaluates them\n\n"
               "Exit status: 0 no error finding, 1 at least one, 2 the audit could not run.\n");
}

static void
json_summary(FILE *f, const struct secrets_audit *a)
{
    fprintf(f,
            "  \"secrets\": %zu,\n  \"hosts\": %zu,\n  \"errors\": %zu,\n  \"warnings\": %zu,\n"
            "  \"notes\": %zu,\n",
            a->nsecrets, a->nhosts, a->nerrors, a->nwarnings, a->ninfos);
}

/* sev_name: the severity as the reports name it: "note" where the secrets layer says
 * "info", so that the summary's "notes", the lines and the JSON use one word. */
static const char *
sev_name(enum secrets_severity s)
{
    return s == SECRETS_INFO ? "note" : secrets_severity_name(s);
}

/* under: path relative to root when it is inside it (a pointer into path), else path. */
static const char *
under(const char *path, const char *root)
{
    size_t n = root != NULL ? strlen(root) : 0;

    if (n > 1 && path[0] == '/' && strncmp(path, root, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

void
m3_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '\t')
            fputs("\\t", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

void
m3_report_json(FILE *f, const struct secrets_audit *a, const char *registry)
{
    char *root = NULL;

    /* Paths relative to the repository root: a CI artifact must not depend on where the
     * checkout lives. */
    if (reg_repo_root(registry, &root, NULL) != 0)
        root = NULL;
    fprintf(f, "{\n  \"version\": 2,\n  \"registry\": ");
    m3_json_str(f, under(registry, root));
    fprintf(f, ",\n");
    json_summary(f, a);
    fprintf(f, "  \"findings\": [");
    for (size_t i = 0; i < a->n; i++) {
        const struct secrets_finding *x = &a->v[i];
        fprintf(f, "%s\n    {\"code\": \"%s\", \"severity\": \"%s\", \"file\": ", i ? "," : "",
                x->code, sev_name(x->severity));
        m3_json_str(f, under(x->file, root));
        if (x->line > 0)
            fprintf(f, ", \"line\": %u", x->line);
        else
            fprintf(f, ", \"line\": null");
        fprintf(f, ", \"host\": ");
        if (x->host != NULL)
            m3_json_str(f, x->host);
        else
            fputs("null", f);
        fprintf(f, ", \"message\": ");
        m3_json_str(f, x->message);
        fputc('}', f);
    }
    /* per secret: whether its file is post-quantum protected (null: no readable header) */
    fprintf(f, "%s],\n  \"post_quantum\": [", a->n ? "\n  " : "");
    for (size_t i = 0; i < a->npq; i++) {
        fprintf(f, "%s\n    {\"file\": ", i ? "," : "");
        m3_json_str(f, a->pq[i].file);
        fprintf(f, ", \"protected\": %s}",
                a->pq[i].state == SECRETS_PQ_YES  ? "true"
                : a->pq[i].state == SECRETS_PQ_NO ? "false"
                                                  : "null");
    }
    /* which host uses which secret, and the module that says so */
    fprintf(f, "%s],\n  \"uses\": [", a->npq ? "\n  " : "");
    size_t nu = 0;
    for (size_t i = 0; i < a->nhosts; i++)
        for (size_t j = 0; j < a->hosts[i].nfiles; j++, nu++) {
            fprintf(f, "%s\n    {\"file\": ", nu ? "," : "");
            m3_json_str(f, under(a->hosts[i].files[j], root));
            fprintf(f, ", \"host\": ");
            m3_json_str(f, a->hosts[i].name);
            fprintf(f, ", \"module\": ");
            if (a->hosts[i].modules[j][0] != '\0')
                m3_json_str(f, under(a->hosts[i].modules[j], root));
            else
                fputs("null", f); /* Nix's answer without the module system: the host only */
            if (a->hosts[i].lines[j] > 0)
                fprintf(f, ", \"line\": %u}", a->hosts[i].lines[j]);
            else
                fprintf(f, ", \"line\": null}");
        }
    /* per examined host: where its answer came from (--nix: Nix, where it could) */
    fprintf(f, "%s],\n  \"hosts_source\": {", nu ? "\n  " : "");
    for (size_t i = 0; i < a->nhosts; i++) {
        fprintf(f, "%s\n    ", i ? "," : "");
        m3_json_str(f, a->hosts[i].name);
        fprintf(f, ": \"%s\"", a->hosts[i].from_nix ? "nix" : "static");
    }
    fprintf(f, "%s}\n}\n", a->nhosts ? "\n  " : "");
    free(root);
}

static void
json_list(FILE *f, const char *const *v, size_t n)
{
    fputc('[', f);
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", f);
        m3_json_str(f, v[i]);
    }
    fputc(']', f);
}

void
m3_plan_json_begin(struct m3_plan_json *j, FILE *f, const char *registry)
{
    j->f = f;
    j->n = 0;
    if (reg_repo_root(registry, &j->root, NULL) != 0)
        j->root = NULL;
    fprintf(f, "{\n  \"version\": 1,\n  \"registry\": ");
    m3_json_str(f, under(registry, j->root));
    fprintf(f, ",\n  \"secrets\": [");
}

void
m3_plan_json_item(struct m3_plan_json *j, const char *file, const char *state,
                  const char *const *add, size_t nadd, const char *const *remove, size_t nremove,
                  const char *const *kept, size_t nkept, const char *error)
{
    fprintf(j->f, "%s\n    {\"file\": ", j->n++ ? "," : "");
    m3_json_str(j->f, under(file, j->root));
    fprintf(j->f, ", \"state\": \"%s\", \"add\": ", state);
    json_list(j->f, add, nadd);
    fprintf(j->f, ", \"remove\": ");
    json_list(j->f, remove, nremove);
    fprintf(j->f, ", \"kept\": ");
    json_list(j->f, kept, nkept);
    fprintf(j->f, ", \"error\": ");
    if (error != NULL)
        m3_json_str(j->f, error);
    else
        fputs("null", j->f);
    fputc('}', j->f);
}

void
m3_plan_json_end(struct m3_plan_json *j, size_t nchange)
{
    fprintf(j->f, "%s],\n  \"changes\": %zu\n}\n", j->n ? "\n  " : "", nchange);
    free(j->root);
    j->root = NULL;
}

static const char *
sev_color(enum secrets_severity s)
{
    return s == SECRETS_ERROR ? "\033[1;31m" : s == SECRETS_WARNING ? "\033[1;33m" : "\033[36m";
}

void
m3_report_human(FILE *f, const struct secrets_audit *a, bool color)
{
    const char *bold = color ? "\033[1m" : "", *reset = color ? "\033[0m" : "";
    char cwd[PATH_MAX];

    if (getcwd(cwd, sizeof(cwd)) == NULL)
        cwd[0] = '\0';
    for (size_t i = 0; i < a->n; i++) {
        const struct secrets_finding *x = &a->v[i];
        if (i == 0 || strcmp(x->file, a->v[i - 1].file) != 0)
            fprintf(f, "%s%s%s%s\n", i ? "\n" : "", bold, m3_shown(under(x->file, cwd)), reset);
        fprintf(f, "  %s%-7s%s %s  ", color ? sev_color(x->severity) : "", sev_name(x->severity),
                reset, x->code);
        if (x->line > 0)
            fprintf(f, "line %u: ", x->line);
        fprintf(f, "%s\n", m3_shown(x->message));
    }
    if (a->n > 0)
        fputc('\n', f);
    fprintf(f, "%s%zu error%s, %zu warning%s, %zu note%s%s (%zu secret%s, %zu host%s)\n",
            a->nerrors && color ? "\033[1;31m" : "", a->nerrors, a->nerrors == 1 ? "" : "s",
            a->nwarnings, a->nwarnings == 1 ? "" : "s", a->ninfos, a->ninfos == 1 ? "" : "s",
            a->nerrors && color ? reset : "", a->nsecrets, a->nsecrets == 1 ? "" : "s", a->nhosts,
            a->nhosts == 1 ? "" : "s");
}

/* print_pq: which secrets are post-quantum protected, one line (names of those that are not
 * listed). */
static void
print_pq(FILE *f, const struct secrets_audit *a)
{
    size_t unknown = 0;

    if (a->npq == 0)
        return;
    fprintf(f, "post-quantum protected: %zu of %zu secret%s", a->npq_yes, a->npq,
            a->npq == 1 ? "" : "s");
    if (a->npq_yes < a->npq) {
        bool first = true;
        fputs(" (not:", f);
        for (size_t i = 0; i < a->npq; i++) {
            if (a->pq[i].state == SECRETS_PQ_NO) {
                fprintf(f, "%s %s", first ? "" : ",", m3_shown(a->pq[i].file));
                first = false;
            }
            unknown += a->pq[i].state == SECRETS_PQ_UNKNOWN;
        }
        if (unknown > 0)
            fprintf(f, "%s %zu unreadable", first ? "" : ";", unknown);
        fputc(')', f);
    }
    fputc('\n', f);
}

char *
m3_find_registry(const char *rules_opt)
{
    char cwd[PATH_MAX], *path = NULL;
    struct m3_diag d = {0};
    int rc;

    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        m3_error("cannot read the working directory");
        return NULL;
    }
    if ((rc = reg_locate(rules_opt, getenv("RULES"), cwd, &path, NULL, &d)) != 0) {
        m3_diag_error(rc, &d);  /* it names what it looked for */
        if (rc == M3_ENOTFOUND) /* not when the layout said what to do */
            m3_hint("run it in the repository, or name the registry with --rules FILE");
        return NULL;
    }
    /* reg_locate returns RULES as given: say where a missing one came from. */
    if (rules_opt == NULL && access(path, F_OK) != 0 && getenv("RULES") != NULL) {
        m3_error("%s: %s", path, strerror(errno));
        m3_hint("the registry was named by the environment: RULES=%s (unset it to look for "
                "secrets.nix)",
                getenv("RULES"));
        free(path);
        return NULL;
    }
    /* The working directory's own registry is named as the user would: "secrets.nix", as
     * the registry and hosts commands name it, not by an absolute path. */
    size_t n = strlen(cwd);
    if (strncmp(path, cwd, n) == 0 && strcmp(path + n, "/secrets.nix") == 0)
        memmove(path, path + n + 1, strlen(path + n + 1) + 1);
    return path;
}

int
cmd_audit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"color", optional_argument, NULL, 'C'},
        {"host", required_argument, NULL, 'H'},
        {"json", no_argument, NULL, 'j'},
        {"identity", required_argument, NULL, 'i'},
        {"rules", required_argument, NULL, 'R'},
        {"require-pq", no_argument, NULL, 'Q'},
        M3_OPTS_NIX_HELP,
        {NULL, 0, NULL, 0},
    };
    const char **hosts = calloc((size_t)argc + 1, sizeof(char *));
    const char **idfiles = calloc((size_t)argc + 1, sizeof(char *));
    struct keys_identities ids = {0};
    struct secrets_audit_opts o = {0};
    struct secrets_audit *a = NULL;
    struct m3_diag d = {0};
    const char *rules = NULL;
    char *registry = NULL;
    bool json = false;
    int c, rc = M3_EXIT_USAGE;

    if (hosts == NULL || idfiles == NULL)
        goto out;
    optind = 1;
    while ((c = m3_getopt(argc, argv, "hi:", longopts, "audit")) != -1) {
        switch (c) {
        case 'H':
            hosts[o.nhosts++] = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 'Q':
            o.require_pq = true;
            break;
        case 'i':
            idfiles[o.nidentity_files++] = optarg;
            break;
        case 'R':
            rules = optarg;
            break;
        default:
            if (m3_opt_end(c, audit_usage, &rc))
                goto out;
            break;
        }
    }
    if (optind < argc) {
        m3_error("unexpected argument '%s'", argv[optind]);
        audit_usage(stderr);
        goto out;
    }
    m3_nix_hosts_install();
    if ((registry = m3_find_registry(rules)) == NULL)
        goto out;
    for (size_t i = 0; i < o.nidentity_files; i++)
        if (keys_identities_load_file(&ids, idfiles[i], m3_passphrase_cb, NULL, &d) != 0) {
            m3_error_diag(idfiles[i], d.code, &d);
            goto out;
        }
    o.registry = registry;
    o.hosts = hosts;
    o.ids = ids.v;
    o.nids = ids.n;
    o.identity_files = idfiles;
    o.jobs = m3_threads();
    if ((rc = secrets_audit_run(&o, &a, &d)) != 0) {
        m3_diag_error(rc, &d);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    if (json)
        m3_report_json(stdout, a, registry);
    else {
        m3_report_human(stdout, a, m3_use_color(stdout));
        print_pq(stdout, a);
    }
    /* "0 errors" over no host at all reads as a pass; say that the host checks did not run. */
    if (a->nhosts == 0 && o.nhosts == 0)
        m3_warn("no host found (no hosts/HOST/ folder beside %s or at the repository root): "
                "nothing was checked against a host",
                registry);
    rc = a->nerrors > 0 ? M3_EXIT_NEGATIVE : M3_EXIT_OK;
out:
    secrets_audit_free(a);
    keys_identities_clear(&ids);
    free(registry);
    free(hosts);
    free(idfiles);
    return rc;
}
