/* keys.c: `m3age keys convert` (ssh-to-age) and `m3age keys inspect` (whose keys a file is
 * encrypted to, read from the header alone). */
#include "cmd/cmd.h"
#include "cmd/crypt.h"
#include "cmd/io.h"
#include "cmd/report.h"
#include "keys/keys.h"
#include "registry/registry.h"
#include "secrets/plan.h"
#include "libage/internal.h"
#include "libage/ssh.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KEYFILE_MAX (1u << 20)

static void
keys_usage(FILE *f)
{
    fprintf(f, "Usage: m3age keys convert [--private] [FILE|-]\n"
               "       m3age keys inspect FILE.age [-i IDENTITY_FILE]... [-R RECIPIENTS_FILE]...\n"
               "                                   [-r RECIPIENT]... [--rules SECRETS_NIX] [--json]\n"
               "                                   [--nix | --no-nix]\n\n"
               "convert: print the age X25519 recipient (age1...) of each ssh-ed25519 public key\n"
               "  in FILE (default: standard input), as ssh-to-age does; with --private, the\n"
               "  AGE-SECRET-KEY-1... identity of an OpenSSH ed25519 private key.\n"
               "inspect: list the stanzas of an age file (type, tag) and which of the given keys\n"
               "  each one is for. ssh and tagged P-256 stanzas (piv-p256 of age-plugin-yubikey,\n"
               "  p256tag, mlkem768p256tag) are matched by their tag, with public keys alone;\n"
               "  X25519 and mlkem768x25519 stanzas only by identities (-i). Post-quantum\n"
               "  stanzas (mlkem768x25519, mlkem768p256tag) are marked [post-quantum]. The\n"
               "  registry's keys are known by the names audit gives them (`m3-ares`,\n"
               "  `keys.alice`, or the key itself when no binding names it): --rules, else\n"
               "  RULES, ./secrets.nix or the nearest one above (when there is one). --json:\n"
               "  the same as JSON (schema in m3age-keys(1)). --nix evaluates the registry with\n"
               "  nix-instantiate (by default only when m3age cannot), --no-nix never.\n\n"
               "Exit status: 0 done, 1 bad keys or input (not a key, not an age file), 2 usage\n"
               "error or a registry that does not load.\n");
}

/* read_input: a whole file or standard input into secret memory. */
static int
read_input(const char *path, char **buf, size_t *len)
{
    struct m3_diag d;

    m3_diag_clear(&d);
    if (keys_read_file(path == NULL || strcmp(path, "-") == 0 ? "/dev/stdin" : path, KEYFILE_MAX,
                       buf, len, &d) != 0) {
        m3_error_diag(m3_in_name(path), d.code, &d);
        return -1;
    }
    return 0;
}

static int
convert_public(const char *path)
{
    char *buf, *line, *save = NULL, out[AGE_X25519_RECIPIENT_LEN + 1];
    struct m3_diag d, first;
    unsigned lineno = 0, done = 0, skipped = 0;
    int rc = M3_EXIT_NEGATIVE;
    size_t len;

    if (read_input(path, &buf, &len) != 0)
        return M3_EXIT_NEGATIVE;
    m3_diag_clear(&first);
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *t = line + strspn(line, " \t");
        lineno++;
        if (*t == '\0' || *t == '#' || *t == '\r')
            continue;
        m3_diag_clear(&d);
        if (keys_convert_public(t, out, sizeof(out), &d) == 0) {
            printf("%s\n", out);
            done++;
            continue;
        }
        /* Key scans list every host key type: other types are skipped when some convert. */
        if (d.code == M3_EUNSUPPORTED) {
            if (skipped++ == 0)
                first = d, first.line = lineno;
            continue;
        }
        d.line = lineno;
        m3_error_diag(m3_in_name(path), d.code, &d);
        if (strncmp(t, "-----BEGIN", 10) == 0)
            m3_hint("this is a private key: 'm3age keys convert --private %s' prints its age "
                    "identity",
                    m3_in_name(path));
        else if (strncmp(t, "AGE-SECRET-KEY-", 15) == 0)
            m3_hint("this is an age identity: 'm3age keygen -y %s' prints its recipient",
                    m3_in_name(path));
        goto out;
    }
    if (done == 0) {
        if (skipped)
            m3_error_diag(m3_in_name(path), first.code, &first);
        else
            m3_error("%s: no SSH public key found", m3_in_name(path));
        goto out;
    }
    rc = 0;
out:
    age_secret_free(buf);
    return rc;
}

static int
convert_private(const char *path)
{
    char *buf, *out = age_secret_alloc(AGE_X25519_IDENTITY_LEN + 1);
    struct m3_diag d;
    size_t len;
    int rc = M3_EXIT_NEGATIVE;

    if (out == NULL || read_input(path, &buf, &len) != 0) {
        age_secret_free(out);
        return M3_EXIT_NEGATIVE;
    }
    m3_diag_clear(&d);
    if (keys_identity_file_exposed(path ? path : "", &d))
        m3_warn("%s", d.msg);
    m3_diag_clear(&d);
    if (keys_convert_private(buf, len, m3_in_name(path), m3_passphrase_cb, NULL, out,
                             AGE_X25519_IDENTITY_LEN + 1, &d) != 0) {
        /* Passphrase errors already name the key file. */
        size_t nl = strlen(m3_in_name(path));
        if (strncmp(d.msg, m3_in_name(path), nl) == 0 && d.msg[nl] == ':')
            m3_diag_error(d.code, &d);
        else
            m3_error_diag(m3_in_name(path), d.code, &d);
        goto out;
    }
    printf("%s\n", out);
    rc = 0;
out:
    age_secret_free(buf);
    age_secret_free(out);
    return rc;
}

static int
cmd_keys_convert(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"private", no_argument, NULL, 'p'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    bool private = false;
    int c;

    optind = 1;
    while ((c = m3_getopt(argc, argv, "h", longopts, "keys convert")) != -1) {
        switch (c) {
        case 'p':
            if (private) {
                m3_error("--private given twice");
                return M3_EXIT_USAGE;
            }
            private = true;
            break;
        case 'h':
            keys_usage(stdout);
            return 0;
        default:
            return M3_EXIT_USAGE;
        }
    }
    if (argc - optind > 1) {
        m3_error("convert takes one file");
        keys_usage(stderr);
        return M3_EXIT_USAGE;
    }
    return private ? convert_private(argv[optind]) : convert_public(argv[optind]);
}

/* add_registry_keys: every key of the registry (in an entry's publicKeys or bound in the
 * top-level `let`) goes in under the name audit and diff give it (secrets_keyset_build: its
 * let name, `keys.alice`, or the key itself), so inspect prints registry names. */
static int
add_registry_keys(struct keys_known *known, const char *rules)
{
    struct reg_registry *reg = NULL;
    struct secrets_keyset ks = {0};
    struct m3_diag d;
    int rc = -1;

    m3_diag_clear(&d);
    if (reg_load_path(rules, NULL, &reg, &d) != 0) {
        /* d names the registry and the position already, as every command prints it */
        m3_diag_error(d.code, &d);
        goto out;
    }
    if (secrets_keyset_build_light(&ks, reg) != 0) {
        m3_error("out of memory");
        goto out;
    }
    for (size_t i = 0; i < ks.n; i++) {
        const struct secrets_key *k = &ks.v[i];
        m3_diag_clear(&d);
        if (k->kind == SECRETS_KEY_INVALID)
            m3_warn("%s: key %s is not a recipient m3age understands: %s", rules, m3_shown(k->name),
                    k->error);
        else if (keys_known_add_recipient(known, k->name, k->text, &d) != 0)
            m3_warn("%s: key %s is not a recipient m3age understands: %s", rules, m3_shown(k->name),
                    d.msg);
    }
    rc = 0;
out:
    secrets_keyset_clear(&ks);
    reg_registry_free(reg);
    return rc;
}

static int
add_identity_file(struct keys_known *known, const char *path)
{
    struct keys_identities ids = {0};
    struct m3_diag d;
    char name[4200];
    int rc = -1;

    m3_diag_clear(&d);
    /* No passphrase callback: inspecting never unlocks anything. */
    if (keys_identities_load_file(&ids, path, NULL, NULL, &d) != 0) {
        m3_error_diag(path, d.code, &d);
        goto out;
    }
    for (size_t i = 0; i < ids.n; i++) {
        if (ids.n > 1)
            snprintf(name, sizeof(name), "%s (key %zu)", path, i + 1);
        else
            snprintf(name, sizeof(name), "%s", path);
        if (keys_known_add_identity(known, name, ids.v[i]) != 0)
            goto out;
        ids.v[i] = NULL;
    }
    rc = 0;
out:
    for (size_t i = 0; i < ids.n; i++)
        age_identity_free(ids.v[i]);
    free(ids.v);
    return rc;
}

static int
add_recipients_file(struct keys_known *known, const char *path)
{
    char *buf, *line, *save = NULL, name[4200];
    struct m3_diag d;
    unsigned lineno = 0;
    size_t len;
    int rc = 0;

    if (read_input(path, &buf, &len) != 0)
        return -1;
    for (line = strtok_r(buf, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char *t = line + strspn(line, " \t"), *e = t + strlen(t);
        lineno++;
        while (e > t && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*t == '\0' || *t == '#')
            continue;
        snprintf(name, sizeof(name), "%s:%u", path, lineno);
        m3_diag_clear(&d);
        if (keys_known_add_recipient(known, name, t, &d) != 0) {
            d.line = lineno;
            m3_error_diag(path, d.code, &d);
            rc = -1;
            break;
        }
    }
    age_secret_free(buf);
    return rc;
}

static void
print_stanza(const struct keys_known *known, const struct age_stanza *s)
{
    size_t idx[16], n = keys_known_match(known, s, idx, 16);
    bool ssh = strcmp(s->type, "ssh-ed25519") == 0 || strcmp(s->type, "ssh-rsa") == 0;
    bool tagged = (ssh || keys_stanza_is_tagged(s)) && s->nargs > 0;
    bool pq = strcmp(s->type, "mlkem768x25519") == 0 || strcmp(s->type, "mlkem768p256tag") == 0;
    size_t tl = strlen(s->type);

    printf("  %-12s %-7s ", m3_shown(s->type), tagged ? m3_shown(s->args[0]) : "-");
    if (n == 0)
        printf("%s", tagged                           ? "unknown key"
                     : strcmp(s->type, "X25519") == 0 ? "unknown (X25519 stanzas name no key)"
                     : strcmp(s->type, "mlkem768x25519") == 0
                         ? "unknown (mlkem768x25519 stanzas name no key)"
                     : strcmp(s->type, "scrypt") == 0 ? "passphrase"
                     : tl > 7 && strcmp(s->type + tl - 7, "-grease") == 0
                         ? "grease (for no key)"
                         : "not attributable (its type names no key m3age can recognise)");
    for (size_t i = 0; i < n; i++)
        printf("%s%s", m3_shown(known->v[idx[i]].name), i + 1 < n ? ", " : "");
    printf("%s\n", pq ? " [post-quantum]" : "");
}

/* stanza_json: one stanza of keys inspect --json. */
static void
stanza_json(const struct keys_known *known, const struct age_stanza *s, bool first)
{
    size_t idx[16], n = keys_known_match(known, s, idx, 16);
    bool ssh = strcmp(s->type, "ssh-ed25519") == 0 || strcmp(s->type, "ssh-rsa") == 0;

    printf("%s\n    {\"type\": ", first ? "" : ",");
    m3_json_str(stdout, s->type);
    printf(", \"tag\": ");
    if ((ssh || keys_stanza_is_tagged(s)) && s->nargs > 0)
        m3_json_str(stdout, s->args[0]);
    else
        fputs("null", stdout);
    printf(", \"keys\": [");
    for (size_t i = 0; i < n; i++) {
        if (i > 0)
            fputs(", ", stdout);
        m3_json_str(stdout, known->v[idx[i]].name);
    }
    printf("]}");
}

/* default_registry: the registry found as the repository commands find it, for names; NULL
 * when there is none (keys inspect also works on any age file). */
static char *
default_registry(void)
{
    char cwd[4096], *path = NULL;

    size_t n;

    if (getcwd(cwd, sizeof(cwd)) == NULL ||
        reg_locate(NULL, getenv("RULES"), cwd, &path, NULL, NULL) != 0)
        return NULL;
    /* named as the other commands name it (m3_find_registry): "secrets.nix" for the working
     * directory's own */
    n = strlen(cwd);
    if (strncmp(path, cwd, n) == 0 && strcmp(path + n, "/secrets.nix") == 0)
        memmove(path, path + n + 1, strlen(path + n + 1) + 1);
    return path;
}

static int
cmd_keys_inspect(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"identity", required_argument, NULL, 'i'},
        {"recipients-file", required_argument, NULL, 'R'},
        {"recipient", required_argument, NULL, 'r'},
        {"rules", required_argument, NULL, 'L'},
        {"json", no_argument, NULL, 'j'},
        {"nix", no_argument, &m3_nix_mode, M3_NIX_ALWAYS},
        {"no-nix", no_argument, &m3_nix_mode, M3_NIX_NEVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct keys_known known = {0};
    struct age_header *h = NULL;
    const char *rules = NULL, *path;
    char *found = NULL;
    struct m3_diag d;
    bool json = false;
    int c, in = -1, rc = M3_EXIT_USAGE;

    optind = 1;
    /* First pass: options only, so that keys are loaded in the order given. */
    while ((c = m3_getopt(argc, argv, "i:R:r:h", longopts, "keys inspect")) != -1) {
        m3_diag_clear(&d);
        switch (c) {
        case 'i':
            if (add_identity_file(&known, optarg) != 0)
                goto out;
            break;
        case 'R':
            if (add_recipients_file(&known, optarg) != 0)
                goto out;
            break;
        case 'r':
            if (keys_known_add_recipient(&known, optarg, optarg, &d) != 0) {
                m3_error("recipient '%.80s': %s", optarg, d.msg);
                m3_diag_hint_print(&d);
                goto out;
            }
            break;
        case 'L':
            if (rules != NULL) {
                m3_error("--rules given twice");
                goto out;
            }
            rules = optarg;
            break;
        case 'j':
            json = true;
            break;
        case 0: /* --nix, --no-nix: m3_nix_mode set */
            break;
        case 'h':
            keys_usage(stdout);
            rc = 0;
            goto out;
        default:
            goto out;
        }
    }
    if (argc - optind != 1) {
        m3_error(argc - optind ? "inspect takes one file" : "missing the age file to inspect");
        keys_usage(stderr);
        goto out;
    }
    if (rules == NULL)
        rules = found = default_registry();
    if (rules != NULL && add_registry_keys(&known, rules) != 0)
        goto out;
    path = argv[optind];
    rc = M3_EXIT_NEGATIVE;
    if ((in = m3_in_open(path)) < 0)
        goto out;
    m3_diag_clear(&d);
    if (age_header_read(&h, m3_fd_read, &in, &d) != 0) {
        m3_error_diag(m3_in_name(path), d.code, &d);
        goto out;
    }
    if (json) {
        printf("{\n  \"version\": 1,\n  \"file\": ");
        m3_json_str(stdout, m3_in_name(path));
        printf(",\n  \"armored\": %s,\n  \"stanzas\": [", h->armored ? "true" : "false");
        for (size_t i = 0; i < h->nstanzas; i++)
            stanza_json(&known, &h->stanzas[i], i == 0);
        printf("%s]\n}\n", h->nstanzas ? "\n  " : "");
    } else {
        printf("%s: %zu stanza%s%s\n", m3_shown(m3_in_name(path)), h->nstanzas,
               h->nstanzas == 1 ? "" : "s", h->armored ? " (armored)" : "");
        for (size_t i = 0; i < h->nstanzas; i++)
            print_stanza(&known, &h->stanzas[i]);
    }
    rc = 0;
out:
    free(found);
    if (in > 0)
        close(in);
    age_header_free(h);
    keys_known_clear(&known);
    return rc;
}

int
cmd_keys(int argc, char **argv)
{
    if (argc < 2) {
        m3_error("missing subcommand");
        keys_usage(stderr);
        return M3_EXIT_USAGE;
    }
    if (m3_is_help(argv[1])) {
        keys_usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "convert") == 0)
        return cmd_keys_convert(argc - 1, argv + 1);
    if (strcmp(argv[1], "inspect") == 0)
        return cmd_keys_inspect(argc - 1, argv + 1);
    m3_error("unknown subcommand 'keys %s'", argv[1]);
    keys_usage(stderr);
    return M3_EXIT_USAGE;
}
