/* check.c: `m3age check --host H`: the pre-deploy gate for one host. */
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "cmd/opts.h"
#include "cmd/report.h"
#include "keys/keys.h"
#include "libage/internal.h"
#include "libage/ssh.h"
#include "secrets/hostkeys.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static void
check_usage(FILE *f)
{
    fprintf(f, "Usage: m3age check --host HOST [--key FILE | --scan [--timeout SECONDS]] [--json]\n"
               "                   [--rules FILE]\n\n"
               "The pre-deploy gate for one host: its registry key is the key given (a public\n"
               "key file, or the host's private key file), and every secret its modules use\n"
               "exists, parses, is encrypted to that key and carries no stale recipient.\n\n"
               "  --host HOST   the host (a folder under hosts/)\n"
               "  --key FILE    the host's real key: ssh_host_ed25519_key.pub, or the private key\n"
               "                (default: hosts/HOST/ssh_host_ed25519_key.pub when it exists)\n"
               "  --scan        read the key from the host's sshd (an SSH key exchange, no login;\n"
               "                the address and port from ~/.ssh/config as `m3age hosts --scan`)\n"
               "  --timeout S   give up on an unreachable sshd after S seconds (default 10)\n"
               "  --json        the audit document of m3age-audit(1), for this host\n"
               "  --rules FILE  the registry (default: $RULES, ./secrets.nix or a parent's)\n"
               "  --color[=WHEN]  always, never or auto (default: auto)\n"
               "  --nix, --no-nix\n"
               "                evaluate the registry with nix-instantiate, or never\n"
               "                (default: only when m3age cannot evaluate it itself);\n"
               "                --nix also takes the host's secrets from the flake's\n"
               "                nixosConfigurations as Nix evaluates them\n\n"
               "  m3age check --host m3-aether --scan &&\n"
               "    nixos-rebuild switch --flake .#m3-aether --target-host m3-aether\n\n"
               "Exit status: 0 ready to deploy, 1 not ready, 2 the check could not run.\n");
}

/* key_text: the recipient text of FILE: a public key line, an age1 recipient, or the public
 * half of a private key file (SSH, PEM or age). malloc'd, or NULL after printing an error. */
static char *
key_text(const char *path)
{
    struct keys_identities ids = {0};
    struct age_recipient *r = NULL;
    struct m3_diag d = {0};
    char *buf = NULL, *out = NULL, *line, *save = NULL, *copy = NULL;
    const unsigned char *wire;
    size_t len, wlen;

    if (keys_read_file(path, 1u << 20, &buf, &len, &d) != 0) {
        m3_error_diag(path, d.code, &d);
        goto out;
    }
    if ((copy = age_secret_strdup(buf)) == NULL)
        goto out;
    for (line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        while (*line == ' ' || *line == '\t')
            line++;
        if (*line == '\0' || *line == '#')
            continue;
        if (keys_recipient_parse(&r, line, NULL) == 0)
            goto done;
        break;
    }
    if (keys_identities_parse_buf(&ids, buf, len, path, m3_passphrase_cb, NULL, &d) != 0 ||
        ids.n == 0) {
        m3_error_diag(path, d.code ? d.code : M3_EINVAL, &d);
        m3_hint("give the host's public key (ssh_host_ed25519_key.pub) or its private key");
        goto out;
    }
    if (keys_identity_ssh_wire(ids.v[0], &wire, &wlen) == 0) {
        if (age_ssh_recipient_from_wire(&r, wire, wlen, &d) != 0) {
            m3_error_diag(path, d.code, &d);
            goto out;
        }
    } else if (ids.v[0]->ops->recipient == NULL ||
               ids.v[0]->ops->recipient(ids.v[0]->state, &r) != 0) {
        m3_error("%s: cannot derive a public key from this identity", path);
        goto out;
    }
done:
    if ((out = age_recipient_string(r)) == NULL)
        m3_error("%s: cannot encode the key", path);
out:
    age_recipient_free(r);
    keys_identities_clear(&ids);
    age_secret_free(buf);
    age_secret_free(copy);
    return out;
}

/* scan_key: the host key HOST's sshd presents (resolved through ~/.ssh/config as `m3age
 * hosts --scan` does), as a "TYPE BASE64" line; *source names where it came from. On error
 * prints one line and returns NULL. */
static char *
scan_key(const char *host, long timeout, char **source)
{
    struct hostkeys_scan_opts so = {0};
    struct hostkey k = {0};
    struct m3_diag d = {0};
    const char *home = getenv("HOME");
    char *config = NULL, *addr = NULL, *line = NULL;
    unsigned port = 22;
    int rc;

    if (home != NULL && home[0] != '\0' && asprintf(&config, "%s/.ssh/config", home) < 0) {
        m3_error("out of memory");
        return NULL;
    }
    so.config = config;
    so.timeout = timeout;
    if ((rc = hostkeys_resolve(host, &so, &addr, &port, &d)) != 0) {
        m3_diag_error(rc, &d);
        goto out;
    }
    if ((rc = hostkeys_scan(host, &so, &k, &d)) != 0) {
        m3_diag_error(rc, &d);
        goto out;
    }
    if (asprintf(source, "the scan of %s (%s port %u)", host, addr, port) < 0 ||
        (line = strdup(k.line)) == NULL) {
        m3_error("out of memory");
        free(line);
        line = NULL;
    }
out:
    hostkey_clear(&k);
    free(config);
    free(addr);
    return line;
}

static void
print_check(const struct secrets_audit *a, const char *host, const char *key, bool color)
{
    const struct secrets_audit_host *h = a->nhosts ? &a->hosts[0] : NULL;
    const char *red = color ? "\033[1;31m" : "", *green = color ? "\033[1;32m" : "",
               *yellow = color ? "\033[1;33m" : "", *reset = color ? "\033[0m" : "";
    bool key_bad = false, stale = false;
    size_t failing = 0; /* files (and other subjects) with an error: what the summary counts */

    printf("%s: %zu secret%s used by its modules%s\n", m3_shown(host), h ? h->nfiles : 0,
           h && h->nfiles == 1 ? "" : "s", h && h->from_nix ? " (as Nix evaluates them)" : "");
    for (size_t i = 0; i < a->n; i++)
        key_bad |= strcmp(a->v[i].code, "M3A020") == 0 || strcmp(a->v[i].code, "M3A010") == 0;
    const char *src = h && h->key_source ? h->key_source : NULL;
    if (src == NULL)
        printf("  %-5s key: not compared (give --key FILE or --scan)\n", "-");
    else
        printf("  %s%-5s%s key: %s %s the registry's key for this host\n", key_bad ? red : green,
               key_bad ? "FAIL" : "ok", reset,
               strcmp(src, "--key") == 0 ? "the key given" : m3_shown(src),
               key_bad ? "is not" : "is");
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].code, "M3A020") == 0)
            printf("        %s (M3A020)\n", m3_shown(a->v[i].message));
    for (size_t j = 0; h != NULL && j < h->nfiles; j++) {
        bool shown = false, seen = false;
        for (size_t k = 0; k < j && !seen; k++)
            seen = strcmp(h->files[k], h->files[j]) == 0;
        if (seen)
            continue;
        /* One line per file: its first finding, with the codes of the others (a stale file
         * is M3A006, M3A007 and M3A009 at once: one cause, one line). */
        for (size_t i = 0; i < a->n; i++) {
            const struct secrets_finding *x = &a->v[i];
            if (strcmp(x->file, h->files[j]) != 0 || x->severity == SECRETS_INFO)
                continue;
            bool err = x->severity == SECRETS_ERROR;
            stale |= strcmp(x->code, "M3A006") == 0 || strcmp(x->code, "M3A007") == 0 ||
                     strcmp(x->code, "M3A009") == 0;
            if (shown) {
                printf(", %s", x->code);
                continue;
            }
            printf("  %s%-5s%s %s: %s (%s", err ? red : yellow, err ? "FAIL" : "warn", reset,
                   m3_shown(x->file), m3_shown(x->message), x->code);
            failing += err;
            shown = true;
        }
        if (shown)
            printf(")\n");
        if (!shown && h->lines[j] == 0 && h->modules[j][0] == '\0') /* Nix: no module known */
            printf("  %s%-5s%s %s\n", green, "ok", reset, m3_shown(h->files[j]));
        else if (!shown && h->lines[j] == 0) /* Nix's answer (--nix): the module, no line */
            printf("  %s%-5s%s %s  (%s)\n", green, "ok", reset, m3_shown(h->files[j]),
                   m3_shown(h->modules[j]));
        else if (!shown)
            printf("  %s%-5s%s %s  (%s:%u)\n", green, "ok", reset, m3_shown(h->files[j]),
                   m3_shown(h->modules[j]), h->lines[j]);
    }
    /* findings that are not about one of the host's files (its modules, the registry) */
    for (size_t i = 0; i < a->n; i++) {
        const struct secrets_finding *x = &a->v[i];
        bool own = false;
        for (size_t j = 0; h != NULL && j < h->nfiles && !own; j++)
            own = strcmp(x->file, h->files[j]) == 0;
        if (own || x->severity == SECRETS_INFO || strcmp(x->code, "M3A020") == 0)
            continue;
        bool err = x->severity == SECRETS_ERROR;
        char at[16] = ""; /* ":LINE", none for a finding about a whole file */
        if (x->line > 0)
            snprintf(at, sizeof(at), ":%u", x->line);
        printf("  %s%-5s%s %s%s: %s (%s)\n", err ? red : yellow, err ? "FAIL" : "warn", reset,
               m3_shown(x->file), at, m3_shown(x->message), x->code);
        failing += err;
    }
    for (size_t i = 0; i < a->n; i++)
        failing += strcmp(a->v[i].code, "M3A020") == 0 && a->v[i].severity == SECRETS_ERROR;
    if (failing == 0 && a->nerrors > 0)
        failing = a->nerrors;
    if (a->nerrors == 0)
        printf("%s: %sready%s (%zu secret%s)\n", m3_shown(host), green, reset, h ? h->nfiles : 0,
               h && h->nfiles == 1 ? "" : "s");
    else
        printf("%s: %snot ready%s: %zu error%s\n", m3_shown(host), red, reset, failing,
               failing == 1 ? "" : "s");
    if (stale)
        m3_hint("secrets are not encrypted to the registry's recipients: run 'm3age rekey "
                "--host %s'",
                host);
}

int
cmd_check(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"color", optional_argument, NULL, 'C'},
        {"host", required_argument, NULL, 'H'},
        {"key", required_argument, NULL, 'k'},
        {"scan", no_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {"rules", required_argument, NULL, 'R'},
        M3_OPTS_NIX_HELP,
        {NULL, 0, NULL, 0},
    };
    struct secrets_audit_opts o = {0};
    struct secrets_audit *a = NULL;
    struct m3_diag d = {0};
    const char *host = NULL, *keyfile = NULL, *rules = NULL;
    char *registry = NULL, *key = NULL, *source = NULL, *end;
    bool json = false, scan = false;
    long timeout = 0;
    int c, rc = M3_EXIT_USAGE;

    optind = 1;
    while ((c = m3_getopt(argc, argv, "h", longopts, "check")) != -1) {
        switch (c) {
        case 'H':
            if (host != NULL) {
                m3_error("--host given twice (check one host at a time; audit takes several)");
                goto out;
            }
            host = optarg;
            break;
        case 'k':
            keyfile = optarg;
            break;
        case 's':
            scan = true;
            break;
        case 't':
            timeout = strtol(optarg, &end, 10);
            if (*end != '\0' || timeout < 1 || timeout > 3600) {
                m3_error("--timeout takes seconds from 1 to 3600, not '%s'", optarg);
                goto out;
            }
            break;
        case 'j':
            json = true;
            break;
        case 'R':
            rules = optarg;
            break;
        default:
            if (m3_opt_end(c, check_usage, &rc))
                goto out;
            break;
        }
    }
    if (optind < argc) {
        m3_error("check: unexpected argument '%s'", argv[optind]);
        m3_hint("name the host with --host: 'm3age check --host %s'", argv[optind]);
        goto out;
    }
    if (host == NULL || (scan && keyfile != NULL)) {
        m3_error("%s",
                 host == NULL ? "--host HOST is required" : "--key and --scan exclude each other");
        check_usage(stderr);
        goto out;
    }
    if (timeout != 0 && !scan) {
        m3_error("--timeout is for --scan");
        goto out;
    }
    m3_nix_hosts_install();
    if ((registry = m3_find_registry(rules)) == NULL)
        goto out;
    if (keyfile != NULL && (key = key_text(keyfile)) == NULL)
        goto out;
    if (scan && (key = scan_key(host, timeout, &source)) == NULL)
        goto out;
    o.registry = registry;
    o.hosts = &host;
    o.nhosts = 1;
    o.host_key = key;
    o.host_key_source = source;
    o.host_key_from_repo = true;
    if ((rc = secrets_audit_run(&o, &a, &d)) != 0) {
        m3_diag_error(rc, &d);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    if (json)
        m3_report_json(stdout, a, registry);
    else
        print_check(a, host, key, m3_use_color(stdout));
    rc = a->nerrors > 0 ? M3_EXIT_NEGATIVE : M3_EXIT_OK;
out:
    secrets_audit_free(a);
    free(registry);
    free(key);
    free(source);
    return rc;
}
