/* hosts.c: `m3age hosts [list] | sync | add | rm`: host public keys against the registry. */
#include "cmd/cmd.h"
#include "libage/ssh.h"
#include "secrets/hostkeys.h"

#include <getopt.h>
#include <stdarg.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd/hostsrekey.h"
#include "cmd/repo.h"
#include "secrets/diff.h"

struct hosts_opts {
    const char *rules;
    const char *from;      /* --from DIR */
    bool known_hosts;      /* --known-hosts */
    bool scan;             /* --scan */
    bool rekey, no_rekey;  /* --rekey, --no-rekey */
    bool dry_run;          /* --dry-run */
    bool accept_new;       /* --accept-new */
    bool json, all;        /* list: --json, --all */
    bool pq;               /* sync: --pq (the hosts' post-quantum recipients) */
    long timeout;          /* --timeout */
    const char *lists[32]; /* --to LIST */
    size_t nlists;
    struct m3_list ids;     /* -i FILE */
    char *ssh_config;       /* ~/.ssh/config */
    char *known_hosts_path; /* ~/.ssh/known_hosts */
    char **args;
    int nargs;
};

struct hosts_ctx {
    struct hosts_opts *o;
    struct hostkeys_repo repo;
    struct hostkeys_scan_opts scan;
};

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

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
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
                return usage_error("option '%s' given twice", argv[optind - 1]);
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
                return usage_error("--timeout takes seconds from 1 to 3600, not '%s'", optarg);
            break;
        }
        case OPT_TO:
            if (o->nlists == sizeof(o->lists) / sizeof(o->lists[0]))
                return usage_error("too many --to options");
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
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if ((o->from != NULL) + o->known_hosts + o->scan > 1)
        return usage_error("choose one source: --from, --known-hosts or --scan");
    if (o->rekey && o->no_rekey)
        return usage_error("--rekey and --no-rekey contradict each other");
    if (m3_nix_mode == M3_NIX_ALWAYS) /* Nix gives values, not where the bindings are written */
        return usage_error("--nix: hosts reads and edits the bindings where they are written, "
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

/* rel: path relative to the registry's folder when inside it, for shorter messages. */
static const char *
rel(const struct hosts_ctx *c, const char *path)
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
        m3_error("%s", d.msg);
        m3_hint("run it in the repository, or name the registry with --rules FILE");
        return M3_EXIT_USAGE;
    }
    rc = hostkeys_repo_open(path, &c->repo, &d);
    free(path);
    if (rc != 0) {
        m3_error("%s", d.msg[0] ? d.msg : m3_strerror(rc));
        return M3_EXIT_USAGE;
    }
    c->scan.config = c->o->ssh_config;
    c->scan.timeout = c->o->timeout;
    return 0;
}

/* ---- where keys come from ----------------------------------------------------------- */

enum kh_verdict { KH_ABSENT, KH_SAME, KH_DIFFERS };

/* known_hosts_check: what ~/.ssh/known_hosts says of key for host (by its name, and by the
 * address its ssh config resolves it to). *other gets a known key when it differs. */
static enum kh_verdict
known_hosts_check(const struct hosts_ctx *c, const char *host, const struct hostkey *key,
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

/* source_key: the host's key from the chosen source. origin describes where it came from.
 * Errors are printed; returns the M3_E* code (M3_ENOTFOUND when the source has no key). */
static int
source_key(struct hosts_ctx *c, const char *host, struct hostkey *k, char *origin, size_t cap,
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
            m3_error("%s", d.msg[0] ? d.msg : m3_strerror(rc));
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
            m3_error("%s", d.msg);
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
    snprintf(origin, cap, "%s", rel(c, path));
    rc = hostkeys_read_file(path, k, &d);
    if (rc != 0 && !(rc == M3_ENOTFOUND && quiet_missing))
        m3_error("%s", d.msg);
    free(path);
    return rc;
}

/* tofu_ok: for a scanned key, the known_hosts rule: a key that differs from the one ssh
 * already trusts is not taken without --accept-new. Prints why. */
static bool
tofu_ok(const struct hosts_ctx *c, const char *host, const struct hostkey *k)
{
    struct hostkey other = {0};
    enum kh_verdict v;

    if (!c->o->scan)
        return true;
    v = known_hosts_check(c, host, k, &other);
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

/* rekey_ready: whether the rekey that is to follow a registry write can run, checked before
 * the write: a registry rewritten and then "no identity" would leave the user half done,
 * with the host already gone from the file. skip_opt is how to change the registry alone. */
static bool
rekey_ready(struct hosts_ctx *c, size_t n, bool want, const char *skip_opt)
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
            m3_shown(rel(c, c->repo.rules)), n, n == 1 ? "" : "s", skip_opt);
    return false;
}

/* rekey_after: after the registry changed, re-encrypt names[0..n) (or say how to). */
static int
rekey_after(struct hosts_ctx *c, const char *host, const char **names, size_t n, bool want)
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

/* ---- hosts sync --------------------------------------------------------------------- */

enum sync_result { SYNC_SAME, SYNC_CHANGED, SYNC_REFUSED, SYNC_MISSING, SYNC_ERROR };

/* strv_dup: malloc'd copies of v[0..n) (the registry's strings die with the next edit). */
static char **
strv_dup(const char **v, size_t n)
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

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; v != NULL && i < n; i++)
        free(v[i]);
    free(v);
}

static enum sync_result
sync_host(struct hosts_ctx *c, const char *host, bool named, char ***affected, size_t *naffected)
{
    char **copy = NULL;
    struct hostkey cur = {0}, src = {0};
    struct m3_diag d;
    char origin[PATH_MAX + 32];
    enum sync_result res = SYNC_ERROR;
    const char **names = NULL;
    size_t n = 0;
    int rc;

    m3_diag_clear(&d);
    rc = hostkeys_repo_binding(&c->repo, host, &cur, &d);
    if (rc == M3_ENOTFOUND) {
        m3_error("%s: not in the registry (%s has no binding '%s')", host, c->repo.rules, host);
        m3_hint("add it with 'm3age hosts add %s'", host);
        res = named ? SYNC_ERROR : SYNC_MISSING;
        goto out;
    }
    if (rc != 0) {
        m3_error("%s", d.msg);
        goto out;
    }
    rc = source_key(c, host, &src, origin, sizeof(origin), !named);
    if (rc == M3_ENOTFOUND && !named) {
        printf("%s: no key in %s, skipped\n", m3_shown(host),
               c->o->known_hosts ? "known_hosts"
               : c->o->from      ? m3_shown(c->o->from)
                                 : "its hosts/ folder");
        res = SYNC_SAME;
        goto out;
    }
    if (rc != 0)
        goto out;
    if (hostkey_equal(&cur, &src)) {
        printf("%s: up to date (%s)\n", m3_shown(host), cur.fp);
        res = SYNC_SAME;
        goto out;
    }
    if (!tofu_ok(c, host, &src)) {
        res = SYNC_REFUSED;
        goto out;
    }
    m3_warn("%s: HOST KEY CHANGED: the registry has %s, %s has %s", host, cur.fp, origin, src.fp);
    if ((rc = hostkeys_repo_secrets_with(&c->repo, &cur, &names, &n)) != 0 ||
        (copy = strv_dup(names, n)) == NULL) {
        m3_error("out of memory");
        goto out;
    }
    if ((rc = hostkeys_repo_set_key(&c->repo, host, &src, &d)) != 0) {
        m3_error("%s", d.msg[0] ? d.msg : m3_strerror(rc));
        if (rc == M3_EUNSUPPORTED)
            m3_hint("edit the binding of '%s' by hand, or make it a plain string", host);
        goto out;
    }
    printf("%s: %s %s -> %s (%s)\n", m3_shown(host), c->o->dry_run ? "would change" : "changed",
           cur.fp, src.fp, m3_shown(origin));
    *affected = copy;
    *naffected = n;
    copy = NULL;
    res = SYNC_CHANGED;
out:
    strv_free(copy, n);
    free(names);
    hostkey_clear(&cur);
    hostkey_clear(&src);
    return res;
}

/* pq_source: the host's post-quantum recipient from the chosen source (malloc'd into *out).
 * Errors are printed unless the source just has none and quiet_missing. */
static int
pq_source(struct hosts_ctx *c, const char *host, char **out, char *origin, size_t cap,
          bool quiet_missing)
{
    struct m3_diag d;
    char *path = NULL;
    int rc;

    m3_diag_clear(&d);
    if (c->o->scan) {
        /* the recipient is a file on the host: reading it needs a login, which only the
         * operator's ssh has (its config, agent and known_hosts); nothing else runs there */
        char timeout[48], *text = NULL;
        const char *argv[12];
        size_t len = 0, na = 0;
        int status = 0;

        argv[na++] = "ssh";
        /* the config the SSH-key scan honours ($HOME's, which ssh itself would not read
         * when HOME is not the passwd entry's) */
        if (c->o->ssh_config != NULL && access(c->o->ssh_config, R_OK) == 0) {
            argv[na++] = "-F";
            argv[na++] = c->o->ssh_config;
        }
        argv[na++] = "-o";
        argv[na++] = "BatchMode=yes";
        argv[na++] = "-o";
        argv[na++] = timeout;
        argv[na++] = "--";
        argv[na++] = host;
        argv[na++] = "cat";
        argv[na++] = HOSTKEYS_PQ_REMOTE;
        argv[na] = NULL;

        snprintf(timeout, sizeof(timeout), "ConnectTimeout=%ld",
                 c->o->timeout > 0 ? c->o->timeout : (long)HOSTKEYS_DEFAULT_TIMEOUT);
        snprintf(origin, cap, "ssh %s cat %s", host, HOSTKEYS_PQ_REMOTE);
        rc = secrets_run_capture(argv, true, &text, &len, &status, &d);
        if (rc != 0 || status != 0) {
            m3_error("%s: cannot read %s over ssh (%s)", host, HOSTKEYS_PQ_REMOTE,
                     rc != 0         ? d.msg
                     : status == 255 ? "ssh failed to connect or log in"
                                     : "no such file on the host?");
            m3_hint("enable m3age.hostPqIdentity in %s's NixOS configuration and deploy it, "
                    "or check 'ssh %s cat %s'",
                    host, host, HOSTKEYS_PQ_REMOTE);
            free(text);
            return rc != 0 ? rc : M3_EIO;
        }
        rc = hostkeys_pq_parse(text != NULL ? text : "", out, &d);
        free(text);
        if (rc != 0)
            m3_error("%s: %s: %s", host, origin, d.msg);
        return rc;
    }
    if (c->o->from != NULL)
        rc = asprintf(&path, "%s/%s-pq.pub", c->o->from, host) < 0 ? M3_ENOMEM : 0;
    else
        rc = asprintf(&path, "%s/%s/%s", c->repo.hostsdir, host, HOSTKEYS_PQ_FILE) < 0 ? M3_ENOMEM
                                                                                       : 0;
    if (rc != 0) {
        m3_error("out of memory");
        return rc;
    }
    snprintf(origin, cap, "%s", rel(c, path));
    rc = hostkeys_pq_read_file(path, out, &d);
    if (rc != 0 && !(rc == M3_ENOTFOUND && quiet_missing))
        m3_error("%s", d.msg[0] == '/' ? rel(c, d.msg) : d.msg);
    if (rc == M3_ENOTFOUND && !quiet_missing)
        m3_hint("enable m3age.hostPqIdentity in %s's NixOS configuration, deploy, and copy its "
                "%s here (or use --scan)",
                host, HOSTKEYS_PQ_REMOTE);
    free(path);
    return rc;
}

/* short_rcpt: "age1pq1abcdefgh...wxyz" for messages (a recipient is ~2000 characters). */
static void
short_rcpt(const char *r, char *buf, size_t cap)
{
    size_t n = strlen(r);
    snprintf(buf, cap, "%.16s...%s", r, n > 8 ? r + n - 8 : "");
}

static enum sync_result
sync_host_pq(struct hosts_ctx *c, const char *host, bool named, char ***affected, size_t *naffected)
{
    char origin[PATH_MAX + 64], *src = NULL, shown[40], pqname[300];
    const char **names = NULL, *cur;
    struct hostkey ssh = {0};
    struct m3_diag d;
    enum sync_result res = SYNC_ERROR;
    size_t n = 0;
    int rc;

    m3_diag_clear(&d);
    hostkeys_pq_name(host, pqname, sizeof(pqname));
    if ((rc = hostkeys_repo_binding(&c->repo, host, &ssh, &d)) == M3_ENOTFOUND) {
        m3_error("%s: not in the registry (%s has no binding '%s')", host, c->repo.rules, host);
        m3_hint("add it with 'm3age hosts add %s' first", host);
        return named ? SYNC_ERROR : SYNC_MISSING;
    }
    hostkey_clear(&ssh);
    rc = pq_source(c, host, &src, origin, sizeof(origin), !named);
    if (rc == M3_ENOTFOUND && !named) {
        printf("%s: no post-quantum recipient in %s, skipped\n", m3_shown(host),
               c->o->from ? m3_shown(c->o->from) : "its hosts/ folder");
        return SYNC_SAME;
    }
    if (rc != 0)
        return SYNC_ERROR;
    short_rcpt(src, shown, sizeof(shown));
    cur = hostkeys_repo_pq_binding(&c->repo, host);
    if (cur != NULL && strcmp(cur, src) == 0 && !hostkeys_repo_uses_host(&c->repo, host)) {
        printf("%s: post-quantum, up to date (%s)\n", m3_shown(host), shown);
        res = SYNC_SAME;
        goto out;
    }
    if (cur != NULL && strcmp(cur, src) != 0)
        m3_warn("%s: POST-QUANTUM IDENTITY CHANGED: the registry's %s is not %s's", host, pqname,
                origin);
    if ((rc = hostkeys_repo_set_pq(&c->repo, host, src, &d)) != 0) {
        m3_error("%s", d.msg[0] ? d.msg : m3_strerror(rc));
        if (rc == M3_EUNSUPPORTED)
            m3_hint("list %s instead of %s in the entries by hand", pqname, host);
        goto out;
    }
    if ((rc = hostkeys_repo_secrets_with_text(&c->repo, src, &names, &n)) != 0 ||
        (*affected = strv_dup(names, n)) == NULL) {
        m3_error("out of memory");
        goto out;
    }
    *naffected = n;
    printf("%s: %s %s = %s (%s); %zu secret%s list%s it\n", m3_shown(host),
           c->o->dry_run ? "would bind" : "bound", pqname, shown, m3_shown(origin), n,
           n == 1 ? "" : "s", n == 1 ? "s" : "");
    res = SYNC_CHANGED;
out:
    free(names);
    free(src);
    return res;
}

struct host_affected {
    const char *host;
    char **names;
    size_t n;
};

static void
affected_free(struct host_affected *a, size_t n)
{
    for (size_t i = 0; a != NULL && i < n; i++)
        strv_free(a[i].names, a[i].n);
    free(a);
}

static int
hosts_sync(struct hosts_ctx *c)
{
    char **found = NULL;
    const char **hosts;
    size_t nhosts, nfound = 0, nchanged = 0;
    struct host_affected *aff = NULL;
    struct m3_diag d;
    bool errors = false, refused = false, missing = false, named = c->o->nargs > 0;
    int rc;

    m3_diag_clear(&d);
    if (named) {
        hosts = (const char **)c->o->args;
        nhosts = (size_t)c->o->nargs;
    } else {
        if (hostkeys_repo_hosts(&c->repo, &found, &nfound, &d) != 0) {
            m3_error("%s", d.msg);
            return M3_EXIT_USAGE;
        }
        if (nfound == 0) {
            m3_error("no host folders in %s", c->repo.hostsdir);
            m3_hint("name the hosts: 'm3age hosts sync HOST...'");
            return M3_EXIT_USAGE;
        }
        hosts = (const char **)found;
        nhosts = nfound;
    }
    if ((aff = calloc(nhosts, sizeof(*aff))) == NULL) {
        rc = M3_EXIT_USAGE;
        goto out;
    }
    for (size_t i = 0; i < nhosts; i++) {
        char **names = NULL;
        size_t n = 0;

        if (!hostkeys_valid_host_name(hosts[i])) {
            m3_error("'%s' is not a host name", hosts[i]);
            errors = true;
            continue;
        }
        switch (c->o->pq ? sync_host_pq(c, hosts[i], named, &names, &n)
                         : sync_host(c, hosts[i], named, &names, &n)) {
        case SYNC_SAME:
            break;
        case SYNC_CHANGED:
            nchanged++;
            aff[i].host = hosts[i];
            aff[i].names = names;
            aff[i].n = n;
            break;
        case SYNC_REFUSED:
            refused = true;
            break;
        case SYNC_MISSING:
            missing = true;
            break;
        case SYNC_ERROR:
            errors = true;
            break;
        }
    }
    if (nchanged > 0 && !c->o->dry_run) {
        size_t nsecrets = 0;
        for (size_t i = 0; i < nhosts; i++)
            nsecrets += aff[i].n;
        if (!rekey_ready(c, nsecrets, c->o->rekey, "leaving out --rekey")) {
            rc = M3_EXIT_USAGE;
            goto out;
        }
        if (hostkeys_repo_write(&c->repo, &d) != 0) {
            m3_error("%s", d.msg);
            rc = M3_EXIT_USAGE;
            goto out;
        }
        printf("updated %s (%zu host key%s)\n", m3_shown(rel(c, c->repo.rules)), nchanged,
               nchanged == 1 ? "" : "s");
    }
    for (size_t i = 0; i < nhosts; i++)
        if (aff[i].host != NULL &&
            rekey_after(c, aff[i].host, (const char **)aff[i].names, aff[i].n, c->o->rekey) != 0)
            errors = true;
    if (errors)
        rc = M3_EXIT_USAGE;
    else if (refused || missing || (c->o->dry_run && nchanged > 0))
        rc = M3_EXIT_NEGATIVE;
    else
        rc = M3_EXIT_OK;
out:
    affected_free(aff, aff ? nhosts : 0);
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    return rc;
}

/* ---- hosts add / rm ----------------------------------------------------------------- */

static int
hosts_add(struct hosts_ctx *c)
{
    const char *host, *keyarg = NULL;
    struct hostkey k = {0}, cur = {0};
    struct m3_diag d;
    char origin[PATH_MAX + 32];
    const char **names = NULL;
    size_t n = 0;
    bool had;
    int rc = M3_EXIT_USAGE;

    m3_diag_clear(&d);
    if (c->o->nargs < 1 || c->o->nargs > 2)
        return usage_error("hosts add takes HOST and optionally KEY");
    host = c->o->args[0];
    if (c->o->nargs == 2)
        keyarg = c->o->args[1];
    if (keyarg != NULL && c->o->scan)
        return usage_error("give KEY or --scan, not both");
    if (c->o->from != NULL || c->o->known_hosts)
        return usage_error("hosts add reads KEY, its hosts/ file or --scan");
    if (!hostkeys_valid_host_name(host)) {
        m3_error("'%s' is not a host name (letters, digits, '-', '_', '.')", host);
        return M3_EXIT_USAGE;
    }
    if (keyarg != NULL && strncmp(keyarg, "ssh-", 4) == 0 && strchr(keyarg, ' ') != NULL) {
        snprintf(origin, sizeof(origin), "the command line");
        if (hostkey_parse(keyarg, &k, &d) != 0) {
            m3_error("%s: %s", host, d.msg);
            goto out;
        }
    } else if (keyarg != NULL) {
        snprintf(origin, sizeof(origin), "%s", keyarg);
        if (hostkeys_read_file(keyarg, &k, &d) != 0) {
            m3_error("%s", d.msg);
            goto out;
        }
    } else if (source_key(c, host, &k, origin, sizeof(origin), false) != 0) {
        if (!c->o->scan)
            m3_hint("give the key: 'm3age hosts add %s \"ssh-ed25519 AAAA...\"' or --scan", host);
        goto out;
    }
    if (!tofu_ok(c, host, &k)) {
        rc = M3_EXIT_NEGATIVE;
        goto out;
    }
    rc = hostkeys_repo_binding(&c->repo, host, &cur, &d);
    had = rc == 0;
    if (rc != 0 && rc != M3_ENOTFOUND) {
        m3_error("%s", d.msg);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    if (had && !hostkey_equal(&cur, &k)) {
        m3_error("%s is already in the registry with %s (%s has %s)", host, cur.fp, origin, k.fp);
        m3_hint("to replace its key, run 'm3age hosts sync %s'", host);
        rc = M3_EXIT_USAGE;
        goto out;
    }
    rc = M3_EXIT_USAGE;
    if (!had && hostkeys_repo_set_key(&c->repo, host, &k, &d) != 0) {
        m3_error("%s", d.msg);
        goto out;
    }
    for (size_t i = 0; i < c->o->nlists; i++)
        if (hostkeys_repo_add_to_list(&c->repo, c->o->lists[i], host, &d) != 0) {
            m3_error("%s", d.msg);
            goto out;
        }
    if (!had)
        printf("%s: %s %s (%s, from %s)\n", m3_shown(host), c->o->dry_run ? "would add" : "added",
               k.fp, k.type, m3_shown(origin));
    else if (c->o->nlists == 0)
        printf("%s: already in the registry with this key (%s)\n", m3_shown(host), k.fp);
    for (size_t i = 0; i < c->o->nlists; i++)
        printf("%s: %s list '%s'\n", m3_shown(host), c->o->dry_run ? "would join" : "joined",
               m3_shown(c->o->lists[i]));
    if (had && c->o->nlists == 0) {
        /* Nothing changed: no recipient of any secret is new, so nothing is stale. */
        rc = M3_EXIT_OK;
        goto out;
    }
    if (hostkeys_repo_secrets_with(&c->repo, &k, &names, &n) != 0)
        goto out;
    if (!rekey_ready(c, n, c->o->rekey, "leaving out --rekey"))
        goto out;
    if (!c->o->dry_run && hostkeys_repo_write(&c->repo, &d) != 0) {
        m3_error("%s", d.msg);
        goto out;
    }
    if (n > 0)
        printf("%s: %s a recipient of %zu secret%s\n", m3_shown(host),
               c->o->dry_run ? "would be" : "is now", n, n == 1 ? "" : "s");
    rc = rekey_after(c, host, names, n, c->o->rekey) != 0 ? M3_EXIT_USAGE
         : c->o->dry_run && (!had || c->o->nlists > 0)    ? M3_EXIT_NEGATIVE
                                                          : M3_EXIT_OK;
out:
    free(names);
    hostkey_clear(&k);
    hostkey_clear(&cur);
    return rc;
}

static int
hosts_rm(struct hosts_ctx *c)
{
    const char *host;
    struct hostkey cur = {0};
    struct m3_diag d;
    char tag[AGE_SSH_TAG_LEN + 1];
    const char **names = NULL;
    char **copy = NULL;
    size_t n = 0;
    int rc = M3_EXIT_USAGE;

    m3_diag_clear(&d);
    if (c->o->nargs != 1)
        return usage_error("hosts rm takes one HOST");
    if (c->o->from || c->o->known_hosts || c->o->scan || c->o->nlists > 0)
        return usage_error("hosts rm takes no key source and no --to");
    host = c->o->args[0];
    if (hostkeys_repo_binding(&c->repo, host, &cur, &d) != 0) {
        m3_error("%s", d.msg);
        if (d.code == M3_ENOTFOUND)
            m3_hint("'m3age hosts' lists the hosts the registry knows");
        goto out;
    }
    if (hostkeys_repo_secrets_with(&c->repo, &cur, &names, &n) != 0)
        goto out;
    /* The names live in the registry that the edit replaces. */
    if ((copy = strv_dup(names, n)) == NULL)
        goto out;
    /* and the secrets of its post-quantum identity (HOST-pq), which go with it */
    if (hostkeys_repo_pq_binding(&c->repo, host) != NULL) {
        const char **pqn = NULL;
        size_t npq = 0;
        if (hostkeys_repo_secrets_with_text(&c->repo, hostkeys_repo_pq_binding(&c->repo, host),
                                            &pqn, &npq) != 0)
            goto out;
        for (size_t i = 0; i < npq; i++) {
            bool dup = false;
            char **nv;
            for (size_t j = 0; j < n && !dup; j++)
                dup = strcmp(copy[j], pqn[i]) == 0;
            if (dup)
                continue;
            if ((nv = realloc(copy, (n + 2) * sizeof(*nv))) == NULL) {
                free(pqn);
                goto out;
            }
            copy = nv;
            if ((copy[n] = strdup(pqn[i])) == NULL) {
                free(pqn);
                goto out;
            }
            copy[++n] = NULL;
        }
        free(pqn);
    }
    if (hostkeys_repo_rm_host(&c->repo, host, &d) != 0) {
        m3_error("%s", d.msg);
        goto out;
    }
    if (!rekey_ready(c, n, !c->o->no_rekey, "--no-rekey"))
        goto out;
    if (!c->o->dry_run && hostkeys_repo_write(&c->repo, &d) != 0) {
        m3_error("%s", d.msg);
        goto out;
    }
    /* The tag too: audit and check name a key left in a header by it, and it is not the start
     * of the fingerprint (another hash of the same key). */
    age_ssh_tag_string(cur.wire, cur.wire_len, tag);
    printf("%s: %s %s key %s (tag %s in age headers) from %s (%zu secret%s)\n", m3_shown(host),
           c->o->dry_run ? "would remove" : "removed", cur.type, cur.fp, tag,
           m3_shown(rel(c, c->repo.rules)), n, n == 1 ? "" : "s");
    if (n > 0 && !c->o->dry_run)
        m3_info("note: older versions of %s secret%s in git history stay readable with %s's key;"
                " rotate the secret values if it is not trusted any more",
                n == 1 ? "that" : "those", n == 1 ? "" : "s", host);
    rc = rekey_after(c, host, (const char **)copy, n, !c->o->no_rekey) != 0 ? M3_EXIT_USAGE
         : c->o->dry_run                                                    ? M3_EXIT_NEGATIVE
                                                                            : M3_EXIT_OK;
out:
    strv_free(copy, n);
    free(names);
    hostkey_clear(&cur);
    return rc;
}

/* ---- hosts (list) ------------------------------------------------------------------- */

static void
json_str(const char *s)
{
    putchar('"');
    for (; s != NULL && *s != '\0'; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

/* json_opt: json_str, or null for the "-" the table prints for an absent value. */
static void
json_opt(const char *s)
{
    if (s == NULL || strcmp(s, "-") == 0)
        fputs("null", stdout);
    else
        json_str(s);
}

struct list_row {
    const char *host;
    char reg_fp[HOSTKEYS_FP_SIZE + 16];
    char file_fp[HOSTKEYS_FP_SIZE + 16];
    char kh_fp[HOSTKEYS_FP_SIZE + 16];
    const char *file; /* same, differs, missing, bad */
    const char *kh;   /* same, differs, - */
    const char *pq;   /* yes (HOST-pq bound, its secrets list it), partly (some list HOST), no */
    const char *status;
};

static bool
list_row(struct hosts_ctx *c, const char *host, struct list_row *r)
{
    struct hostkey reg = {0}, file = {0}, other = {0};
    struct m3_diag d;
    char *path;
    bool have_reg, have_file, ok = true;
    int rc;

    memset(r, 0, sizeof(*r));
    r->host = host;
    m3_diag_clear(&d);
    rc = hostkeys_repo_binding(&c->repo, host, &reg, &d);
    have_reg = rc == 0;
    snprintf(r->reg_fp, sizeof(r->reg_fp), "%s",
             have_reg             ? reg.fp
             : rc == M3_ENOTFOUND ? "-"
                                  : "(not a key)");
    path = hostkeys_host_pub_path(c->repo.hostsdir, host);
    rc = path ? hostkeys_read_file(path, &file, &d) : M3_ENOMEM;
    free(path);
    have_file = rc == 0;
    snprintf(r->file_fp, sizeof(r->file_fp), "%s", have_file ? file.fp : "-");
    r->file = rc == M3_ENOTFOUND           ? "missing"
              : !have_file                 ? "bad"
              : !have_reg                  ? "present"
              : hostkey_equal(&reg, &file) ? "same"
                                           : "differs";
    r->kh = "-";
    snprintf(r->kh_fp, sizeof(r->kh_fp), "-");
    if (have_reg || have_file) {
        const struct hostkey *want = have_reg ? &reg : &file;

        switch (known_hosts_check(c, host, want, &other)) {
        case KH_SAME:
            r->kh = "same";
            snprintf(r->kh_fp, sizeof(r->kh_fp), "%s", want->fp);
            break;
        case KH_DIFFERS:
            r->kh = "differs";
            snprintf(r->kh_fp, sizeof(r->kh_fp), "%s", other.fp);
            break;
        case KH_ABSENT:
            break;
        }
    }
    {
        const char *p = hostkeys_repo_pq_binding(&c->repo, host);
        r->pq = p == NULL || strncmp(p, "age1pq1", 7) != 0 ? "no"
                : hostkeys_repo_uses_host(&c->repo, host)  ? "partly"
                                                           : "yes";
    }
    if (!have_reg) {
        r->status = "not in registry";
        ok = false;
    } else if (strcmp(r->file, "differs") == 0 || strcmp(r->file, "bad") == 0 ||
               strcmp(r->kh, "differs") == 0) {
        r->status = "DISAGREE";
        ok = false;
    } else {
        r->status = "ok";
    }
    hostkey_clear(&reg);
    hostkey_clear(&file);
    hostkey_clear(&other);
    return ok;
}

static int
hosts_list(struct hosts_ctx *c)
{
    char **found = NULL;
    const char **hosts = NULL;
    size_t nfound = 0, nhosts = 0;
    struct list_row *rows = NULL;
    struct m3_diag d;
    bool all_ok = true;
    int rc = M3_EXIT_USAGE;

    m3_diag_clear(&d);
    if (c->o->nargs > 0) {
        hosts = (const char **)c->o->args;
        nhosts = (size_t)c->o->nargs;
    } else {
        if (hostkeys_repo_hosts(&c->repo, &found, &nfound, &d) != 0) {
            m3_error("%s", d.msg);
            return M3_EXIT_USAGE;
        }
        if ((hosts = calloc(nfound + c->repo.reg->nkeybinds + 1, sizeof(*hosts))) == NULL)
            goto out;
        for (size_t i = 0; i < nfound; i++)
            hosts[nhosts++] = found[i];
        /* --all: also every registry binding that holds one SSH key (users included). */
        for (size_t i = 0; c->o->all && i < c->repo.reg->nkeybinds; i++) {
            const struct reg_keybind *b = &c->repo.reg->keybinds[i];
            bool dup = false;

            if (b->is_list || b->nvalues != 1 || strncmp(b->values[0], "ssh-", 4) != 0)
                continue;
            for (size_t j = 0; j < nfound && !dup; j++)
                dup = strcmp(found[j], b->name) == 0;
            if (!dup)
                hosts[nhosts++] = b->name;
        }
    }
    if (nhosts > 0 && (rows = calloc(nhosts, sizeof(*rows))) == NULL)
        goto out;
    for (size_t i = 0; i < nhosts; i++)
        if (!list_row(c, hosts[i], &rows[i]))
            all_ok = false;
    if (c->o->json) {
        printf("[");
        for (size_t i = 0; i < nhosts; i++) {
            const struct list_row *r = &rows[i];

            printf("%s{\"host\":", i ? "," : "");
            json_str(r->host);
            printf(",\"registry_fingerprint\":");
            json_opt(r->reg_fp);
            printf(",\"file\":");
            json_str(r->file);
            printf(",\"file_fingerprint\":");
            json_opt(r->file_fp);
            printf(",\"known_hosts\":");
            json_opt(r->kh);
            printf(",\"known_hosts_fingerprint\":");
            json_opt(r->kh_fp);
            printf(",\"post_quantum\":");
            json_str(r->pq);
            printf(",\"status\":");
            json_str(r->status);
            printf("}");
        }
        printf("]\n");
    } else {
        size_t npq = 0;

        printf("%-14s %-51s %-8s %-11s %s\n", "HOST", "REGISTRY KEY", "FILE", "KNOWN_HOSTS",
               "STATUS");
        for (size_t i = 0; i < nhosts; i++) {
            const struct list_row *r = &rows[i];

            printf("%-14s %-51s %-8s %-11s %s\n", m3_shown(r->host), r->reg_fp, r->file, r->kh,
                   r->status);
            if (strcmp(r->pq, "no") != 0)
                printf("%14s   post-quantum identity: %s-pq%s\n", "", m3_shown(r->host),
                       strcmp(r->pq, "yes") == 0
                           ? ""
                           : " (some secrets still list the SSH key: run 'm3age hosts sync --pq')");
            npq += strcmp(r->pq, "no") != 0;
            if (strcmp(r->file, "differs") == 0 || strcmp(r->file, "present") == 0)
                printf("%14s   hosts/%s/ssh_host_ed25519_key.pub has %s\n", "", m3_shown(r->host),
                       r->file_fp);
            if (strcmp(r->kh, "differs") == 0)
                printf("%14s   known_hosts has %s\n", "", r->kh_fp);
        }
        if (npq > 0) /* a classical fleet's listing stays as it was */
            printf("post-quantum identities: %zu of %zu host%s%s\n", npq, nhosts,
                   nhosts == 1 ? "" : "s",
                   npq < nhosts ? " (the others decrypt with their classical SSH host key; see "
                                  "m3age.hostPqIdentity)"
                                : "");
        if (!all_ok)
            m3_hint("'m3age hosts sync' updates the registry from hosts/; "
                    "'m3age hosts add HOST' adds a missing host");
    }
    rc = all_ok ? M3_EXIT_OK : M3_EXIT_NEGATIVE;
out:
    free(rows);
    if (c->o->nargs == 0)
        free(hosts);
    for (size_t i = 0; i < nfound; i++)
        free(found[i]);
    free(found);
    return rc;
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
        rc = usage_error("these options belong to 'hosts sync', 'add' or 'rm'");
        goto out;
    }
    if (o.pq && (strcmp(sub, "sync") != 0 || o.known_hosts || o.accept_new)) {
        rc = usage_error("--pq belongs to 'hosts sync', with hosts/, --from or --scan");
        goto out;
    }
    if (strcmp(sub, "sync") == 0 && (o.nlists > 0 || o.json || o.all)) {
        rc = usage_error("hosts sync takes no --to, --json or --all");
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
