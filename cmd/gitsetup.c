/* gitsetup.c: `m3age git-setup` (diff driver, attributes, pre-commit hook) and the hook's
 * own entry point, `m3age git-setup --pre-commit`. */
#include "cmd/cmd.h"
#include "cmd/report.h"
#include "cmd/repo.h"
#include "secrets/gitsetup.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
gitsetup_usage(FILE *f)
{
    fprintf(f, "Usage: m3age git-setup [-i IDENTITY]... [--force]\n"
               "       m3age git-setup --pre-commit [--rules FILE]\n\n"
               "Wire the current git repository for secrets: add '*.age diff=m3age' to\n"
               ".gitattributes, set diff.m3age.textconv to 'm3age diff --textconv' (with the\n"
               "identities given, and cachetextconv off so no plaintext is cached), and install\n"
               "a pre-commit hook that refuses plaintext in the secrets folder and .age files\n"
               "whose recipients do not match secrets.nix (all of them, against the staged\n"
               "secrets.nix, when it is staged). Running it again is harmless. git is told to\n"
               "run 'm3age' from PATH when that is this binary. Warns when no identity is\n"
               "usable: git diff would then show only 'cannot decrypt' notes.\n\n"
               "  -i, --identity FILE  identity for textconv (repeatable; default: ~/.ssh keys)\n"
               "  --force              replace a pre-commit hook that is not m3age's\n"
               "  --pre-commit         what the hook runs: check the staged files\n\n"
               "Exit status: 0 done, 2 error (not in a git work tree, a foreign hook); the hook\n"
               "exits 1 when it refuses the commit.\n");
}

static int
pre_commit(const char *rules)
{
    struct secrets_hook_result *r = NULL;
    struct m3_diag d = {0};
    char *registry = m3_find_registry(rules);
    int rc;

    if (registry == NULL)
        return M3_EXIT_USAGE;
    rc = secrets_precommit_check(registry, &r, &d);
    free(registry);
    if (rc != 0) {
        m3_error("pre-commit: %s", d.msg[0] ? d.msg : m3_strerror(rc));
        m3_diag_hint_print(&d);
        return M3_EXIT_USAGE;
    }
    for (size_t i = 0; i < r->n; i++)
        m3_error("%s: %s", r->v[i].path, r->v[i].message);
    if (r->n > 0)
        m3_hint("encrypt with 'm3age edit', fix recipients with 'm3age rekey', or bypass with "
                "'git commit --no-verify'");
    rc = r->n > 0 ? M3_EXIT_NEGATIVE : M3_EXIT_OK;
    secrets_hook_result_free(r);
    return rc;
}

/* command_name: how git is to call m3age. "m3age" when the m3age found on PATH is this very
 * binary: a resolved path is a /nix/store/... one on NixOS, which an upgrade and a garbage
 * collection remove, breaking git diff and the hook. Else this binary's path (a build
 * folder's m3age, run as ./build/m3age). */
static const char *
command_name(const char *self)
{
    const char *path = getenv("PATH");
    char dir[PATH_MAX], real[PATH_MAX];

    while (path != NULL && *path != '\0') {
        size_t n = strcspn(path, ":");
        if (n > 0 && n < sizeof(dir) - sizeof("/m3age")) {
            snprintf(dir, sizeof(dir), "%.*s/m3age", (int)n, path);
            if (access(dir, X_OK) == 0 && realpath(dir, real) != NULL)
                return strcmp(real, self) == 0 ? "m3age" : self;
        }
        path += n + (path[n] == ':');
    }
    return self;
}

/* warn_no_identity: textconv without a usable identity shows every version as "cannot
 * decrypt": say so now rather than at the first git diff. */
static void
warn_no_identity(const char *const *ids, size_t n)
{
    struct m3_list l = {0};
    size_t usable = 0;

    for (size_t i = 0; i < n; i++) {
        if (access(ids[i], R_OK) == 0)
            usable++;
        else
            m3_warn("%s: cannot read this identity: git diff will not decrypt with it", ids[i]);
    }
    if (n == 0) {
        m3_default_identity_paths(&l);
        usable = l.n;
        m3_list_free(&l);
    }
    if (usable == 0) {
        m3_warn("no usable identity: git diff will show secrets as 'cannot decrypt' lines "
                "(each naming its version's hash)");
        m3_hint("run 'm3age git-setup -i FILE', or add ~/.ssh/id_ed25519 or ~/.ssh/id_rsa");
    }
}

int
cmd_git_setup(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"identity", required_argument, NULL, 'i'}, {"force", no_argument, NULL, 'f'},
        {"pre-commit", no_argument, NULL, 'p'},     {"rules", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},           {NULL, 0, NULL, 0},
    };
    const char **ids = calloc((size_t)argc + 1, sizeof(char *));
    struct secrets_git_setup_opts o = {0};
    struct secrets_git_setup_result r;
    struct m3_diag d = {0};
    const char *rules = NULL;
    char self[PATH_MAX];
    bool hook = false;
    ssize_t n;
    int c, rc = M3_EXIT_USAGE;

    if (ids == NULL)
        return rc;
    optind = 1;
    while ((c = m3_getopt(argc, argv, "hi:", longopts, "git-setup")) != -1) {
        switch (c) {
        case 'i':
            ids[o.nidentity_files++] = optarg;
            break;
        case 'f':
            o.force = true;
            break;
        case 'p':
            hook = true;
            break;
        case 'R':
            rules = optarg;
            break;
        case 'h':
            gitsetup_usage(stdout);
            rc = 0;
            goto out;
        default:
            goto out;
        }
    }
    if (optind < argc) {
        m3_error("unexpected argument '%s'", argv[optind]);
        goto out;
    }
    if (hook) {
        rc = pre_commit(rules);
        goto out;
    }
    if ((n = readlink("/proc/self/exe", self, sizeof(self) - 1)) <= 0) {
        m3_error("cannot find the m3age binary's path");
        goto out;
    }
    self[n] = '\0';
    o.m3age = command_name(self);
    o.identity_files = ids;
    if ((rc = secrets_git_setup(&o, &r, &d)) != 0) {
        m3_diag_error(rc, &d);
        if (rc == M3_ESTATE)
            m3_hint("add 'm3age git-setup --pre-commit' to it yourself, or replace it with "
                    "'m3age git-setup --force'");
        rc = M3_EXIT_USAGE;
        goto out;
    }
    printf("%s .gitattributes: %s\n", r.attributes_added ? "added to" : "unchanged",
           "*.age diff=m3age");
    printf("git config diff.m3age.textconv: %s\n", r.textconv);
    printf("pre-commit hook: %s%s\n", r.hook, r.hook_replaced ? " (replaced the old one)" : "");
    warn_no_identity(ids, o.nidentity_files);
    rc = 0;
out:
    free(ids);
    return rc;
}
