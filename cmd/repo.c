/* repo.c: repository glue for the commands (see repo.h). */
#include "cmd/repo.h"
#include "cmd/cmd.h"
#include "cmd/io.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

struct secrets_repo *
m3_repo_open(const char *rules_opt)
{
    struct secrets_repo *r = NULL;
    struct m3_diag d;
    int rc;

    m3_diag_clear(&d);
    if ((rc = secrets_repo_open(&r, rules_opt, getenv("RULES"), &d)) != 0) {
        const char *env = getenv("RULES");

        /* "secrets.nix:20:36: ...", as audit and the registry commands name it */
        m3_error("%s", m3_cwd_relative(d.msg[0] ? d.msg : m3_strerror(rc)));
        m3_diag_hint_print(&d);
        if (rules_opt == NULL && env != NULL && *env != '\0')
            m3_hint("the registry was named by the environment: RULES=%s (unset it to look for "
                    "secrets.nix)",
                    env);
        else if (rc == M3_ENOTFOUND)
            m3_hint("run it in the repository, or name the registry with --rules FILE");
        return NULL;
    }
    return r;
}

const char *
m3_cwd_relative(const char *s)
{
    char cwd[PATH_MAX];
    size_t n;

    if (getcwd(cwd, sizeof(cwd)) != NULL && (n = strlen(cwd)) > 1 && strncmp(s, cwd, n) == 0 &&
        s[n] == '/')
        return s + n + 1;
    return s;
}

void
m3_default_identity_paths(struct m3_list *l)
{
    static char paths[2][PATH_MAX];
    static const char *const names[] = {".ssh/id_ed25519", ".ssh/id_rsa"};
    const char *home = getenv("HOME");

    if (home == NULL || *home == '\0')
        return;
    for (int i = 0; i < 2; i++) {
        if ((size_t)snprintf(paths[i], sizeof(paths[i]), "%s/%s", home, names[i]) >=
            sizeof(paths[i]))
            continue;
        if (access(paths[i], R_OK) == 0)
            m3_list_push(l, paths[i]);
    }
}

int
m3_repo_identities(const struct m3_list *files, struct keys_identities *ids, size_t *loaded)
{
    struct m3_diag d;
    int rc;

    /* From here the process holds private keys (and soon plaintext): no other process of the
     * user may read its memory through ptrace or /proc/PID/mem, nor get a core dump of it.
     * The editor m3age starts is a new program and dumpable again: it holds the plaintext
     * in any case. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    m3_diag_clear(&d);
    rc = secrets_identities_load(ids, files->v, files->n, getenv("HOME"), m3_passphrase_cb, NULL,
                                 loaded, &d);
    if (rc != 0) {
        m3_diag_error(rc, &d);
        return -1;
    }
    return 0;
}

void
m3_no_identity(const char *what, bool defaults_apply)
{
    if (what != NULL)
        m3_error("%s: no identity to decrypt with", what);
    else
        m3_error("no identity to decrypt with");
    if (defaults_apply)
        m3_hint("give one with -i FILE (an age key file or an ssh private key); the default "
                "keys ~/.ssh/id_ed25519 and ~/.ssh/id_rsa were not found");
    else
        m3_hint("give one with -i FILE (an age key file or an ssh private key); the default "
                "keys ~/.ssh/id_ed25519 and ~/.ssh/id_rsa are used only for the secrets "
                "secrets.nix names");
}

void
m3_passphrase_hint(const char *msg)
{
    if (msg != NULL && strstr(msg, "protected by a passphrase and none was given") != NULL)
        m3_hint("no terminal to ask the passphrase on: run it on a terminal, or give the "
                "passphrase in M3AGE_PASSPHRASE (scripts)");
}

char **
m3_editor_split(const char *cmd, char **storage)
{
    size_t n = 0, len = strlen(cmd);
    char **argv = calloc(len / 2 + 2, sizeof(*argv)), *save = NULL, *tok;

    *storage = strdup(cmd);
    if (argv == NULL || *storage == NULL) {
        free(argv);
        free(*storage);
        *storage = NULL;
        return NULL;
    }
    for (tok = strtok_r(*storage, " \t\n", &save); tok != NULL;
         tok = strtok_r(NULL, " \t\n", &save))
        argv[n++] = tok;
    argv[n] = NULL;
    return argv;
}
