/* main.c: the command table, the messages helpers and the dispatch, including the age and
 * agenix compatibility entry points. */
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "libage/age.h"

#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

const char *m3_progname = "m3age";

static int cmd_help(int argc, char **argv);

static const struct m3_cmd commands[] = {
    {"encrypt", cmd_encrypt, "encrypt a file to recipients or a passphrase"},
    {"decrypt", cmd_decrypt, "decrypt a file with identities or a passphrase"},
    {"registry", cmd_registry,
     "read and change secrets.nix (eval, add, set-key, rm, rm-key, hosts)"},
    {"keygen", cmd_keygen, "generate an age identity, or print an identity's recipient (-y)"},
    {"hosts", cmd_hosts, "list hosts' SSH keys; sync, add or remove them in the registry"},
    {"edit", cmd_edit, "edit a secret of the repository (decrypt, $EDITOR, re-encrypt)"},
    {"rekey", cmd_rekey, "re-encrypt secrets to the registry's recipients (lazy, all or nothing)"},
    {"audit", cmd_audit, "find what would break or leak at deployment, with no private key"},
    {"check", cmd_check, "the pre-deploy gate: can this host open every secret it uses?"},
    {"affected", cmd_affected, "the hosts whose deployed secrets differ from a git revision"},
    {"diff", cmd_diff, "recipient plan, or plaintext diff of a secret between git revisions"},
    {"git", cmd_git, "run git with a decryption agent: one passphrase prompt per git command"},
    {"git-setup", cmd_git_setup, "git diff of secrets' plaintext and a pre-commit hook"},
    {"keys", cmd_keys, "convert ssh keys to age keys; show whose keys a file is encrypted to"},
    {"version", cmd_version, "print the version"},
    {"help", cmd_help, "show this help, or a command's help"},
};

/* escaped: whether messages and reports show byte c as \xNN (control characters, DEL). */
static int
escaped(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* vmsg: one line on stderr. Messages quote input (file names, recipients, registry text)
 * that anyone with push access controls: control characters are shown as \xNN, so a message
 * can neither carry terminal escape sequences nor forge a second line. */
static __attribute__((format(printf, 2, 0))) void
vmsg(const char *level, const char *fmt, va_list ap)
{
    char buf[2048];

    vsnprintf(buf, sizeof(buf), fmt, ap);
    fprintf(stderr, "%s: %s", m3_progname, level);
    for (const unsigned char *p = (const unsigned char *)buf; *p; p++) {
        if (escaped(*p))
            fprintf(stderr, "\\x%02x", *p);
        else
            fputc(*p, stderr);
    }
    fputc('\n', stderr);
}

const char *
m3_shown(const char *s)
{
    static char ring[8][1024];
    static unsigned next;
    const unsigned char *p;
    char *o, *end;

    if (s == NULL)
        return s;
    for (p = (const unsigned char *)s; *p != '\0' && !escaped(*p); p++)
        ;
    if (*p == '\0')
        return s;
    o = ring[next++ % 8];
    end = o + sizeof(ring[0]) - sizeof("...");
    for (p = (const unsigned char *)s; *p != '\0' && o + 4 <= end; p++) {
        if (escaped(*p))
            o += snprintf(o, 5, "\\x%02x", *p);
        else
            *o++ = (char)*p;
    }
    strcpy(o, *p != '\0' ? "..." : "");
    return ring[(next - 1) % 8];
}

void
m3_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("error: ", fmt, ap);
    va_end(ap);
}

void
m3_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("warning: ", fmt, ap);
    va_end(ap);
}

void
m3_hint(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("hint: ", fmt, ap);
    va_end(ap);
}

void
m3_info(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vmsg("", fmt, ap);
    va_end(ap);
}

void
m3_error_diag(const char *what, int rc, const struct m3_diag *d)
{
    const char *msg = (d != NULL && d->msg[0] != '\0') ? d->msg : m3_strerror(rc);
    size_t wl = strlen(what);

    /* a message that names its input (a registry's "FILE:L:C: ...") is not named twice */
    if (strncmp(msg, what, wl) == 0 && msg[wl] == ':')
        m3_error("%s", msg);
    else if (d != NULL && d->line > 0)
        m3_error("%s:%u: %s", what, d->line, msg);
    else
        m3_error("%s: %s", what, msg);
    m3_diag_hint_print(d);
}

void
m3_diag_error(int rc, const struct m3_diag *d)
{
    m3_error("%s", d != NULL && d->msg[0] != '\0' ? d->msg : m3_strerror(rc));
    m3_diag_hint_print(d);
}

void
m3_diag_hint_print(const struct m3_diag *d)
{
    if (d != NULL && d->hint[0] != '\0')
        m3_hint("%s", d->hint);
}

static int color_mode = -1; /* -1 auto, 0 never, 1 always */

bool
m3_use_color(FILE *stream)
{
    const char *no = getenv("NO_COLOR"), *term = getenv("TERM");

    if (color_mode >= 0)
        return color_mode == 1;
    return isatty(fileno(stream)) && (no == NULL || no[0] == '\0') &&
           (term == NULL || strcmp(term, "dumb") != 0);
}

int
m3_set_color(const char *arg)
{
    if (arg == NULL || strcmp(arg, "always") == 0)
        color_mode = 1;
    else if (strcmp(arg, "never") == 0)
        color_mode = 0;
    else if (strcmp(arg, "auto") == 0)
        color_mode = -1;
    else {
        m3_error("--color: expected always, never or auto, not '%s'", arg);
        return -1;
    }
    return 0;
}

int
m3_crypto_init(void)
{
    if (age_init() == 0)
        return 0;
    m3_error("cannot initialise the crypto libraries");
    return -1;
}

bool
m3_is_help(const char *arg)
{
    return strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0;
}

int
m3_getopt(int argc, char **argv, const char *optstring, const struct option *longopts,
          const char *cmd)
{
    char opts[64];
    const char *arg;
    int c;

    /* ':' first: a missing value returns ':' rather than '?', and opterr = 0 keeps
     * getopt's own "edit: invalid option" line (prefixed with the bare command) off
     * stderr. */
    if ((size_t)snprintf(opts, sizeof(opts), ":%s", optstring) >= sizeof(opts))
        return '?';
    opterr = 0;
    c = getopt_long(argc, argv, opts, longopts, NULL);
    if (c != '?' && c != ':')
        return c;
    /* A long option leaves optopt 0 (unknown) or its value (missing argument); the token
     * itself is then the argument before optind. A short one is optopt. */
    arg = optind > 0 && optind <= argc ? argv[optind - 1] : "";
    if (strncmp(arg, "--", 2) == 0) {
        size_t n = strcspn(arg, "=");
        if (c == '?')
            m3_error("%s: unknown option '%.*s'", cmd, (int)n, arg);
        else
            m3_error("%s: option '%.*s' needs a value", cmd, (int)n, arg);
    } else if (c == '?') {
        m3_error("%s: unknown option '-%c'", cmd, optopt);
    } else {
        m3_error("%s: option '-%c' needs a value", cmd, optopt);
    }
    m3_hint("run 'm3age %s --help' for its options", cmd);
    return '?';
}

int
cmd_version(int argc, char **argv)
{
    if (argc > 1 && m3_is_help(argv[1])) {
        printf("Usage: m3age version (also m3age --version, m3age -V)\n\n"
               "Print m3age's version.\n");
        return 0;
    }
    if (argc > 1) {
        m3_error("version: unexpected argument '%s'", argv[1]);
        return M3_EXIT_USAGE;
    }
    printf("m3age %s\n", M3AGE_VERSION);
    return 0;
}

/* distance: the edit distance of a and b (insertions, deletions, substitutions, and swaps
 * of two neighbours: "edti"), for "did you mean"; command names are short. */
static size_t
distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b), d[24][24];

    if (la >= 24 || lb >= 24)
        return 99;
    for (size_t i = 0; i <= la; i++)
        d[i][0] = i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = j;
    for (size_t i = 1; i <= la; i++)
        for (size_t j = 1; j <= lb; j++) {
            size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            if (d[i - 1][j] + 1 < best)
                best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[la][lb];
}

/* unknown_command: the error for an unknown command, with the nearest one, as git says. */
static int
unknown_command(const char *name)
{
    size_t best = 3, at = 0;

    m3_error("unknown command '%s'", name);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        size_t dd = distance(name, commands[i].name);
        if (dd < best) {
            best = dd;
            at = i;
        }
    }
    if (best < 3)
        m3_hint("did you mean 'm3age %s'? ('m3age --help' lists the commands)", commands[at].name);
    else
        m3_hint("run 'm3age --help' for the list of commands");
    return M3_EXIT_USAGE;
}

static void
usage(FILE *f)
{
    fprintf(f, "Usage: m3age COMMAND [OPTIONS] [ARGS]\n\n"
               "Secrets for NixOS flake repositories, in the age v1 format.\n\nCommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'm3age COMMAND --help' for a command's options, 'man m3age' for more.\n"
               "Called as 'age', or with an option first, m3age takes age's flags "
               "(see 'm3age -h')\n");
}

static int
cmd_help(int argc, char **argv)
{
    if (argc > 1 && (m3_is_help(argv[1]) || strcmp(argv[1], "help") == 0)) {
        printf("Usage: m3age help [COMMAND]\n\n"
               "Show the list of commands, or COMMAND's help (as 'm3age COMMAND --help').\n");
        return 0;
    }
    if (argc > 1) {
        for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
            if (strcmp(argv[1], commands[i].name) == 0) {
                char *args[] = {argv[1], (char *)"--help", NULL};
                return commands[i].fn(2, args);
            }
        return unknown_command(argv[1]);
    }
    usage(stdout);
    return 0;
}

static void
harden_process(void)
{
    /* Secrets live in this process's memory: no core dumps. */
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
}

int
main(int argc, char **argv)
{
    const char *base = argv[0] ? strrchr(argv[0], '/') : NULL;

    base = base ? base + 1 : (argv[0] ? argv[0] : "m3age");
    harden_process();
    /* `m3age registry` reads and writes secrets.nix, public data: it initialises the crypto
     * library itself, for the subcommands that check keys (cmd/registry.c). */
    if (!(argc > 1 && strcmp(argv[1], "registry") == 0 && strcmp(base, "age") != 0 &&
          strcmp(base, "agenix") != 0) &&
        m3_crypto_init() != 0)
        return M3_EXIT_USAGE;
    m3_install_cleanup_signals();
    m3_plugin_ui_install();
    m3_nix_install();
    if (strcmp(base, "age") == 0) {
        m3_progname = "age";
        return cmd_age_compat(argc, argv);
    }
    if (strcmp(base, "agenix") == 0)
        return cmd_agenix(argc, argv);
    if (argc < 2) {
        usage(stderr);
        return M3_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
        return cmd_help(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return cmd_version(1, argv + 1);
    if (argv[1][0] == '-' && argv[1][1] != '\0')
        return cmd_age_compat(argc, argv);
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    return unknown_command(argv[1]);
}
