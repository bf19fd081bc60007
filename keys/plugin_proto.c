/* plugin_proto.c: starting an age plugin and the stanza framing of c2sp.org/age-plugin. */
#include "keys/keys.h"
#include "keys/plugin.h"
#include "libage/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

int
keys_plugin_find(const char *name, char *out, size_t cap, struct m3_diag *d)
{
    const char *path = getenv("PATH");
    const char *p;

    if (name[0] == '\0' || strchr(name, '/') != NULL || strlen(name) > 40)
        return m3_diag_set(d, M3_EINVAL, "'%.40s' is not a valid plugin name", name);
    if (path == NULL || path[0] == '\0')
        path = "/usr/bin:/bin";
    for (p = path;;) {
        const char *e = strchr(p, ':');
        size_t dl = e ? (size_t)(e - p) : strlen(p);
        struct stat st;
        char buf[4096];
        /* Only absolute folders: a plugin is never taken from the working directory. */
        int n = snprintf(buf, sizeof(buf), "%.*s/age-plugin-%s", (int)dl, p, name);
        if (dl > 0 && p[0] == '/' && n > 0 && (size_t)n < sizeof(buf) && stat(buf, &st) == 0 &&
            S_ISREG(st.st_mode) && access(buf, X_OK) == 0) {
            if (out != NULL && (size_t)n >= cap)
                return m3_diag_set(d, M3_EINVAL, "age-plugin-%s: path too long", name);
            if (out != NULL)
                memcpy(out, buf, (size_t)n + 1);
            return 0;
        }
        if (e == NULL)
            break;
        p = e + 1;
    }
    return m3_diag_set(d, M3_ENOTFOUND, "age-plugin-%s not found in PATH", name);
}

int
keys_pconn_start(struct keys_pconn *c, const char *name, const char *state_machine,
                 struct m3_diag *d)
{
    char path[4096], arg[64], **envp;
    int sv[2];
    pid_t pid;
    int rc;

    memset(c, 0, sizeof(*c));
    c->fd = -1;
    c->pid = -1;
    snprintf(c->name, sizeof(c->name), "age-plugin-%s", name);
    if ((rc = keys_plugin_find(name, path, sizeof(path), d)) != 0)
        return rc;
    snprintf(arg, sizeof(arg), "--age-plugin=%s", state_machine);
    /* The plugin is another program: it gets the environment without M3AGE_PASSPHRASE (as
     * every child of m3age does), built before fork (the child only calls execve). */
    size_t ne = 0;
    while (environ[ne] != NULL)
        ne++;
    if ((envp = calloc(ne + 1, sizeof(*envp))) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    for (size_t i = 0, j = 0; i < ne; i++)
        if (strncmp(environ[i], "M3AGE_PASSPHRASE=", 17) != 0)
            envp[j++] = environ[i];
    /* A socket pair rather than pipes: send(MSG_NOSIGNAL) turns a plugin that died into an
     * error instead of a SIGPIPE. */
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", c->name, strerror(errno));
        free(envp);
        return rc;
    }
    if ((pid = fork()) < 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", c->name, strerror(errno));
        close(sv[0]);
        close(sv[1]);
        free(envp);
        return rc;
    }
    if (pid == 0) {
        /* The plugin's stderr stays the user's: it is how plugins explain themselves. */
        if (dup2(sv[1], 0) < 0 || dup2(sv[1], 1) < 0)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        char *const argv[] = {path, arg, NULL};
        execve(path, argv, envp);
        _exit(127);
    }
    free(envp);
    close(sv[1]);
    c->fd = sv[0];
    c->pid = pid;
    return 0;
}

void
keys_pconn_finish(struct keys_pconn *c, bool kill_now)
{
    int st;

    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    if (c->pid <= 0)
        return;
    if (!kill_now)
        for (int i = 0; i < 100; i++) {
            pid_t r = waitpid(c->pid, &st, WNOHANG);
            if (r == c->pid || (r < 0 && errno != EINTR)) {
                c->pid = -1;
                return;
            }
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    kill(c->pid, SIGKILL);
    while (waitpid(c->pid, &st, 0) < 0 && errno == EINTR)
        ;
    c->pid = -1;
}

/* wait_fd: poll for events within the timeout (none once the plugin is interactive). */
static int
wait_fd(struct keys_pconn *c, short events, struct m3_diag *d)
{
    struct pollfd pfd = {.fd = c->fd, .events = events};
    int t = c->interactive || c->timeout_ms <= 0 ? -1 : c->timeout_ms;

    for (;;) {
        int r = poll(&pfd, 1, t);
        if (r > 0)
            return 0;
        if (r == 0)
            return m3_diag_set(d, M3_EIO, "%s: no answer within %d s (M3AGE_PLUGIN_TIMEOUT)",
                               c->name, c->timeout_ms / 1000);
        if (errno != EINTR)
            return m3_diag_set(d, M3_EIO, "%s: %s", c->name, strerror(errno));
    }
}

static int
send_all(struct keys_pconn *c, const void *buf, size_t len, struct m3_diag *d)
{
    const char *p = buf;
    int rc;

    while (len > 0) {
        ssize_t w;
        if ((rc = wait_fd(c, POLLOUT, d)) != 0)
            return rc;
        w = send(c->fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w < 0)
            return m3_diag_set(d, M3_EIO, "%s: the plugin exited early (%s)", c->name,
                               strerror(errno));
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int
keys_pconn_send(struct keys_pconn *c, const char *const *args, size_t nargs,
                const unsigned char *body, size_t body_len, struct m3_diag *d)
{
    /* The body may be a file key or a PIN: encode it into secret memory. */
    size_t b64cap = sodium_base64_ENCODED_LEN(body_len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    size_t cap = 64 + b64cap + b64cap / 64 + 2;
    char *buf, *b64 = NULL;
    size_t n = 0;
    int rc = M3_ENOMEM;

    for (size_t i = 0; i < nargs; i++)
        cap += strlen(args[i]) + 1;
    if ((buf = age_secret_alloc(cap)) == NULL || (b64 = age_secret_alloc(b64cap)) == NULL)
        goto out;
    n += (size_t)snprintf(buf, cap, "->");
    for (size_t i = 0; i < nargs; i++)
        n += (size_t)snprintf(buf + n, cap - n, " %s", args[i]);
    buf[n++] = '\n';
    sodium_bin2base64(b64, b64cap, body, body_len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    /* Body lines of 64 columns; the last one is shorter (empty when the length divides). */
    for (size_t off = 0, l = strlen(b64);; off += 64) {
        size_t k = l - off < 64 ? l - off : 64;
        memcpy(buf + n, b64 + off, k);
        n += k;
        buf[n++] = '\n';
        if (k < 64)
            break;
    }
    rc = send_all(c, buf, n, d);
out:
    age_secret_free(buf);
    age_secret_free(b64);
    if (rc == M3_ENOMEM)
        m3_diag_set(d, M3_ENOMEM, "out of memory");
    return rc;
}

int
keys_pconn_grease(struct keys_pconn *c, struct m3_diag *d)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyz0123456789-";
    char cmd[24], meta[12];
    unsigned char body[48];
    const char *args[2] = {cmd, meta};
    size_t cl = 6 + randombytes_uniform(8), ml = 1 + randombytes_uniform(10);

    /* Never a defined command: they hold no '~'. */
    cmd[0] = '~';
    for (size_t i = 1; i < cl; i++)
        cmd[i] = alpha[randombytes_uniform(sizeof(alpha) - 1)];
    cmd[cl] = '\0';
    for (size_t i = 0; i < ml; i++)
        meta[i] = alpha[randombytes_uniform(sizeof(alpha) - 1)];
    meta[ml] = '\0';
    randombytes_buf(body, sizeof(body));
    return keys_pconn_send(c, args, 1 + randombytes_uniform(2), body,
                           randombytes_uniform(sizeof(body) + 1), d);
}

/* read_line: the next line (without '\n') into line, in secret memory (bodies may be keys). */
static int
read_line(struct keys_pconn *c, char *line, size_t cap, size_t *len, struct m3_diag *d)
{
    size_t n = 0;
    int rc;

    for (;;) {
        while (c->rpos < c->rlen) {
            char ch = c->rbuf[c->rpos++];
            if (ch == '\n') {
                line[n] = '\0';
                *len = n;
                return 0;
            }
            if (n + 1 >= cap)
                return m3_diag_set(d, M3_EHEADER, "%s: a line longer than %zu bytes", c->name,
                                   cap - 1);
            line[n++] = ch;
        }
        sodium_memzero(c->rbuf, sizeof(c->rbuf));
        c->rpos = c->rlen = 0;
        if ((rc = wait_fd(c, POLLIN, d)) != 0)
            return rc;
        ssize_t r = recv(c->fd, c->rbuf, sizeof(c->rbuf), 0);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            return m3_diag_set(d, M3_EIO, "%s: %s", c->name, strerror(errno));
        if (r == 0)
            return m3_diag_set(d, M3_EIO, "%s: the plugin exited in the middle of the protocol",
                               c->name);
        c->rlen = (size_t)r;
    }
}

void
keys_pmsg_free(struct keys_pmsg *m)
{
    age_secret_free(m->line);
    age_secret_free(m->body);
    memset(m, 0, sizeof(*m));
}

int
keys_pconn_recv(struct keys_pconn *c, struct keys_pmsg *m, struct m3_diag *d)
{
    char *line = NULL;
    size_t len, cap = KEYS_PLUGIN_MAX_BODY;
    int rc = M3_ENOMEM;

    memset(m, 0, sizeof(*m));
    if ((m->line = age_secret_alloc(KEYS_PLUGIN_MAX_LINE)) == NULL ||
        (line = age_secret_alloc(KEYS_PLUGIN_MAX_LINE)) == NULL ||
        (m->body = age_secret_alloc(cap)) == NULL)
        goto out;
    if ((rc = read_line(c, m->line, KEYS_PLUGIN_MAX_LINE, &len, d)) != 0)
        goto out;
    rc = M3_EHEADER;
    if (strncmp(m->line, "-> ", 3) != 0) {
        m3_diag_set(d, rc, "%s: sent something that is not a protocol stanza", c->name);
        goto out;
    }
    /* Spec: arguments separated by exactly one space, none at the ends. */
    if (m->line[3] == '\0' || m->line[3] == ' ' || m->line[len - 1] == ' ' ||
        strstr(m->line + 3, "  ") != NULL) {
        m3_diag_set(d, rc, "%s: sent a malformed stanza", c->name);
        goto out;
    }
    for (char *p = m->line + 3, *save = NULL, *t; (t = strtok_r(p, " ", &save)) != NULL; p = NULL) {
        if (m->nargs == KEYS_PLUGIN_MAX_ARGS || !age_stanza_arg_ok(t)) {
            m3_diag_set(d, rc, "%s: sent a malformed stanza", c->name);
            goto out;
        }
        m->args[m->nargs++] = t;
    }
    for (;;) {
        size_t got;
        if ((rc = read_line(c, line, KEYS_PLUGIN_MAX_LINE, &len, d)) != 0)
            goto out;
        rc = M3_EHEADER;
        if (len > 64 || m->body_len + 48 > cap ||
            age_b64_decode(line, len, m->body + m->body_len, cap - m->body_len, &got) != 0) {
            m3_diag_set(d, rc, "%s: sent a malformed stanza body", c->name);
            goto out;
        }
        m->body_len += got;
        if (len < 64)
            break;
    }
    rc = 0;
out:
    age_secret_free(line);
    if (rc != 0) {
        keys_pmsg_free(m);
        if (rc == M3_ENOMEM)
            m3_diag_set(d, rc, "out of memory");
    }
    return rc;
}
