/* registry.c: `m3age registry eval|add|set-key|rm|rm-key|hosts`. */
#include "cmd/cmd.h"
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
               "$RULES, else ./secrets.nix, else the first secrets.nix up to the repository root.\n"
               "eval prints the entries (--json: exactly what nix-instantiate --eval --strict\n"
               "--json prints; --nix: run nix-instantiate instead). add, set-key, rm and rm-key\n"
               "change only the bytes they must and check the result before writing it.\n"
               "hosts lists the secret files each hosts/<host>/ module uses.\n");
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
        m3_error("%s", d.msg);
        m3_hint("pass --rules FILE or set RULES to the registry's path");
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
        m3_error("%s", d->msg);
    else
        m3_error("%s: %s", path, m3_strerror(rc));
    if (rc == M3_EUNSUPPORTED)
        m3_hint("run 'm3age registry eval --nix' to evaluate '%s' with nix-instantiate", path);
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

static int
run_nix(const char *path)
{
    pid_t pid;
    int st;

    pid = fork();
    if (pid < 0) {
        m3_error("fork: %s", strerror(errno));
        return M3_EXIT_USAGE;
    }
    if (pid == 0) {
        execlp("nix-instantiate", "nix-instantiate", "--eval", "--strict", "--json", path,
               (char *)NULL);
        fprintf(stderr, "m3age: error: cannot run nix-instantiate: %s\n", strerror(errno));
        _exit(127);
    }
    if (waitpid(pid, &st, 0) < 0)
        return M3_EXIT_USAGE;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
        if (isatty(STDOUT_FILENO))
            fputc('\n', stdout);
        return 0;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127)
        m3_hint("install Nix (Debian: nix-bin) or drop --nix");
    return M3_EXIT_USAGE;
}

static int
eval_json(const char *path)
{
    struct reg_file *f = NULL;
    struct reg_reader reader = {0};
    struct reg_eval_opts opts = {0};
    struct m3_diag d = {0};
    char *buf = NULL, *json = NULL, *root = NULL, dir[PATH_MAX], *slash;
    size_t len;
    int rc, status = M3_EXIT_USAGE;

    if ((rc = reg_read_file(path, &buf, &len, &d)) != 0 ||
        (rc = reg_parse(path, buf, len, &f, &d)) != 0)
        goto out;
    if (realpath(path, dir) == NULL) {
        rc = m3_diag_set(&d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    slash = strrchr(dir, '/');
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    if ((rc = reg_repo_root(dir, &root, &d)) != 0 || (rc = reg_reader_fs(root, &reader)) != 0)
        goto out;
    opts.reader = &reader;
    opts.base_dir = dir;
    if ((rc = reg_eval_json(f, &opts, &json, &len, &d)) != 0)
        goto out;
    /* nix-instantiate --json ends without a newline: keep the bytes identical for pipes */
    fwrite(json, 1, len, stdout);
    if (isatty(STDOUT_FILENO))
        fputc('\n', stdout);
    status = fflush(stdout) == 0 ? 0 : M3_EXIT_USAGE;
out:
    if (rc != 0)
        report(rc, &d, path);
    reg_reader_fs_free(&reader);
    reg_file_free(f);
    free(json);
    free(root);
    free(buf);
    return status;
}

static int
do_eval(const struct reg_opts *o, const char *path)
{
    struct reg_registry *r = NULL;
    struct reg_file *f = NULL;

    if (o->nargs > 1)
        return usage_error("eval takes no arguments");
    if (o->nix)
        return run_nix(path);
    if (o->json)
        return eval_json(path);
    if (load(path, &f, &r) != 0)
        return M3_EXIT_USAGE;
    print_warnings(r);
    for (size_t i = 0; i < r->nentries; i++) {
        const struct reg_entry *e = &r->entries[i];
        printf("%s%s\n", e->name, e->armor ? " (armor)" : "");
        for (size_t k = 0; k < e->nkeys; k++)
            printf("  %s\n", e->keys[k]);
    }
    reg_registry_free(r);
    reg_file_free(f);
    return 0;
}

int
cmd_registry(int argc, char **argv)
{
    struct reg_opts o = {0};
    char *path = NULL;
    const char *sub;
    int rc = M3_EXIT_USAGE;

    if (argc < 2 || m3_is_help(argv[1])) {
        registry_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? M3_EXIT_USAGE : 0;
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
    if ((path = locate(&o)) == NULL)
        goto out;
    if (strcmp(sub, "eval") == 0)
        rc = do_eval(&o, path);
    else
        rc = usage_error("unknown registry subcommand");
out:
    free(path);
    free(o.args);
    return rc;
}
