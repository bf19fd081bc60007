/* registry.c: `m3age registry eval|add|set-key|rm|rm-key|hosts`. */
#include "cmd/cmd.h"
#include "secrets/plan.h"
#include "secrets/repo.h"
#include "keys/keys.h"
#include "libage/age.h"
#include "registry/registry.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

struct reg_opts {
    const char *rules;
    bool json;
    bool nix;
    bool verbose;
    int nargs;
    char **args;
};

static void
registry_usage(FILE *f)
{
    fprintf(f, "Usage: m3age registry eval [--rules FILE] [--json] [--nix] [-v]\n"
               "       m3age registry add NAME.age KEYNAME... [--rules FILE]\n"
               "       m3age registry set-key KEYNAME \"KEY\" [--rules FILE]\n"
               "       m3age registry rm NAME.age [--rules FILE]\n"
               "       m3age registry rm-key KEYNAME [--rules FILE]\n"
               "       m3age registry hosts [--json] [--rules FILE]\n\n"
               "Read and change secrets.nix without Nix. The registry is --rules FILE, else\n"
               "$RULES, else ./secrets.nix, else the first secrets.nix up to the repository\n"
               "root. eval prints the entries and checks each (publicKeys: a non-empty list\n"
               "of recipients m3age can encrypt to; armor: a Boolean), every problem with its\n"
               "line and column, a bad key once; --json prints exactly what nix-instantiate\n"
               "--eval --strict --json prints; --nix runs nix-instantiate instead. add,\n"
               "set-key, rm and rm-key change only the bytes they must and check the result\n"
               "before writing it. hosts lists the secret files each hosts/<host>/ module\n"
               "uses. 'man m3age-registry' has the details.\n");
}

static int
usage_error(const char *why)
{
    m3_error("%s", why);
    registry_usage(stderr);
    return M3_EXIT_USAGE;
}

/* parse_opts: options anywhere among the arguments; the rest are positional. */
static int
parse_opts(int argc, char **argv, struct reg_opts *o)
{
    int i;

    o->args = calloc((size_t)argc + 1, sizeof(*o->args));
    if (o->args == NULL)
        return -1;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--rules") == 0) {
            if (i + 1 >= argc) {
                usage_error("--rules needs a FILE");
                return -1;
            }
            if (o->rules != NULL) {
                usage_error("--rules given twice");
                return -1;
            }
            o->rules = argv[++i];
        } else if (strncmp(a, "--rules=", 8) == 0) {
            o->rules = a + 8;
        } else if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--nix") == 0) {
            o->nix = true;
            m3_nix_mode = M3_NIX_ALWAYS;
        } else if (strcmp(a, "--no-nix") == 0) {
            o->nix = false;
            m3_nix_mode = M3_NIX_NEVER;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            o->verbose = true;
        } else if (strcmp(a, "--") == 0) {
            for (i++; i < argc; i++)
                o->args[o->nargs++] = argv[i];
        } else if (a[0] == '-' && a[1] != '\0') {
            char why[128];
            snprintf(why, sizeof(why), "unknown option '%s'", a);
            usage_error(why);
            return -1;
        } else {
            o->args[o->nargs++] = argv[i];
        }
    }
    return 0;
}

static char *
locate(const struct reg_opts *o)
{
    struct m3_diag d = {0};
    const char *how = NULL;
    char *path = NULL;

    if (reg_locate(o->rules, getenv("RULES"), ".", &path, &how, &d) != 0) {
        m3_diag_error(d.code, &d);
        if (d.code == M3_ENOTFOUND) /* not when the layout said what to do */
            m3_hint("run it in the repository, or name the registry with --rules FILE");
        return NULL;
    }
    if (o->verbose)
        m3_info("using registry '%s' (from %s)", path, how);
    return path;
}

static void
report(int rc, const struct m3_diag *d, const char *path)
{
    if (d->msg[0] != '\0')
        m3_diag_error(d->code, d);
    else
        m3_error("%s: %s", path, m3_strerror(rc));
    if (rc == M3_EUNSUPPORTED && strstr(d->msg, "--nix") != NULL) {
        if (m3_nix_mode == M3_NIX_NEVER)
            m3_hint("drop --no-nix to evaluate '%s' with nix-instantiate", path);
        else if (!m3_nix_installed())
            m3_hint("install Nix (Debian: nix-bin) to evaluate '%s' with nix-instantiate", path);
    }
}

/* load: parses and evaluates the registry at path; prints errors. */
static int
load(const char *path, struct reg_file **f, struct reg_registry **r)
{
    struct m3_diag d = {0};
    int rc = reg_load_path(path, f, r, &d);

    if (rc != 0)
        report(rc, &d, path);
    return rc;
}

static void
print_warnings(const struct reg_registry *r)
{
    for (size_t i = 0; i < r->nwarnings; i++)
        m3_warn("%s", r->warnings[i].msg);
}

/* print_nix: the registry's JSON as nix-instantiate prints it (the shared runner). */
static int
print_nix(const char *path)
{
    struct m3_diag d = {0};
    char *json = NULL;
    size_t len = 0;
    int rc = m3_nix_eval(path, &json, &len, &d);

    if (rc != 0) {
        m3_diag_error(d.code, &d);
        if (rc == M3_ENOTFOUND)
            m3_hint("install Nix (Debian: nix-bin) or drop --nix");
        return M3_EXIT_USAGE;
    }
    rc = fwrite(json, 1, len, stdout) == len &&
                 (!isatty(STDOUT_FILENO) || fputc('\n', stdout) != EOF)
             ? 0
             : M3_EXIT_USAGE;
    free(json);
    if (fflush(stdout) != 0 || rc != 0) {
        m3_error("standard output: %s", strerror(errno));
        return M3_EXIT_USAGE;
    }
    return 0;
}

/* A registry opened for evaluation or editing: its text, syntax tree, evaluation options
 * (a reader confined to the repository root) and, for editing, the loaded registry. */
struct opened {
    struct reg_file *f;
    struct reg_registry *r;
    struct reg_reader reader;
    struct reg_eval_opts opts;
    char *dir;
};

static void
close_reg(struct opened *o)
{
    reg_registry_free(o->r);
    reg_reader_fs_free(&o->reader);
    reg_file_free(o->f);
    free(o->dir);
}

/* open_reg: reads and parses path and prepares the options; loads the registry when load. */
static int
open_reg(const char *path, struct opened *o, bool load, struct m3_diag *d)
{
    int rc;

    memset(o, 0, sizeof(*o));
    if ((rc = reg_parse_path(path, &o->f, d)) != 0 || (rc = reg_file_dir(path, &o->dir, d)) != 0)
        goto out;
    if ((rc = reg_reader_repo(o->dir, &o->reader)) != 0) {
        m3_diag_set(d, rc, "out of memory");
        goto out;
    }
    o->opts.reader = &o->reader;
    o->opts.base_dir = o->dir;
    if (load && (rc = reg_registry_load(o->f, &o->opts, &o->r, d)) == 0)
        rc = reg_check_names(o->r, o->dir, d);
out:
    return rc;
}

static int
eval_json(const char *path)
{
    struct opened o;
    struct m3_diag d = {0};
    int rc, status = M3_EXIT_USAGE;

    if (m3_nix_mode == M3_NIX_ALWAYS)
        return print_nix(path);
    /* written as it is printed (the value is checked whole first: an error writes nothing) */
    if ((rc = open_reg(path, &o, false, &d)) != 0 ||
        (rc = reg_eval_json_fd(o.f, &o.opts, STDOUT_FILENO, &d)) != 0) {
        if (rc == M3_EUNSUPPORTED && m3_nix_may_fall_back(path)) {
            /* the fallback reg_load_path makes for the other commands, with Nix's bytes */
            m3_nix_note(path, &d);
            close_reg(&o);
            return print_nix(path);
        }
        goto out;
    }
    /* nix-instantiate --json ends without a newline: keep the bytes identical for pipes (the
     * JSON went to the descriptor itself: stdio holds nothing else to flush) */
    status = 0;
    if (isatty(STDOUT_FILENO) && (fputc('\n', stdout) == EOF || fflush(stdout) != 0))
        status = M3_EXIT_USAGE;
out:
    if (rc != 0)
        report(rc, &d, path);
    close_reg(&o);
    return status;
}

/* edit: runs one writer on the registry at path and writes the result atomically. */
static int
edit(const struct reg_opts *o, const char *path)
{
    const char *sub = o->args[0];
    struct opened reg;
    struct m3_diag d = {0};
    char *text = NULL;
    size_t len;
    int rc;

    if (o->nix) /* Nix gives values, not where they are written */
        return usage_error("--nix: the writers edit only a registry m3age evaluates itself");
    if ((strcmp(sub, "add") == 0 && o->nargs < 3) ||
        (strcmp(sub, "set-key") == 0 && o->nargs != 3) ||
        ((strcmp(sub, "rm") == 0 || strcmp(sub, "rm-key") == 0) && o->nargs != 2))
        return usage_error("wrong number of arguments");
    if (strcmp(sub, "set-key") == 0 && (strcasestr(o->args[2], "SECRET-KEY") != NULL ||
                                        strstr(o->args[2], "PRIVATE KEY") != NULL)) {
        /* secrets.nix is public: never write a secret key into it (the key is not quoted). */
        m3_error("%s: set-key %s: this is a secret key, not a recipient (use 'm3age keygen -y' "
                 "or the .pub file)",
                 path, o->args[1]);
        return M3_EXIT_USAGE;
    }
    if (strcmp(sub, "set-key") == 0) {
        /* the key must be one every command can then use: refused before the file is read */
        struct age_recipient *key = NULL;
        if (keys_recipient_parse(&key, o->args[2], &d) != 0) {
            m3_error("%s: set-key %s: not a recipient m3age can use: %s", path, o->args[1],
                     d.msg[0] ? d.msg : "malformed");
            m3_hint("a key is an age recipient (age1...) or an SSH public key (ssh-ed25519, "
                    "ssh-rsa), as in a .pub file");
            return M3_EXIT_USAGE;
        }
        age_recipient_free(key);
    }
    if (strcmp(sub, "add") == 0) {
        size_t n = strlen(o->args[1]);
        /* agenix and the NixOS module take any name, so this is a warning: a name without
         * .age is almost always a typo for one. */
        if (n < 4 || strcmp(o->args[1] + n - 4, ".age") != 0)
            m3_warn("%s: the name does not end in .age (age files are NAME.age)", o->args[1]);
    }
    if ((rc = open_reg(path, &reg, true, &d)) != 0)
        goto out;
    for (size_t i = 0; i < reg.r->nwarnings; i++)
        m3_warn("%s", reg.r->warnings[i].msg);
    if (strcmp(sub, "add") == 0)
        rc = reg_edit_add(reg.f, reg.r, &reg.opts, o->args[1], (const char *const *)o->args + 2,
                          (size_t)o->nargs - 2, &text, &len, &d);
    else if (strcmp(sub, "set-key") == 0)
        rc = reg_edit_set_key(reg.f, reg.r, &reg.opts, o->args[1], o->args[2], &text, &len, &d);
    else if (strcmp(sub, "rm") == 0)
        rc = reg_edit_rm(reg.f, reg.r, &reg.opts, o->args[1], &text, &len, &d);
    else
        rc = reg_edit_rm_key(reg.f, reg.r, &reg.opts, o->args[1], &text, &len, &d);
    if (rc != 0)
        goto out;
    if ((rc = reg_write_atomic(path, text, len, &d)) != 0)
        goto out;
    if (o->verbose || strcmp(sub, "add") == 0)
        m3_info("%s: %s %s: written", path, sub, o->args[1]);
out:
    if (rc != 0) {
        report(rc, &d, path);
        if (rc == M3_EUNSUPPORTED)
            m3_hint("the file was left unchanged; make this edit by hand");
    }
    close_reg(&reg);
    free(text);
    return rc == 0 ? 0 : (rc == M3_ENOTFOUND ? M3_EXIT_NEGATIVE : M3_EXIT_USAGE);
}

/* check_recipients: every publicKeys element must be a recipient m3age can encrypt to. Each
 * distinct key is parsed once (secrets/plan.c's keyset: a registry lists the same few keys
 * thousands of times, and an Ed25519 key's conversion to X25519 is not free) and each bad one
 * is reported once, at its first use, with its position, then a hint. Returns whether all
 * are good (false also when out of memory, reported). */
static bool
check_recipients(const struct reg_registry *r)
{
    struct secrets_keyset ks = {0};
    bool *reported;
    size_t bad = 0;

    if (secrets_keyset_build(&ks, r) != 0 || (reported = calloc(ks.n + 1, 1)) == NULL) {
        secrets_keyset_clear(&ks);
        m3_error("%s: out of memory", r->path);
        return false;
    }
    for (size_t i = 0; i < r->nentries; i++) {
        const struct reg_entry *e = &r->entries[i];
        for (size_t k = 0; k < e->nkeys; k++) {
            const struct secrets_key *key = secrets_keyset_find(&ks, e->keys[k]);
            const struct reg_span *sp = &e->key_spans[k];
            if (key == NULL || key->kind != SECRETS_KEY_INVALID || reported[key - ks.v])
                continue;
            reported[key - ks.v] = true;
            bad++;
            if (sp->line == 0) /* evaluated by Nix: no place to name */
                m3_error("%s: '%s': publicKeys element %zu is not a recipient m3age can use: %s",
                         r->path, e->name, k + 1, key->error[0] ? key->error : "malformed");
            else
                m3_error("%s:%u:%u: '%s': publicKeys element %zu is not a recipient m3age can "
                         "use: %s",
                         sp->file != NULL ? sp->file : r->path, sp->line, sp->col, e->name, k + 1,
                         key->error[0] ? key->error : "malformed");
        }
    }
    free(reported);
    secrets_keyset_clear(&ks);
    if (bad > 0)
        m3_hint("publicKeys holds age recipients (age1...) and SSH public keys (ssh-ed25519, "
                "ssh-rsa)");
    return bad == 0;
}

static int
do_eval(const struct reg_opts *o, const char *path)
{
    struct reg_registry *r = NULL;
    struct reg_file *f = NULL;

    if (o->nargs > 1)
        return usage_error("eval takes no arguments");
    if (o->json)
        return eval_json(path);
    if (load(path, &f, &r) != 0)
        return M3_EXIT_USAGE;
    print_warnings(r);
    if (!check_recipients(r)) {
        reg_registry_free(r);
        reg_file_free(f);
        return M3_EXIT_USAGE;
    }
    for (size_t i = 0; i < r->nentries; i++) {
        const struct reg_entry *e = &r->entries[i];
        printf("%s%s\n", m3_shown(e->name), e->armor ? " (armor)" : "");
        for (size_t k = 0; k < e->nkeys; k++) {
            /* shown without the line end that a key read by builtins.readFile keeps */
            size_t len = strlen(e->keys[k]), n = len;
            char *key = NULL;
            while (n > 0 && strchr(" \t\r\n", e->keys[k][n - 1]) != NULL)
                n--;
            if (n < len)
                key = strndup(e->keys[k], n);
            printf("  %s\n", m3_shown(key != NULL ? key : e->keys[k]));
            free(key);
        }
    }
    reg_registry_free(r);
    reg_file_free(f);
    return 0;
}

static void
json_str(const char *s)
{
    putchar('"');
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c == '\n')
            fputs("\\n", stdout);
        else if (c < 0x20)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void
json_at(const struct reg_span *sp)
{
    printf(",\"at\":");
    json_str(sp->file);
    printf(",\"line\":%u,\"col\":%u}", sp->line, sp->col);
}

static void
print_hosts_json(const struct reg_hosts *hs)
{
    putchar('{');
    for (size_t i = 0; i < hs->nhosts; i++) {
        const struct reg_host *h = &hs->hosts[i];
        printf("%s", i ? "," : "");
        json_str(h->name);
        printf(":{\"secrets\":[");
        for (size_t k = 0; k < h->nsecrets; k++) {
            printf("%s{\"name\":", k ? "," : "");
            json_str(h->secrets[k].secret);
            printf(",\"file\":");
            json_str(h->secrets[k].file);
            json_at(&h->secrets[k].span);
        }
        printf("],\"unresolved\":[");
        for (size_t k = 0; k < h->nunresolved; k++) {
            printf("%s{\"name\":", k ? "," : "");
            json_str(h->unresolved[k].secret);
            printf(",\"expr\":");
            json_str(h->unresolved[k].text);
            json_at(&h->unresolved[k].span);
        }
        printf("]}");
    }
    printf("}\n");
}

static int
do_hosts(const struct reg_opts *o)
{
    struct reg_hosts *hs = NULL;
    struct m3_diag d = {0};
    char *root = NULL;
    int rc;

    if (o->nargs > 1)
        return usage_error("hosts takes no arguments");
    {
        /* The hosts of the registry's repository (--rules, RULES), else of this folder's. */
        char *path = NULL;
        rc = reg_locate(o->rules, getenv("RULES"), ".", &path, NULL, NULL) == 0
                 ? reg_repo_root(path, &root, &d)
                 : reg_repo_root(".", &root, &d);
        free(path);
    }
    if (rc != 0 || (rc = reg_hosts_scan(root, &hs, &d)) != 0) {
        m3_diag_error(d.code, &d);
        free(root);
        return M3_EXIT_USAGE;
    }
    if (o->verbose)
        m3_info("scanning '%s/hosts'", root);
    if (o->json) {
        print_hosts_json(hs);
    } else {
        for (size_t i = 0; i < hs->nhosts; i++) {
            const struct reg_host *h = &hs->hosts[i];
            printf("%s\n", m3_shown(h->name));
            for (size_t k = 0; k < h->nsecrets; k++)
                printf("  %s  (age.secrets.%s, %s:%u:%u)\n", m3_shown(h->secrets[k].file),
                       m3_shown(h->secrets[k].secret), m3_shown(h->secrets[k].span.file),
                       h->secrets[k].span.line, h->secrets[k].span.col);
            for (size_t k = 0; k < h->nunresolved; k++)
                printf("  ? %s  (age.secrets.%s, %s:%u:%u: not resolved)\n",
                       m3_shown(h->unresolved[k].text), m3_shown(h->unresolved[k].secret),
                       m3_shown(h->unresolved[k].span.file), h->unresolved[k].span.line,
                       h->unresolved[k].span.col);
        }
    }
    reg_hosts_free(hs);
    free(root);
    return fflush(stdout) == 0 ? 0 : M3_EXIT_USAGE;
}

int
cmd_registry(int argc, char **argv)
{
    struct reg_opts o = {0};
    char *path = NULL;
    const char *sub;
    int rc = M3_EXIT_USAGE;

    if (argc < 2)
        return usage_error("missing subcommand");
    if (m3_is_help(argv[1])) {
        registry_usage(stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++)
        if (m3_is_help(argv[i])) {
            registry_usage(stdout);
            return 0;
        }
    if (parse_opts(argc, argv, &o) != 0)
        goto out;
    if (o.nargs == 0) {
        rc = usage_error("missing subcommand");
        goto out;
    }
    sub = o.args[0];
    if (strcmp(sub, "eval") != 0 && strcmp(sub, "add") != 0 && strcmp(sub, "set-key") != 0 &&
        strcmp(sub, "rm") != 0 && strcmp(sub, "rm-key") != 0 && strcmp(sub, "hosts") != 0) {
        rc = usage_error("unknown registry subcommand");
        goto out;
    }
    if (strcmp(sub, "hosts") == 0) {
        rc = do_hosts(&o);
        goto out;
    }
    /* only the JSON of `eval --json` (and `hosts`) needs no key checked */
    if (!(strcmp(sub, "eval") == 0 && o.json) && m3_crypto_init() != 0)
        goto out;
    if ((path = locate(&o)) == NULL)
        goto out;
    if (strcmp(sub, "eval") == 0)
        rc = do_eval(&o, path);
    else if (strcmp(sub, "add") == 0 || strcmp(sub, "set-key") == 0 || strcmp(sub, "rm") == 0 ||
             strcmp(sub, "rm-key") == 0)
        rc = edit(&o, path);
    else
        rc = usage_error("unknown registry subcommand");
out:
    free(path);
    free(o.args);
    return rc;
}
