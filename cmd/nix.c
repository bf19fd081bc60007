/* nix.c: nix-instantiate, for registries outside the built-in evaluator's subset: the one
 * runner behind `registry eval --nix`, --nix on every command that reads the registry, and
 * the automatic fallback (--no-nix forbids it).
 *
 * Nix runs pure and read-only: restricted evaluation (files only under the repository root,
 * given as the only search path entry; no URI allowed, so no fetcher reaches the network),
 * the dummy store (nothing is built, copied or substituted: a registry that needs the store
 * fails), no import from derivation, and an environment of PATH alone (getEnv sees nothing,
 * no NIX_PATH, no user configuration through NIX_CONFIG). */
#include "cmd/cmd.h"
#include "cmd/repo.h"
#include "registry/registry.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NIX_OUT_MAX (256u << 20)
#define NIX_ERR_MAX (64u << 10)

int m3_nix_mode = M3_NIX_AUTO;

bool
m3_nix_installed(void)
{
    const char *path = getenv("PATH");
    char buf[4096];
    const char *p, *e;

    for (p = path != NULL ? path : "/usr/bin:/bin"; *p != '\0'; p = *e ? e + 1 : e) {
        e = strchrnul(p, ':');
        if (e > p &&
            (size_t)snprintf(buf, sizeof(buf), "%.*s/nix-instantiate", (int)(e - p), p) <
                sizeof(buf) &&
            access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

/* append: n bytes to a growing buffer, at most max in all (more is dropped, *over set). */
static int
append(char **b, size_t *len, size_t *cap, const char *p, size_t n, size_t max, bool *over)
{
    char *nb;

    if (*len + n > max) {
        *over = true;
        n = max - *len;
    }
    if (*len + n + 1 > *cap) {
        size_t ncap = (*len + n + 1) * 2;
        if ((nb = realloc(*b, ncap)) == NULL)
            return -1;
        *b = nb;
        *cap = ncap;
    }
    memcpy(*b + *len, p, n);
    *len += n;
    (*b)[*len] = '\0';
    return 0;
}

/* nix_error: Nix's message as one line: "FILE:L:C: text" when Nix gave a position. */
static void
nix_error(const char *path, const char *err, struct m3_diag *d)
{
    const char *e = strstr(err, "error: "), *at, *end;
    int n;

    if (e == NULL) {
        m3_diag_set(d, M3_EEVAL, "%s: nix-instantiate failed", path);
        return;
    }
    e += 7;
    n = (int)(strchrnul(e, '\n') - e);
    if ((at = strstr(e, "\n       at ")) != NULL) {
        at += 11;
        end = strchrnul(at, '\n');
        if (end > at && end[-1] == ':') {
            m3_diag_set(d, M3_EEVAL, "%.*s %.*s (nix-instantiate)", (int)(end - at), at, n, e);
            return;
        }
    }
    m3_diag_set(d, M3_EEVAL, "%s: %.*s (nix-instantiate)", path, n, e);
}

int
m3_nix_eval(const char *path, char **json, size_t *len, struct m3_diag *d)
{
    char *root = NULL, *dir = NULL, *inc = NULL, *out = NULL, *err = NULL, envpath[4200];
    size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, rc, st;
    bool over = false, eover = false;
    pid_t pid = -1;

    *json = NULL;
    *len = 0;
    if ((rc = reg_file_dir(path, &dir, d)) != 0 || (rc = reg_repo_root(dir, &root, d)) != 0)
        goto out;
    if (asprintf(&inc, "m3age-repo=%s", root) < 0) {
        inc = NULL;
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(envpath, sizeof(envpath), "PATH=%s",
             getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin");
    {
        char *const argv[] = {"nix-instantiate",
                              "--eval",
                              "--strict",
                              "--json",
                              "--readonly-mode",
                              "--store",
                              "dummy://",
                              "--option",
                              "restrict-eval",
                              "true",
                              "--option",
                              "allow-import-from-derivation",
                              "false",
                              "--option",
                              "allowed-uris",
                              "",
                              "--option",
                              "substituters",
                              "",
                              "-I",
                              inc,
                              "--",
                              (char *)path,
                              NULL};
        char *const envp[] = {envpath, "HOME=/nonexistent", "NIX_PATH=", "LC_ALL=C", NULL};

        if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0) {
            rc = m3_diag_set(d, M3_EIO, "pipe: %s", strerror(errno));
            goto out;
        }
        if ((pid = fork()) < 0) {
            rc = m3_diag_set(d, M3_EIO, "fork: %s", strerror(errno));
            goto out;
        }
        if (pid == 0) {
            if (dup2(op[1], STDOUT_FILENO) < 0 || dup2(ep[1], STDERR_FILENO) < 0)
                _exit(126);
            execvpe(argv[0], argv, envp);
            _exit(127);
        }
    }
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;
    {
        struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
        char buf[65536];
        int open_fds = 2;

        while (open_fds > 0) {
            if (poll(pf, 2, -1) < 0) {
                if (errno == EINTR)
                    continue;
                rc = m3_diag_set(d, M3_EIO, "poll: %s", strerror(errno));
                goto out;
            }
            for (int k = 0; k < 2; k++) {
                ssize_t got;
                if (pf[k].fd < 0 || pf[k].revents == 0)
                    continue;
                got = read(pf[k].fd, buf, sizeof(buf));
                if (got < 0 && errno == EINTR)
                    continue;
                if (got <= 0) {
                    pf[k].fd = -1;
                    open_fds--;
                    continue;
                }
                if ((k == 0 ? append(&out, &olen, &ocap, buf, (size_t)got, NIX_OUT_MAX, &over)
                            : append(&err, &elen, &ecap, buf, (size_t)got, NIX_ERR_MAX, &eover)) !=
                    0) {
                    rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
                    goto out;
                }
            }
        }
    }
    while (waitpid(pid, &st, 0) < 0)
        if (errno != EINTR) {
            rc = m3_diag_set(d, M3_EIO, "waitpid: %s", strerror(errno));
            goto out;
        }
    pid = -1;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        rc = m3_diag_set(d, M3_ENOTFOUND, "%s: cannot run nix-instantiate (is Nix installed?)",
                         path);
        goto out;
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        nix_error(path, err != NULL ? err : "", d);
        rc = M3_EEVAL;
        goto out;
    }
    if (over) {
        rc = m3_diag_set(d, M3_EIO, "%s: the output of nix-instantiate is too large", path);
        goto out;
    }
    if (out == NULL && append(&out, &olen, &ocap, "", 0, NIX_OUT_MAX, &over) != 0) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    *json = out;
    *len = olen;
    out = NULL;
    rc = 0;
out:
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    for (int k = 0; k < 2; k++) {
        if (op[k] >= 0)
            close(op[k]);
        if (ep[k] >= 0)
            close(ep[k]);
    }
    free(out);
    free(err);
    free(inc);
    free(root);
    free(dir);
    return rc;
}

/* note: the line saying the fallback happens, naming the refused construct (and its
 * location) once, from the refusal "FILE:L:C: WHAT is not supported by m3age's ...". */
void
m3_nix_note(const char *path, const struct m3_diag *why)
{
    const char *cut = strstr(why->msg, " is not supported by m3age's evaluator");
    static bool said; /* edit reads the registry again before it writes: one note a run */

    if (said)
        return;
    said = true;

    /* the registry named as its errors name it: "secrets.nix:7:9", not by an absolute path */
    if (cut != NULL)
        m3_info("note: %.*s is outside the built-in evaluator; evaluating with nix-instantiate "
                "(--no-nix forbids this)",
                (int)(cut - m3_cwd_relative(why->msg)), m3_cwd_relative(why->msg));
    else
        m3_info("note: %s: evaluating with nix-instantiate (--no-nix forbids this)",
                m3_cwd_relative(path));
}

bool
m3_nix_may_fall_back(const char *path)
{
    struct stat st;

    /* a named pipe m3age has read already cannot be read again by Nix */
    return m3_nix_mode == M3_NIX_AUTO && stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
           m3_nix_installed();
}

static int
fallback_eval(void *ctx, const char *path, const struct m3_diag *why, char **json, size_t *len,
              struct m3_diag *d)
{
    (void)ctx;
    if (why != NULL && !m3_nix_may_fall_back(path)) {
        *d = *why;
        return why->code != 0 ? why->code : M3_EUNSUPPORTED;
    }
    if (why != NULL)
        m3_nix_note(path, why);
    return m3_nix_eval(path, json, len, d);
}

static bool
fallback_always(void *ctx)
{
    (void)ctx;
    return m3_nix_mode == M3_NIX_ALWAYS;
}

void
m3_nix_install(void)
{
    const struct reg_fallback fb = {fallback_eval, NULL, fallback_always};

    reg_set_fallback(&fb);
}
