/* diff.c: `m3age diff`: the recipient plan, plaintext diffs between git revisions, and the
 * textconv filter git calls. */
#include "cmd/agent.h"
#include "cmd/agentproto.h"
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "cmd/opts.h"
#include "cmd/repo.h"
#include "cmd/report.h"
#include "keys/keys.h"
#include "libage/internal.h"
#include "secrets/audit.h"
#include "secrets/diff.h"

#include <errno.h>
#include <sodium.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
diff_usage(FILE *f)
{
    fprintf(f,
            "Usage: m3age diff [--rules FILE] [--json]\n"
            "       m3age diff [-i IDENTITY]... FILE [REV [REV] | REV..REV]\n"
            "       m3age diff --textconv [-i IDENTITY]... FILE\n\n"
            "With no FILE: the recipient plan, per secret, of what a rekey would add (+) and\n"
            "remove (-), by registry name, from the files' headers (no key needed). A key no\n"
            "binding names is shown whole; X25519 recipients only by count (their stanzas\n"
            "name no key); stanzas no key can be told from are marked ? and kept.\n\n"
            "With FILE: the unified diff of its plaintext between REV and the working tree\n"
            "(default REV: HEAD), or between two revisions; both sides are decrypted in\n"
            "memory. --textconv prints FILE's plaintext for git (see m3age git-setup).\n\n"
            "  -i, --identity FILE  identity file (repeatable; default: ~/.ssh/id_ed25519,\n"
            "                       ~/.ssh/id_rsa)\n"
            "  --rules FILE         the registry (default: $RULES, ./secrets.nix or a parent's)\n"
            "  --json               the plan as JSON (schema in m3age-audit(1))\n"
            "  --color[=WHEN]       always, never or auto (default: auto)\n"
            "  --nix, --no-nix      evaluate the registry with nix-instantiate, or never\n"
            "                       (default: only when m3age cannot evaluate it itself)\n\n"
            "Exit status: 0 no difference, 1 differences (the plan has changes), 2 error.\n");
}

/* plan_json: the plan as the --json document of m3age-audit(1). */
static void
plan_json(const struct secrets_plan *p, const char *registry)
{
    static const char *const states[] = {
        [SECRETS_PLAN_SAME] = "same",
        [SECRETS_PLAN_MISSING] = "missing",
        [SECRETS_PLAN_BROKEN] = "failed",
        [SECRETS_PLAN_CHANGE] = "change",
    };
    struct m3_plan_json j;

    m3_plan_json_begin(&j, stdout, registry);
    for (size_t i = 0; i < p->n; i++) {
        const struct secrets_plan_item *it = &p->v[i];
        const char **add = calloc(it->nadd + 1, sizeof(*add));
        const char **rm = calloc(it->nremove + 1, sizeof(*rm));
        char xa[32] = "", xr[32] = "";
        size_t na = 0, nr = 0;

        if (add == NULL || rm == NULL) {
            free(add);
            free(rm);
            break;
        }
        for (size_t k = 0; k < it->nadd; k++)
            add[na++] = it->add[k];
        for (size_t k = 0; k < it->nremove; k++)
            rm[nr++] = it->remove[k];
        /* X25519 stanzas name no recipient: counted, as the text shows them. */
        if (it->x25519_want > it->x25519_have) {
            snprintf(xa, sizeof(xa), "%zu X25519", it->x25519_want - it->x25519_have);
            add[na++] = xa;
        } else if (it->x25519_want < it->x25519_have) {
            snprintf(xr, sizeof(xr), "%zu X25519", it->x25519_have - it->x25519_want);
            rm[nr++] = xr;
        }
        m3_plan_json_item(&j, it->file, states[it->state], add, na, rm, nr,
                          (const char *const *)it->unattributed, it->nunattributed,
                          it->state == SECRETS_PLAN_BROKEN ? (it->error ? it->error : "?") : NULL);
        free(add);
        free(rm);
    }
    m3_plan_json_end(&j, p->nchange);
}

/* print_unattributed: the stanzas no key can be told from, which a rekey keeps. */
static void
print_unattributed(const struct secrets_plan_item *it, const char *sep)
{
    for (size_t j = 0; j < it->nunattributed; j++)
        printf("%s ?%s not attributable to any key (kept unless rekey --force)", j ? "" : sep,
               m3_shown(it->unattributed[j]));
}

static int
print_plan(const char *rules, bool json)
{
    struct secrets_plan *p = NULL;
    struct m3_diag d = {0};
    char *registry = m3_find_registry(rules);
    bool color = m3_use_color(stdout);
    const char *green = color ? "\033[32m" : "", *red = color ? "\033[31m" : "",
               *reset = color ? "\033[0m" : "";
    size_t nbroken = 0;
    int rc = M3_EXIT_USAGE;

    if (registry == NULL)
        return rc;
    if ((rc = secrets_plan_build(registry, &p, &d)) != 0) {
        m3_diag_error(rc, &d);
        free(registry);
        return M3_EXIT_USAGE;
    }
    for (size_t i = 0; i < p->n; i++)
        nbroken += p->v[i].state == SECRETS_PLAN_BROKEN;
    for (size_t i = 0; i < p->n && !json; i++) {
        const struct secrets_plan_item *it = &p->v[i];
        printf("%s:", m3_shown(it->file));
        switch (it->state) {
        case SECRETS_PLAN_SAME:
            printf(" up to date");
            print_unattributed(it, it->nunattributed > 0 ? "," : "");
            putchar('\n');
            continue;
        case SECRETS_PLAN_MISSING:
            printf(" no file (a rekey skips it; create it with 'm3age edit %s')\n",
                   m3_shown(it->file));
            continue;
        case SECRETS_PLAN_BROKEN:
            printf(" cannot read its header: %s\n", it->error ? m3_shown(it->error) : "?");
            continue;
        case SECRETS_PLAN_CHANGE:
            break;
        }
        for (size_t j = 0; j < it->nadd; j++)
            printf(" %s+%s%s", green, m3_shown(it->add[j]), reset);
        for (size_t j = 0; j < it->nremove; j++)
            printf(" %s-%s%s", red, m3_shown(it->remove[j]), reset);
        if (it->x25519_want > it->x25519_have && it->x25519_added != NULL)
            printf(" %s+%s%s", green, m3_shown(it->x25519_added), reset);
        else if (it->x25519_want < it->x25519_have)
            printf(" %s-%zu X25519 recipient%s no longer in the registry (the header cannot tell "
                   "which)%s",
                   red, it->x25519_have - it->x25519_want,
                   it->x25519_have - it->x25519_want == 1 ? "" : "s", reset);
        if (it->pq_want > it->pq_have && it->pq_added != NULL)
            printf(" %s+%s%s", green, m3_shown(it->pq_added), reset);
        else if (it->pq_want < it->pq_have)
            printf(" %s-%zu post-quantum (mlkem768x25519) recipient%s no longer in the registry "
                   "(the header cannot tell which)%s",
                   red, it->pq_have - it->pq_want, it->pq_have - it->pq_want == 1 ? "" : "s",
                   reset);
        print_unattributed(it, "");
        putchar('\n');
    }
    if (json)
        plan_json(p, registry);
    else
        printf("%zu of %zu secret%s would change on rekey\n", p->nchange, p->n,
               p->n == 1 ? "" : "s");
    rc = nbroken ? M3_EXIT_USAGE : p->nchange ? M3_EXIT_NEGATIVE : M3_EXIT_OK;
    secrets_plan_free(p);
    free(registry);
    return rc;
}

/* load_identities: -i files, else the default ssh keys that exist. */
static int
load_identities(struct keys_identities *ids, const char *const *files, size_t n)
{
    struct m3_diag d = {0};
    const char *home = getenv("HOME");

    for (size_t i = 0; i < n; i++)
        if (keys_identities_load_file(ids, files[i], m3_passphrase_cb, NULL, &d) != 0) {
            m3_error_diag(files[i], d.code, &d);
            return -1;
        }
    if (n == 0 && home != NULL) {
        static const char *const defaults[] = {".ssh/id_ed25519", ".ssh/id_rsa"};
        for (size_t i = 0; i < 2; i++) {
            char path[PATH_MAX];
            snprintf(path, sizeof(path), "%s/%s", home, defaults[i]);
            if (access(path, R_OK) != 0)
                continue;
            if (keys_identities_load_file(ids, path, m3_passphrase_cb, NULL, &d) != 0) {
                m3_error_diag(path, d.code, &d);
                return -1;
            }
        }
    }
    if (ids->n == 0) {
        m3_no_identity(NULL, true);
        return -1;
    }
    return 0;
}

static int
read_path(const char *path, unsigned char **out, size_t *len, bool *found)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    unsigned char *buf = NULL;
    size_t n = 0, cap = 0;

    *found = false;
    *out = NULL;
    *len = 0;
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    for (;;) {
        if (n + 65536 > cap) {
            unsigned char *nb = realloc(buf, cap = cap ? cap * 2 : 65536);
            if (nb == NULL) {
                free(buf);
                close(fd);
                return -1;
            }
            buf = nb;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            close(fd);
            return -1;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *out = buf;
    *len = n;
    *found = true;
    return 0;
}

/* side: the plaintext of one side (rev NULL: the working tree); absent file: empty. */
static int
side(const char *file, const char *rev, struct keys_identities *ids, unsigned char **pt,
     size_t *pt_len, bool *found)
{
    unsigned char *ct = NULL;
    size_t len = 0;
    struct m3_diag d = {0};
    char what[PATH_MAX + 128];
    int rc;

    *pt = NULL;
    *pt_len = 0;
    snprintf(what, sizeof(what), "%s%s%s", file, rev ? " at " : "", rev ? rev : "");
    if (rev == NULL)
        rc = read_path(file, &ct, &len, found) != 0 ? M3_EIO : 0;
    else
        rc = secrets_git_blob(rev, file, &ct, &len, found, &d);
    if (rc != 0) {
        if (d.msg[0])
            m3_diag_error(d.code, &d);
        else
            m3_error("%s: %s", what, strerror(errno));
        return -1;
    }
    if (!*found)
        return 0;
    rc = secrets_decrypt_mem(ct, len, ids->v, ids->n, pt, pt_len, &d);
    free(ct);
    if (rc != 0) {
        m3_error_diag(what, rc, &d);
        return -1;
    }
    return 0;
}

static int
diff_file(const char *file, const char *rev_a, const char *rev_b, struct keys_identities *ids)
{
    unsigned char *a = NULL, *b = NULL;
    size_t alen = 0, blen = 0;
    bool fa, fb;
    char la[PATH_MAX + 64], lb[PATH_MAX + 64];
    struct m3_diag d = {0};
    int rc = M3_EXIT_USAGE;

    if (side(file, rev_a, ids, &a, &alen, &fa) != 0 || side(file, rev_b, ids, &b, &blen, &fb) != 0)
        goto out;
    if (!fa && !fb) {
        m3_error("%s: no such file at %s nor %s", file, rev_a,
                 rev_b ? rev_b : "in the working tree");
        goto out;
    }
    snprintf(la, sizeof(la), "%s\t(%s)", fa ? file : "/dev/null", rev_a);
    snprintf(lb, sizeof(lb), "%s\t(%s)", fb ? file : "/dev/null", rev_b ? rev_b : "working tree");
    fflush(stdout);
    rc = secrets_unified_diff(a, alen, la, b, blen, lb, m3_use_color(stdout), 1, &d);
    if (rc < 0) {
        m3_diag_error(d.code, &d);
        rc = M3_EXIT_USAGE;
    }
out:
    age_secret_free(a);
    age_secret_free(b);
    return rc;
}

/* textconv: the plaintext for git; a file we cannot open shows as a note, not a failure,
 * so one unreadable secret does not break a whole `git diff`/`git log -p`. */
/* placeholder: what textconv prints for a version it cannot decrypt. It names the version
 * by a hash of its ciphertext, so that two different versions never look alike: git diff
 * would otherwise show "no change" for a changed secret. */
static void
placeholder(const unsigned char *ct, size_t len, const char *why)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[17];

    crypto_hash_sha256(h, ct, len);
    sodium_bin2hex(hex, sizeof(hex), h, 8);
    printf("(m3age: cannot decrypt this version, sha256 %s...: %s)\n", hex, m3_shown(why));
}

static int
textconv(const char *file, const char *const *idfiles, size_t nid)
{
    struct keys_identities ids = {0};
    unsigned char *ct = NULL, *pt = NULL;
    size_t len = 0, ptlen = 0;
    struct m3_diag d = {0};
    bool found;
    int rc = M3_EXIT_USAGE;

    if (read_path(file, &ct, &len, &found) != 0 || !found) {
        m3_error("%s: %s", file, found ? strerror(errno) : "no such file");
        goto out;
    }
    if (!secrets_is_age_bytes(ct, len)) { /* plaintext where a secret should be: show it */
        rc = m3_fd_write(&(int){1}, ct, len) == 0 ? 0 : M3_EXIT_USAGE;
        goto out;
    }
    if (getenv(M3_AGENT_ENV) != NULL) { /* under `m3age git`: its agent holds the keys */
        char why[700] = "", paths[M3_AGENT_MAX_IDS][PATH_MAX];
        const char *pv[M3_AGENT_MAX_IDS];
        const char *home = getenv("HOME");
        size_t np = 0;
        int arc;

        for (size_t i = 0; i < nid && np < M3_AGENT_MAX_IDS; i++) {
            if (realpath(idfiles[i], paths[np]) == NULL)
                snprintf(paths[np], PATH_MAX, "%s", idfiles[i]);
            pv[np] = paths[np];
            np++;
        }
        for (size_t i = 0; nid == 0 && home != NULL && i < 2; i++) {
            snprintf(paths[np], PATH_MAX, "%s/.ssh/%s", home, i == 0 ? "id_ed25519" : "id_rsa");
            if (access(paths[np], R_OK) == 0) {
                pv[np] = paths[np];
                np++;
            }
        }
        arc = m3_agent_decrypt(ct, len, pv, np, &pt, &ptlen, why, sizeof(why));
        if (arc == 0) {
            rc = m3_fd_write(&(int){1}, pt, ptlen) == 0 ? 0 : M3_EXIT_USAGE;
            goto out;
        }
        if (arc == 1) {
            placeholder(ct, len, why);
            rc = 0;
            goto out;
        }
    }
    if (load_identities(&ids, idfiles, nid) == 0 &&
        secrets_decrypt_mem(ct, len, ids.v, ids.n, &pt, &ptlen, &d) == 0) {
        rc = m3_fd_write(&(int){1}, pt, ptlen) == 0 ? 0 : M3_EXIT_USAGE;
        goto out;
    }
    placeholder(ct, len, d.msg[0] ? d.msg : "no identity");
    rc = 0;
out:
    keys_identities_clear(&ids);
    age_secret_free(pt);
    free(ct);
    return rc;
}

int
cmd_diff(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"color", optional_argument, NULL, 'C'},
        {"json", no_argument, NULL, 'j'},
        {"identity", required_argument, NULL, 'i'},
        {"textconv", no_argument, NULL, 't'},
        {"rules", required_argument, NULL, 'R'},
        M3_OPTS_NIX_HELP,
        {NULL, 0, NULL, 0},
    };
    const char **idfiles = calloc((size_t)argc + 1, sizeof(char *));
    struct keys_identities ids = {0};
    const char *rules = NULL;
    bool tconv = false, json = false;
    char *range = NULL;
    size_t nid = 0;
    int c, rc = M3_EXIT_USAGE;

    if (idfiles == NULL)
        return rc;
    optind = 1;
    while ((c = m3_getopt(argc, argv, "hi:", longopts, "diff")) != -1) {
        switch (c) {
        case 'i':
            idfiles[nid++] = optarg;
            break;
        case 't':
            tconv = true;
            break;
        case 'R':
            rules = optarg;
            break;
        case 'j':
            json = true;
            break;
        default:
            if (m3_opt_end(c, diff_usage, &rc))
                goto out;
            break;
        }
    }
    if (json && (tconv || argc > optind)) {
        m3_error("diff: --json is for the recipient plan (no FILE)");
        goto out;
    }
    argc -= optind;
    argv += optind;
    if (tconv) {
        if (argc != 1) {
            m3_error("--textconv takes exactly one FILE");
            goto out;
        }
        rc = textconv(argv[0], idfiles, nid);
    } else if (argc == 0) {
        if (nid > 0) {
            m3_error("the recipient plan needs no identity (-i is for FILE diffs)");
            goto out;
        }
        rc = print_plan(rules, json);
    } else if (argc > 3) {
        m3_error("diff: too many arguments: FILE [REV [REV]], not '%s'", argv[3]);
        m3_hint("run 'm3age diff --help' for its usage");
    } else if (argc == 2 && strstr(argv[1], "..") != NULL && strstr(argv[1], "...") == NULL) {
        /* git's range A..B (an empty side is HEAD), as git diff takes it */
        char *dots = strstr(argv[1], "..");
        if ((range = strdup(argv[1])) == NULL)
            goto out;
        range[dots - argv[1]] = '\0';
        if (load_identities(&ids, idfiles, nid) == 0)
            rc = diff_file(argv[0], range[0] ? range : "HEAD",
                           range[dots - argv[1] + 2] ? range + (dots - argv[1]) + 2 : "HEAD", &ids);
    } else if (load_identities(&ids, idfiles, nid) == 0) {
        rc = diff_file(argv[0], argc > 1 ? argv[1] : "HEAD", argc > 2 ? argv[2] : NULL, &ids);
    }
out:
    keys_identities_clear(&ids);
    free(idfiles);
    free(range);
    return rc;
}
