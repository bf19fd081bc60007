/* nix.c: nix-instantiate, for registries outside the built-in evaluator's subset: the one
 * runner behind `registry eval --nix`, --nix on every command that reads the registry, and
 * the automatic fallback (--no-nix forbids it).
 *
 * Nix runs pure and read-only: restricted evaluation (files only under the repository root,
 * given as the only search path entry; no URI allowed, so no fetcher reaches the network),
 * the dummy store (nothing is built, copied or substituted: a registry that needs the store
 * fails), no import from derivation, and an environment of PATH alone (getEnv sees nothing,
 * no NIX_PATH, no user configuration through NIX_CONFIG).
 *
 * Every Nix run (this one and the flake's, cmd/nixhosts.c) goes through m3_nix_run: stdin
 * from /dev/null, a process group of its own, a time limit (M3AGE_NIX_TIMEOUT seconds,
 * default 60: an evaluation that loops must not hang a pre-commit hook or CI), and SIGINT,
 * SIGTERM and SIGHUP kill that whole group before m3age's own handler or default action
 * runs: nothing Nix started outlives m3age. */
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
#include <time.h>
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

/* The Nix process being waited for, killed with its whole process group by a signal that
 * ends m3age (Ctrl-C on the terminal reaches m3age's group, not Nix's own). The signal is
 * then kept pending until the caller has removed what it made (m3_nix_raise_pending). */
static volatile sig_atomic_t run_pgid, run_sig;
static struct sigaction run_old[3];
static const int run_sigs[3] = {SIGINT, SIGTERM, SIGHUP};

static void
on_signal(int sig)
{
    if (run_pgid > 0)
        kill(-(pid_t)run_pgid, SIGKILL);
    run_sig = sig;
}

void
m3_nix_raise_pending(void)
{
    int sig = run_sig;

    /* the handler that was there before the run (edit's cleanup, or the default) */
    if (sig != 0) {
        run_sig = 0;
        raise(sig);
    }
}

long
m3_nix_timeout(struct m3_diag *d)
{
    const char *v = getenv("M3AGE_NIX_TIMEOUT");
    char *end;
    long t;

    if (v == NULL || *v == '\0')
        return M3_NIX_TIMEOUT_DEFAULT;
    errno = 0;
    t = strtol(v, &end, 10);
    if (errno != 0 || *end != '\0' || t < 1 || t > 86400) {
        m3_diag_set(d, M3_EINVAL, "M3AGE_NIX_TIMEOUT=%s: not a number of seconds from 1 to 86400",
                    v);
        return -1;
    }
    return t;
}

/* wait_child: waitpid that retries after a signal. */
static int
wait_child(pid_t pid, int *st)
{
    while (waitpid(pid, st, 0) < 0)
        if (errno != EINTR)
            return -1;
    return 0;
}

int
m3_nix_run(const char *what, char *const argv[], char *const envp[], char **out, size_t *olen,
           char **err, struct m3_diag *d)
{
    char *o = NULL, *e = NULL;
    size_t ol = 0, ocap = 0, el = 0, ecap = 0;
    int op[2] = {-1, -1}, ep[2] = {-1, -1}, rc, st = 0, devnull = -1;
    bool over = false, eover = false, armed = false;
    long limit;
    struct timespec t0, now;
    pid_t pid = -1;

    *out = NULL;
    *olen = 0;
    if (err != NULL)
        *err = NULL;
    if ((limit = m3_nix_timeout(d)) < 0)
        return M3_EINVAL;
    if (pipe2(op, O_CLOEXEC) != 0 || pipe2(ep, O_CLOEXEC) != 0 ||
        (devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        rc = m3_diag_set(d, M3_EIO, "pipe: %s", strerror(errno));
        goto out;
    }
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        for (int i = 0; i < 3; i++)
            sigaction(run_sigs[i], &sa, &run_old[i]);
        armed = true;
    }
    if ((pid = fork()) < 0) {
        rc = m3_diag_set(d, M3_EIO, "fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* its own process group: a timeout or Ctrl-C kills Nix and whatever it started */
        setpgid(0, 0);
        for (int i = 0; i < 3; i++)
            sigaction(run_sigs[i], &run_old[i], NULL);
        if (dup2(devnull, STDIN_FILENO) < 0 || dup2(op[1], STDOUT_FILENO) < 0 ||
            dup2(ep[1], STDERR_FILENO) < 0)
            _exit(126);
        execvpe(argv[0], argv, envp);
        _exit(127);
    }
    setpgid(pid, pid); /* also here: no window in which a signal would miss the group */
    run_pgid = pid;
    if (run_sig != 0) /* it came before the group was known */
        kill(-pid, SIGKILL);
    close(op[1]);
    close(ep[1]);
    op[1] = ep[1] = -1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    {
        struct pollfd pf[2] = {{op[0], POLLIN, 0}, {ep[0], POLLIN, 0}};
        char buf[65536];
        int open_fds = 2;

        while (open_fds > 0) {
            long left;
            int n;
            clock_gettime(CLOCK_MONOTONIC, &now);
            left = limit * 1000 -
                   ((now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000);
            if (run_sig != 0) {
                rc = m3_diag_set(d, M3_ECANCELED, "%s: interrupted", what);
                goto out;
            }
            if (left <= 0) {
                rc = m3_diag_set(d, M3_EIO,
                                 "%s: Nix did not finish within %ld s (stopped; "
                                 "M3AGE_NIX_TIMEOUT=SECONDS changes the limit)",
                                 what, limit);
                goto out;
            }
            if ((n = poll(pf, 2, left > 1000000 ? 1000000 : (int)left)) < 0) {
                if (errno == EINTR)
                    continue;
                rc = m3_diag_set(d, M3_EIO, "poll: %s", strerror(errno));
                goto out;
            }
            for (int k = 0; k < 2 && n > 0; k++) {
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
                if ((k == 0 ? append(&o, &ol, &ocap, buf, (size_t)got, NIX_OUT_MAX, &over)
                            : append(&e, &el, &ecap, buf, (size_t)got, NIX_ERR_MAX, &eover)) != 0) {
                    rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
                    goto out;
                }
            }
        }
    }
    if (wait_child(pid, &st) != 0) {
        rc = m3_diag_set(d, M3_EIO, "waitpid: %s", strerror(errno));
        goto out;
    }
    kill(-pid, SIGKILL); /* what Nix started and left behind (the group outlives its leader) */
    pid = -1;
    if (run_sig != 0) {
        rc = m3_diag_set(d, M3_ECANCELED, "%s: interrupted", what);
        goto out;
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 127) {
        rc = m3_diag_set(d, M3_ENOTFOUND, "%s: cannot run %s (is Nix installed?)", what, argv[0]);
        goto out;
    }
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        rc = m3_diag_set(d, M3_EEVAL, "%s: %s failed", what, argv[0]);
        if (err != NULL) {
            *err = e != NULL ? e : strdup("");
            e = NULL;
        }
        goto out;
    }
    if (over) {
        rc = m3_diag_set(d, M3_EIO, "%s: the output of %s is too large", what, argv[0]);
        goto out;
    }
    if (o == NULL && append(&o, &ol, &ocap, "", 0, NIX_OUT_MAX, &over) != 0) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    *out = o;
    *olen = ol;
    o = NULL;
    rc = 0;
out:
    if (pid > 0) {
        kill(-pid, SIGKILL);
        wait_child(pid, &st);
    }
    run_pgid = 0;
    if (armed)
        for (int i = 0; i < 3; i++)
            sigaction(run_sigs[i], &run_old[i], NULL);
    for (int k = 0; k < 2; k++) {
        if (op[k] >= 0)
            close(op[k]);
        if (ep[k] >= 0)
            close(ep[k]);
    }
    if (devnull >= 0)
        close(devnull);
    free(o);
    free(e);
    return rc;
}

int
m3_nix_eval(const char *path, char **json, size_t *len, struct m3_diag *d)
{
    char *root = NULL, *dir = NULL, *inc = NULL, *err = NULL, envpath[4200];
    int rc;

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

        rc = m3_nix_run(path, argv, envp, json, len, &err, d);
        m3_nix_raise_pending();
    }
    if (rc == M3_EEVAL)
        nix_error(path, err != NULL ? err : "", d);
out:
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
