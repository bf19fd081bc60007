/* hosts.c: `m3age hosts [list] | sync | add | rm`: host public keys against the registry.
 * This file: the help, the options, the dispatcher and the helpers the subcommands share
 * (cmd/hosts.h); each subcommand is in its own cmd/hosts_*.c. */
#include "cmd/hosts.h"
#include "cmd/repo.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
static void
hosts_usage(FILE *f)
{
    fprintf(
        f,
        "Usage: m3age hosts [list] [HOST...] [--all] [--json]\n"
        "       m3age hosts sync [HOST...] [--from DIR | --known-hosts | --scan] [--rekey]\n"
        "                        [--dry-run] [--accept-new] [--timeout SECONDS] [-i IDENTITY]...\n"
        "       m3age hosts sync --pq [HOST...] [--from DIR | --scan] [--rekey] [--dry-run]\n"
        "                        [-i IDENTITY]...\n"
        "       m3age hosts add HOST [KEY | KEYFILE | --scan] [--to LIST]... [--rekey]\n"
        "                       [--dry-run] [-i IDENTITY]...\n"
        "       m3age hosts rm HOST [--no-rekey] [--dry-run] [-i IDENTITY]...\n"
        "Common: [--rules FILE] [--no-nix] (hosts never evaluates the registry with Nix)\n\n"
        "Keep the registry's host keys (the `let` binding named after each host in\n"
        "secrets.nix) equal to the hosts' real SSH host keys.\n\n"
        "  list   each host of hosts/ with its registry key's fingerprint and whether\n"
        "         hosts/<host>/ssh_host_ed25519_key.pub and ~/.ssh/known_hosts agree\n"
        "         (exit 1 when a source disagrees or a host is missing from the registry)\n"
        "  sync   read each host's key (default: hosts/<host>/ssh_host_ed25519_key.pub;\n"
        "         --from DIR: DIR/<host>.pub; --known-hosts: ~/.ssh/known_hosts; --scan: the\n"
        "         host's sshd, honouring ~/.ssh/config) and rewrite the bindings that differ.\n"
        "         With --scan a key that differs from known_hosts is refused unless\n"
        "         --accept-new. --rekey re-encrypts the secrets the host can read.\n"
        "         --pq: collect each host's post-quantum recipient instead (its NixOS module's\n"
        "         m3age.hostPqIdentity; hosts/<host>/host-pq.pub, --from DIR: DIR/<host>-pq.pub,\n"
        "         --scan: 'ssh HOST cat /var/lib/m3age/host-pq.pub'), bind it to HOST-pq beside\n"
        "         the SSH key and move the host's secrets to it (with --rekey, re-encrypted)\n"
        "  add    bind HOST to KEY (a key line or .pub file; default: its hosts/ file, or\n"
        "         --scan), and append it to each --to LIST (e.g. servers)\n"
        "  rm     remove HOST's binding and every reference to it, then rekey what it could\n"
        "         read (older versions in git history stay readable by its key)\n\n"
        "--dry-run prints what would change (exit 1 when something would) and writes nothing.\n"
        "When a rekey is to follow (sync/add --rekey, rm), an identity is checked for before\n"
        "secrets.nix is written: without one, nothing changes (exit 2).\n");
}

int
hosts_usage_error(const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    m3_error("%s", msg);
    m3_hint("run 'm3age hosts --help' for the options");
    return M3_EXIT_USAGE;
}

enum {
    OPT_RULES = 256,
    OPT_FROM,
    OPT_KH,
    OPT_SCAN,
    OPT_REKEY,
    OPT_NOREKEY,
    OPT_DRY,
    OPT_ACCEPT,
    OPT_JSON,
    OPT_ALL,
    OPT_TIMEOUT,
    OPT_PQ,
    OPT_TO
};

static int
parse_opts(int argc, char **argv, struct hosts_opts *o)
{
    static const struct option lo[] = {
        {"rules", required_argument, NULL, OPT_RULES},
        {"from", required_argument, NULL, OPT_FROM},
        {"known-hosts", no_argument, NULL, OPT_KH},
        {"scan", no_argument, NULL, OPT_SCAN},
        {"rekey", no_argument, NULL, OPT_REKEY},
        {"no-rekey", no_argument, NULL, OPT_NOREKEY},
        {"dry-run", no_argument, NULL, OPT_DRY},
        {"accept-new", no_argument, NULL, OPT_ACCEPT},
        {"json", no_argument, NULL, OPT_JSON},
        {"all", no_argument, NULL, OPT_ALL},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"to", required_argument, NULL, OPT_TO},
        {"pq", no_argument, NULL, OPT_PQ},
        {"identity", required_argument, NULL, 'i'},
        {"nix", no_argument, &m3_nix_mode, M3_NIX_ALWAYS},
        {"no-nix", no_argument, &m3_nix_mode, M3_NIX_NEVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool seen[OPT_TO + 1] = {false};
    const char *home = getenv("HOME");
    int c;

    opterr = 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":i:h", lo, NULL)) != -1) {
        if (c >= OPT_RULES && c < OPT_TO) {
            if (seen[c])
                return hosts_usage_error("option '%s' given twice", argv[optind - 1]);
            seen[c] = true;
        }
        switch (c) {
        case OPT_RULES:
            o->rules = optarg;
            break;
        case OPT_FROM:
            o->from = optarg;
            break;
        case OPT_KH:
            o->known_hosts = true;
            break;
        case OPT_SCAN:
            o->scan = true;
            break;
        case OPT_REKEY:
            o->rekey = true;
            break;
        case OPT_NOREKEY:
            o->no_rekey = true;
            break;
        case OPT_DRY:
            o->dry_run = true;
            break;
        case OPT_ACCEPT:
            o->accept_new = true;
            break;
        case OPT_JSON:
            o->json = true;
            break;
        case OPT_ALL:
            o->all = true;
            break;
        case OPT_PQ:
            o->pq = true;
            break;
        case OPT_TIMEOUT: {
            char *end;

            o->timeout = strtol(optarg, &end, 10);
            if (*end != '\0' || o->timeout < 1 || o->timeout > 3600)
                return hosts_usage_error("--timeout takes seconds from 1 to 3600, not '%s'",
                                         optarg);
            break;
        }
        case OPT_TO:
            if (o->nlists == sizeof(o->lists) / sizeof(o->lists[0]))
                return hosts_usage_error("too many --to options");
            o->lists[o->nlists++] = optarg;
            break;
        case 'i':
            if (m3_list_push(&o->ids, optarg) != 0) {
                m3_error("out of memory");
                return M3_EXIT_USAGE;
            }
            break;
        case 0: /* --nix, --no-nix: m3_nix_mode set */
            break;
        case 'h':
            hosts_usage(stdout);
            return -1;
        case ':':
            return hosts_usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return hosts_usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if ((o->from != NULL) + o->known_hosts + o->scan > 1)
        return hosts_usage_error("choose one source: --from, --known-hosts or --scan");
    if (o->rekey && o->no_rekey)
        return hosts_usage_error("--rekey and --no-rekey contradict each other");
    if (m3_nix_mode == M3_NIX_ALWAYS) /* Nix gives values, not where the bindings are written */
        return hosts_usage_error(
            "--nix: hosts reads and edits the bindings where they are written, "
            "in a registry m3age evaluates itself");
    o->args = argv + optind;
    o->nargs = argc - optind;
    if (home != NULL && home[0] != '\0') {
        if (asprintf(&o->ssh_config, "%s/.ssh/config", home) < 0 ||
            asprintf(&o->known_hosts_path, "%s/.ssh/known_hosts", home) < 0) {
            m3_error("out of memory");
            return M3_EXIT_USAGE;
        }
    }
    return 0;
}

/* hosts_rel: path relative to the registry's folder when inside it, for shorter messages. */
const char *
hosts_rel(const struct hosts_ctx *c, const char *path)
{
    size_t n = strlen(c->repo.dir);

    if (strncmp(path, c->repo.dir, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

static int
open_repo(struct hosts_ctx *c)
{
    struct m3_diag d;
    char *path = NULL;
    int rc;

    m3_diag_clear(&d);
    if (reg_locate(c->o->rules, getenv("RULES"), ".", &path, NULL, &d) != 0) {
        m3_diag_error(d.code, &d);
        m3_hint("run it in the repository, or name the registry with --rules FILE");
        return M3_EXIT_USAGE;
    }
    rc = hostkeys_repo_open(path, &c->repo, &d);
    free(path);
    if (rc != 0) {
        m3_diag_error(rc, &d);
        return M3_EXIT_USAGE;
    }
    c->scan.config = c->o->ssh_config;
    c->scan.timeout = c->o->timeout;
    return 0;
}

/* ---- where keys come from ----------------------------------------------------------- */

/* hosts_known_hosts_check: what ~/.ssh/known_hosts says of key for host (by its name, and by the
 * address its ssh config resolves it to). *other gets a known key when it differs. */
enum kh_verdict
hosts_known_hosts_check(const struct hosts_ctx *c, const char *host, const struct hostkey *key,
                        struct hostkey *other)
{
    struct hostkey *keys = NULL;
    const struct hostkey *pick;
    struct m3_diag d;
    const char *names[2] = {host, NULL};
    char *hostname = NULL;
    unsigned port = 22;
    size_t n = 0, nn = 1;
    enum kh_verdict v = KH_ABSENT;

    if (c->o->known_hosts_path == NULL)
        return KH_ABSENT;
    m3_diag_clear(&d);
    if (hostkeys_resolve(host, &c->scan, &hostname, &port, &d) == 0 && strcmp(hostname, host) != 0)
        names[nn++] = hostname;
    if (hostkeys_known_hosts(c->o->known_hosts_path, names, nn, port, &keys, &n, &d) != 0)
        m3_warn("%s", d.msg);
    for (size_t i = 0; i < n && v != KH_SAME; i++)
        if (hostkey_equal(&keys[i], key))
            v = KH_SAME;
    if (v != KH_SAME && (pick = hostkeys_pick(keys, n)) != NULL) {
        v = KH_DIFFERS;
        if (other != NULL && hostkey_copy(other, pick) != 0)
            v = KH_DIFFERS;
    }
    hostkeys_keys_free(keys, n);
    free(hostname);
    return v;
}

/* hosts_source_key: the host's key from the chosen source. origin describes where it came from.
 * Errors are printed; returns the M3_E* code (M3_ENOTFOUND when the source has no key). */
int
hosts_source_key(struct hosts_ctx *c, const char *host, struct hostkey *k, char *origin, size_t cap,
                 bool quiet_missing)
{
    struct m3_diag d;
    char *path = NULL;
    int rc;

    m3_diag_clear(&d);
    if (c->o->scan) {
        snprintf(origin, cap, "scan of %s", host);
        rc = hostkeys_scan(host, &c->scan, k, &d);
        if (rc != 0) {
            m3_diag_error(rc, &d);
            if (rc == M3_EIO)
                m3_hint("check that %s is up and its sshd reachable (ssh -v %s), or use --timeout",
                        host, host);
        }
        return rc;
    }
    if (c->o->known_hosts) {
        struct hostkey *keys = NULL;
        const char *names[2] = {host, NULL};
        char *hostname = NULL;
        unsigned port = 22;
        size_t n = 0, nn = 1;
        const struct hostkey *pick;

        if (c->o->known_hosts_path == NULL) {
            m3_error("HOME is not set: no ~/.ssh/known_hosts to read");
            return M3_ENOTFOUND;
        }
        if (hostkeys_resolve(host, &c->scan, &hostname, &port, &d) == 0 &&
            strcmp(hostname, host) != 0)
            names[nn++] = hostname;
        rc = hostkeys_known_hosts(c->o->known_hosts_path, names, nn, port, &keys, &n, &d);
        free(hostname);
        if (rc != 0) {
            m3_diag_error(d.code, &d);
            return rc;
        }
        if ((pick = hostkeys_pick(keys, n)) == NULL) {
            if (!quiet_missing)
                m3_error("%s: no ssh-ed25519 or ssh-rsa key for '%s' in %s", host, host,
                         c->o->known_hosts_path);
            hostkeys_keys_free(keys, n);
            return M3_ENOTFOUND;
        }
        rc = hostkey_copy(k, pick);
        hostkeys_keys_free(keys, n);
        snprintf(origin, cap, "%s", c->o->known_hosts_path);
        return rc;
    }
    if (c->o->from != NULL)
        rc = asprintf(&path, "%s/%s.pub", c->o->from, host) < 0 ? M3_ENOMEM : 0;
    else
        rc = (path = hostkeys_host_pub_path(c->repo.hostsdir, host)) == NULL ? M3_ENOMEM : 0;
    if (rc != 0) {
        m3_error("out of memory");
        return rc;
    }
    snprintf(origin, cap, "%s", hosts_rel(c, path));
    rc = hostkeys_read_file(path, k, &d);
    if (rc != 0 && !(rc == M3_ENOTFOUND && quiet_missing))
        m3_diag_error(d.code, &d);
    free(path);
    return rc;
}

/* hosts_tofu_ok: for a scanned key, the known_hosts rule: a key that differs from the one ssh
 * already trusts is not taken without --accept-new. Prints why. */
bool
hosts_tofu_ok(const struct hosts_ctx *c, const char *host, const struct hostkey *k)
{
    struct hostkey other = {0};
    enum kh_verdict v;

    if (!c->o->scan)
        return true;
    v = hosts_known_hosts_check(c, host, k, &other);
    if (v == KH_ABSENT)
        m3_info("%s: not in known_hosts: trusting %s on first use", host, k->fp);
    if (v == KH_DIFFERS) {
        m3_warn("%s: the scanned key %s differs from the one in %s (%s)", host, k->fp,
                c->o->known_hosts_path, other.fp[0] ? other.fp : "?");
        hostkey_clear(&other);
        if (!c->o->accept_new) {
            m3_error("%s: not written: possible man-in-the-middle or a reinstalled host", host);
            m3_hint("check the key on the host (ssh-keygen -lf "
                    "/etc/ssh/ssh_host_ed25519_key.pub), then rerun with --accept-new");
            return false;
        }
        m3_info("%s: --accept-new: taking the scanned key", host);
    }
    return true;
}

/* ---- rekey glue --------------------------------------------------------------------- */

/* hosts_rekey_ready: whether the rekey that is to follow a registry write can run, checked before
 * the write: a registry rewritten and then "no identity" would leave the user half done,
 * with the host already gone from the file. skip_opt is how to change the registry alone. */
bool
hosts_rekey_ready(struct hosts_ctx *c, size_t n, bool want, const char *skip_opt)
{
    struct keys_identities ids = {0};
    size_t loaded = 0;

    if (n == 0 || !want || c->o->dry_run)
        return true;
    if (m3_repo_identities(&c->o->ids, &ids, &loaded) != 0)
        return false;
    keys_identities_clear(&ids);
    if (loaded > 0)
        return true;
    m3_no_identity(NULL, true);
    m3_info("%s was not changed: rekeying %zu secret%s needs an identity (%s changes the "
            "registry alone)",
            m3_shown(hosts_rel(c, c->repo.rules)), n, n == 1 ? "" : "s", skip_opt);
    return false;
}

/* hosts_rekey_after: after the registry changed, re-encrypt names[0..n) (or say how to). */
int
hosts_rekey_after(struct hosts_ctx *c, const char *host, const char **names, size_t n, bool want)
{
    if (n == 0)
        return 0;
    if (c->o->dry_run) {
        for (size_t i = 0; i < n; i++)
            printf("  would rekey %s\n", m3_shown(names[i]));
        return 0;
    }
    if (!want) {
        m3_hint("%zu secret%s still encrypted to the old recipients; run 'm3age rekey --host %s'"
                " (or pass --rekey)",
                n, n == 1 ? " is" : "s are", host);
        return 0;
    }
    return hosts_rekey(c->repo.rules, names, n, &c->o->ids);
}

/* hosts_strv_dup: malloc'd copies of v[0..n) (the registry's strings die with the next edit). */
char **
hosts_strv_dup(const char **v, size_t n)
{
    char **w = calloc(n + 1, sizeof(*w));

    for (size_t i = 0; w != NULL && i < n; i++)
        if ((w[i] = strdup(v[i])) == NULL) {
            while (i > 0)
                free(w[--i]);
            free(w);
            return NULL;
        }
    return w;
}

void
hosts_strv_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

int
cmd_hosts(int argc, char **argv)
{
    struct hosts_opts o = {0};
    struct hosts_ctx c = {0};
    const char *sub = "list";
    int rc;

    c.o = &o;
    /* Keep the per-host lines in order with the warnings on stderr when piped. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc > 1 && argv[1][0] != '-') {
        sub = argv[1];
        if (strcmp(sub, "list") == 0 || strcmp(sub, "sync") == 0 || strcmp(sub, "add") == 0 ||
            strcmp(sub, "rm") == 0) {
            argc--;
            argv++;
        } else {
            sub = "list";
        }
    }
    if ((rc = parse_opts(argc, argv, &o)) != 0) {
        rc = rc < 0 ? M3_EXIT_OK : rc;
        goto out;
    }
    if (strcmp(sub, "list") == 0 && (o.from || o.known_hosts || o.scan || o.rekey || o.dry_run ||
                                     o.accept_new || o.nlists > 0)) {
        rc = hosts_usage_error("these options belong to 'hosts sync', 'add' or 'rm'");
        goto out;
    }
    if (o.pq && (strcmp(sub, "sync") != 0 || o.known_hosts || o.accept_new)) {
        rc = hosts_usage_error("--pq belongs to 'hosts sync', with hosts/, --from or --scan");
        goto out;
    }
    if (strcmp(sub, "sync") == 0 && (o.nlists > 0 || o.json || o.all)) {
        rc = hosts_usage_error("hosts sync takes no --to, --json or --all");
        goto out;
    }
    if ((rc = open_repo(&c)) != 0)
        goto out;
    if (strcmp(sub, "sync") == 0)
        rc = hosts_sync(&c);
    else if (strcmp(sub, "add") == 0)
        rc = hosts_add(&c);
    else if (strcmp(sub, "rm") == 0)
        rc = hosts_rm(&c);
    else
        rc = hosts_list(&c);
    hostkeys_repo_close(&c.repo);
out:
    m3_list_free(&o.ids);
    free(o.ssh_config);
    free(o.known_hosts_path);
    fflush(stdout);
    return rc;
}
