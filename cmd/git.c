/* git.c: `m3age git ARGS...`: runs git with a decryption agent, so that a `git diff` or
 * `git log -p` over many secrets asks for each passphrase once (see agent.h). */
#include "cmd/agent.h"
#include "cmd/agentproto.h"
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "keys/keys.h"
#include "libage/internal.h"
#include "libage/ssh.h"
#include "secrets/diff.h"
#include "secrets/repo.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static void
git_usage(FILE *f)
{
    fprintf(f,
            "Usage: m3age git [-i IDENTITY]... [--] GIT-ARGUMENT...\n\n"
            "Runs git GIT-ARGUMENT... with a decryption agent for the textconv driver that\n"
            "m3age git-setup configures: each identity's passphrase is asked once for the whole\n"
            "git command instead of once per file. The keys stay in this process, which other\n"
            "processes cannot read (it is not dumpable) and which answers only git's\n"
            "descendants; it removes its socket and wipes them when git exits. git and the\n"
            "programs it starts do not get M3AGE_PASSPHRASE.\n\n"
            "  -i, --identity FILE  unlock this identity before git starts, so its passphrase\n"
            "                       is asked before git's pager takes the terminal (give the\n"
            "                       ones git-setup was given; repeatable). Other identities\n"
            "                       are unlocked when a file first needs them.\n\n"
            "  m3age git diff\n"
            "  m3age git log -p secrets/\n\n"
            "Exit status: git's, or 2 when the agent cannot start.\n");
}

/* One identity file, loaded (or failed) once per run. */
struct cached {
    char *path;
    struct keys_identities ids;
    char *error; /* why it could not be loaded; NULL when loaded */
};

struct agent {
    struct cached *v;
    size_t n;
};

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
    got_signal = sig;
}

/* error_text: "PATH: why" (d's message when it names PATH already), malloc'd. */
static char *
error_text(const char *path, const struct m3_diag *d, int rc)
{
    char msg[700];

    if (d->msg[0] != '\0' && strncmp(d->msg, path, strlen(path)) == 0)
        snprintf(msg, sizeof(msg), "%s", d->msg);
    else
        snprintf(msg, sizeof(msg), "%s: %s", path, d->msg[0] ? d->msg : m3_strerror(rc));
    return strdup(msg);
}

/* cached_load: the identities of path, loading them the first time (asking for a
 * passphrase on the terminal if needed). NULL when out of memory. */
static struct cached *
cached_load(struct agent *a, const char *path)
{
    struct m3_diag d = {0};
    struct cached *c, *nv;

    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i].path, path) == 0)
            return &a->v[i];
    if ((nv = realloc(a->v, (a->n + 1) * sizeof(*nv))) == NULL)
        return NULL;
    a->v = nv;
    c = &a->v[a->n];
    memset(c, 0, sizeof(*c));
    if ((c->path = strdup(path)) == NULL)
        return NULL;
    a->n++;
    if (keys_identities_load_file(&c->ids, path, m3_passphrase_cb, NULL, &d) != 0) {
        c->error = error_text(path, &d, d.code);
        keys_identities_clear(&c->ids);
    }
    return c;
}

/* unlock_now: asks now for the passphrase of every locked ssh identity of c (by wrapping a
 * random file key to its public key and unwrapping it), so that the prompt comes before git
 * starts its pager. */
static int
unlock_now(struct cached *c)
{
    struct m3_diag d = {0};
    int rc = 0;

    for (size_t i = 0; i < c->ids.n && rc == 0; i++) {
        struct age_identity *id = c->ids.v[i];
        struct age_recipient *r = NULL;
        struct age_stanza_list sl = {0};
        const unsigned char *wire;
        unsigned char *fk = age_secret_alloc(16), *got = age_secret_alloc(16);
        size_t wlen;

        if (fk == NULL || got == NULL) {
            rc = M3_ENOMEM;
        } else if (keys_identity_is_locked(id) && keys_identity_ssh_wire(id, &wire, &wlen) == 0 &&
                   age_ssh_recipient_from_wire(&r, wire, wlen, &d) == 0) {
            randombytes_buf(fk, 16);
            if ((rc = r->ops->wrap(r->state, fk, &sl, &d)) == 0)
                rc = id->ops->unwrap(id->state, sl.v, sl.n, got, &d);
            if (rc != 0) {
                free(c->error);
                c->error = error_text(c->path, &d, rc);
            }
        }
        age_stanza_list_clear(&sl);
        age_recipient_free(r);
        age_secret_free(fk);
        age_secret_free(got);
    }
    return rc;
}

static void
agent_free(struct agent *a)
{
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].path);
        free(a->v[i].error);
        keys_identities_clear(&a->v[i].ids);
    }
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

static void
reply(int fd, unsigned char status, const void *buf, size_t len)
{
    uint64_t l64 = len;

    if (m3_agent_write_full(fd, &status, 1) == 0 && m3_agent_write_full(fd, &l64, sizeof(l64)) == 0)
        m3_agent_write_full(fd, buf, len);
}

/* descends_from: whether process pid is a descendant of ancestor (its parent chain, read
 * from /proc, reaches it). A process that is not one of git's did not get the token from
 * git: even with a stolen token it is refused. */
static bool
descends_from(pid_t pid, pid_t ancestor)
{
    for (int depth = 0; depth < 64 && pid > 1; depth++) {
        char path[64], buf[512], *p;
        ssize_t n;
        long pp;
        int fd;
        snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return false;
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
            return false;
        buf[n] = '\0';
        /* "PID (COMM) STATE PPID ...": COMM may hold anything, so from its last ')' */
        if ((p = strrchr(buf, ')')) == NULL || sscanf(p + 1, " %*c %ld", &pp) != 1)
            return false;
        if (pp == (long)ancestor)
            return true;
        pid = (pid_t)pp;
    }
    return false;
}

/* serve: one request on fd, from a descendant of git (git_pid) holding the token. */
static void
serve(struct agent *a, int fd, const char *token, pid_t git_pid)
{
    char tok[M3_AGENT_TOKEN_HEX], why[700] = "", path[M3_AGENT_MAX_PATH + 1];
    struct age_identity **ids = NULL;
    unsigned char *ct = NULL, *pt = NULL;
    struct m3_diag d = {0};
    struct ucred cred;
    socklen_t cl = sizeof(cred);
    uint32_t n, l32;
    uint64_t l64;
    size_t nids = 0, ptlen = 0;
    struct timeval tv = {.tv_sec = 30};

    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.uid != getuid() ||
        !descends_from(cred.pid, git_pid))
        return;
    if (m3_agent_read_full(fd, tok, sizeof(tok)) != 0 ||
        sodium_memcmp(tok, token, M3_AGENT_TOKEN_HEX) != 0)
        return;
    if (m3_agent_read_full(fd, &n, sizeof(n)) != 0 || n > M3_AGENT_MAX_IDS)
        return;
    for (uint32_t i = 0; i < n; i++) {
        struct cached *c;
        if (m3_agent_read_full(fd, &l32, sizeof(l32)) != 0 || l32 > M3_AGENT_MAX_PATH ||
            m3_agent_read_full(fd, path, l32) != 0)
            goto out;
        path[l32] = '\0';
        if ((c = cached_load(a, path)) == NULL)
            goto out;
        if (c->error != NULL) {
            snprintf(why, sizeof(why), "%s", c->error);
            continue;
        }
        struct age_identity **nv = realloc(ids, (nids + c->ids.n) * sizeof(*nv));
        if (nv == NULL)
            goto out;
        ids = nv;
        for (size_t j = 0; j < c->ids.n; j++)
            ids[nids++] = c->ids.v[j];
    }
    if (m3_agent_read_full(fd, &l64, sizeof(l64)) != 0 || l64 > M3_AGENT_MAX_CT ||
        (ct = malloc(l64 ? l64 : 1)) == NULL || m3_agent_read_full(fd, ct, l64) != 0)
        goto out;
    if (nids == 0) {
        if (why[0] == '\0')
            snprintf(why, sizeof(why), "no identity");
        reply(fd, 1, why, strlen(why));
    } else if (secrets_decrypt_mem(ct, l64, ids, nids, &pt, &ptlen, &d) == 0) {
        reply(fd, 0, pt, ptlen);
    } else {
        snprintf(why, sizeof(why), "%s", d.msg[0] ? d.msg : m3_strerror(d.code));
        reply(fd, 1, why, strlen(why));
    }
out:
    age_secret_free(pt);
    free(ct);
    free(ids);
}

int
cmd_git(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct sigaction sa_ign = {.sa_handler = SIG_IGN}, sa_term = {.sa_handler = on_signal}, old_int,
                     old_quit, old_term, old_hup;
    struct agent a = {0};
    unsigned char rnd[M3_AGENT_TOKEN_HEX / 2];
    char token[M3_AGENT_TOKEN_HEX + 1], dir[PATH_MAX] = "", sock[PATH_MAX] = "", real[PATH_MAX];
    const char *base = getenv("XDG_RUNTIME_DIR");
    int lfd = -1, tfd = -1, status = 0, rc = M3_EXIT_USAGE, n;
    char tfd_text[16], **envp = NULL;
    bool handlers = false;
    pid_t pid = -1;

    /* The agent holds unlocked keys for as long as git runs: no other process of the user
     * may read its memory (ptrace, /proc/PID/mem) nor get a core dump of it. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    /* only m3age's own options, in front: everything from the first other argument on
     * (git's -C, -c, --no-pager included) is git's */
    int optind_ = 1;
    while (optind_ < argc) {
        const char *arg = argv[optind_], *val = NULL;
        if (strcmp(arg, "--") == 0) {
            optind_++;
            break;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            git_usage(stdout);
            rc = 0;
            goto out;
        }
        if (strcmp(arg, "-i") == 0 || strcmp(arg, "--identity") == 0) {
            if (optind_ + 1 >= argc) {
                m3_error("option '%s' needs a value", arg);
                goto out;
            }
            val = argv[++optind_];
        } else if (strncmp(arg, "--identity=", 11) == 0) {
            val = arg + 11;
        } else if (strncmp(arg, "-i", 2) == 0) {
            val = arg + 2;
        } else {
            break;
        }
        optind_++;
        if (realpath(val, real) == NULL) {
            m3_error("%s: %s", val, strerror(errno));
            goto out;
        }
        struct cached *k = cached_load(&a, real);
        if (k == NULL) {
            m3_error("out of memory");
            goto out;
        }
        if (k->error != NULL || unlock_now(k) != 0) {
            m3_error("%s", k->error ? k->error : "out of memory");
            goto out;
        }
    }
    optind = optind_;
    if (optind >= argc) {
        m3_error("no git command given");
        git_usage(stderr);
        goto out;
    }
    if (sodium_init() < 0) {
        m3_error("libsodium cannot start");
        goto out;
    }
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(token, sizeof(token), rnd, sizeof(rnd));
    sodium_memzero(rnd, sizeof(rnd));
    if (base == NULL || base[0] != '/' || access(base, W_OK) != 0)
        base = getenv("TMPDIR") && getenv("TMPDIR")[0] == '/' ? getenv("TMPDIR") : "/tmp";
    n = snprintf(dir, sizeof(dir), "%s/m3age-agent.XXXXXX", base);
    if (n < 0 || (size_t)n >= sizeof(dir)) {
        m3_error("%s: path too long for the agent's folder", base);
        dir[0] = '\0';
        goto out;
    }
    if (mkdtemp(dir) == NULL) { /* mkdtemp makes it 0700 */
        m3_error("%s: cannot create the agent's folder: %s", dir, strerror(errno));
        dir[0] = '\0';
        goto out;
    }
    n = snprintf(sock, sizeof(sock), "%s/sock", dir);
    if (n < 0 || (size_t)n >= sizeof(sock) || strlen(sock) >= sizeof(sa.sun_path)) {
        m3_error("%s: path too long for a socket", sock);
        sock[0] = '\0';
        goto out;
    }
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if ((lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 16) != 0) {
        m3_error("%s: cannot listen: %s", sock, strerror(errno));
        goto out;
    }
    chmod(sock, 0600);
    /* The token goes to git's descendants in a sealed memfd they inherit, not in the
     * environment: /proc/PID/environ of git and of every process it starts (pager, hooks)
     * would show it for their whole life. Only the descriptor's number is in the environment. */
    if ((tfd = memfd_create("m3age-agent-token", MFD_CLOEXEC | MFD_ALLOW_SEALING)) < 0 ||
        m3_agent_write_all(tfd, token, M3_AGENT_TOKEN_HEX) != 0 ||
        fcntl(tfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0 ||
        lseek(tfd, 0, SEEK_SET) != 0) {
        m3_error("cannot pass the agent's token: %s", strerror(errno));
        goto out;
    }
    snprintf(tfd_text, sizeof(tfd_text), "%d", tfd);
    unsetenv(M3_AGENT_TOKEN_ENV);
    if (setenv(M3_AGENT_ENV, sock, 1) != 0 || setenv(M3_AGENT_TOKEN_FD_ENV, tfd_text, 1) != 0) {
        m3_error("out of memory");
        goto out;
    }
    /* git and everything it starts (pager, hooks, aliases, textconv) get the environment
     * without M3AGE_PASSPHRASE, as every child of m3age does: the agent, which unlocks the
     * keys, is this process */
    if ((envp = secrets_child_environ()) == NULL) {
        m3_error("out of memory");
        goto out;
    }
    /* like system(3): the terminal's ^C and ^\ are for git; TERM and HUP end both */
    sigaction(SIGINT, &sa_ign, &old_int);
    sigaction(SIGQUIT, &sa_ign, &old_quit);
    sigaction(SIGTERM, &sa_term, &old_term);
    sigaction(SIGHUP, &sa_term, &old_hup);
    handlers = true;
    fflush(NULL);
    if ((pid = fork()) < 0) {
        m3_error("cannot start git: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGQUIT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        char **gv = calloc((size_t)(argc - optind) + 2, sizeof(char *));
        if (gv == NULL)
            _exit(127);
        /* inherited by git and, through it, by the textconv processes */
        if (fcntl(tfd, F_SETFD, 0) != 0)
            _exit(127);
        gv[0] = "git";
        memcpy(gv + 1, argv + optind, (size_t)(argc - optind) * sizeof(char *));
        execvpe("git", gv, envp);
        fprintf(stderr, "%s: error: cannot run git: %s\n", m3_progname, strerror(errno));
        _exit(127);
    }
    for (;;) {
        struct pollfd p = {.fd = lfd, .events = POLLIN};
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            break;
        if (got_signal) {
            kill(pid, got_signal);
            got_signal = 0;
        }
        if (poll(&p, 1, 100) > 0 && (p.revents & POLLIN)) {
            int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (cfd >= 0) {
                serve(&a, cfd, token, pid);
                close(cfd);
            }
        }
    }
    rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
out:
    free(envp);
    if (lfd >= 0)
        close(lfd);
    if (tfd >= 0)
        close(tfd);
    if (sock[0] != '\0')
        unlink(sock);
    if (dir[0] != '\0')
        rmdir(dir);
    agent_free(&a);
    sodium_memzero(token, sizeof(token));
    if (handlers) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        sigaction(SIGHUP, &old_hup, NULL);
    }
    return rc;
}
