/* io.c: inputs, atomic outputs and passphrase prompts for the commands. */
#include "cmd/io.h"
#include "cmd/cmd.h"
#include "libage/age.h"

#include <bsd/readpassphrase.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The temporary output being written, removed by the signal handler. */
static volatile sig_atomic_t cleanup_armed;
static char cleanup_path[4096];

static void
on_signal(int sig)
{
    if (cleanup_armed)
        unlink(cleanup_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

void
m3_install_cleanup_signals(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigaction(SIGPIPE, &sa, NULL);
}

static void
arm_cleanup(const char *path)
{
    cleanup_armed = 0;
    if (path != NULL && strlen(path) < sizeof(cleanup_path)) {
        strcpy(cleanup_path, path);
        cleanup_armed = 1;
    }
}

int
m3_fd_write(void *ctx, const void *buf, size_t len)
{
    int fd = *(int *)ctx;
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

ssize_t
m3_fd_read(void *ctx, void *buf, size_t len)
{
    int fd = *(int *)ctx;
    size_t got = 0;

    /* Fill the buffer where the input allows: fewer, larger chunks for the caller. */
    while (got < len) {
        ssize_t n = read(fd, (unsigned char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return got ? (ssize_t)got : -1;
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

const char *
m3_in_name(const char *path)
{
    return (path == NULL || strcmp(path, "-") == 0) ? "standard input" : path;
}

int
m3_in_open(const char *path)
{
    struct stat st;
    int fd;

    if (path == NULL || strcmp(path, "-") == 0)
        return 0;
    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        m3_error("%s: %s", path, strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        m3_error("%s: is a directory", path);
        close(fd);
        return -1;
    }
    return fd;
}

/* give_name: links an O_TMPFILE file into the folder under name (fails if it exists). */
static int
give_name(int fd, const char *name)
{
    char proc[64];

    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
    if (linkat(AT_FDCWD, proc, AT_FDCWD, name, AT_SYMLINK_FOLLOW) == 0)
        return 0;
    if (errno == EEXIST)
        return -1;
    /* Without /proc, AT_EMPTY_PATH works for a process with CAP_DAC_READ_SEARCH. */
    return linkat(fd, "", AT_FDCWD, name, AT_EMPTY_PATH);
}

int
m3_out_open(struct m3_out *o, const char *path, mode_t mode)
{
    struct stat st;
    char *dir = NULL, *base = NULL, *dcopy = NULL, *bcopy = NULL;
    unsigned char rnd[6];

    memset(o, 0, sizeof(*o));
    o->fd = -1;
    if (path == NULL || strcmp(path, "-") == 0) {
        o->fd = 1;
        o->name = "standard output";
        return 0;
    }
    o->name = path;
    if ((o->path = strdup(path)) == NULL)
        goto nomem;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        /* A device or pipe (/dev/null, a FIFO): no rename possible, write directly. */
        if ((o->fd = open(path, O_WRONLY | O_CLOEXEC)) < 0) {
            m3_error("%s: %s", path, strerror(errno));
            free(o->path);
            o->path = NULL;
            return -1;
        }
        return 0;
    }
    if ((dcopy = strdup(path)) == NULL || (bcopy = strdup(path)) == NULL)
        goto nomem;
    dir = dirname(dcopy);
    base = basename(bcopy);
    /* First choice: an unnamed file (O_TMPFILE) in the target's folder, given a name only
     * when complete, so not even SIGKILL can leave a partial file behind. */
    o->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
    o->unnamed = o->fd >= 0;
    for (int tries = 0; tries < 16; tries++) {
        char hex[13];
        size_t n;
        randombytes_buf(rnd, sizeof(rnd));
        sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
        free(o->tmp);
        n = strlen(dir) + strlen(base) + 32;
        if ((o->tmp = malloc(n)) == NULL)
            goto nomem;
        snprintf(o->tmp, n, "%s/.%s.m3tmp.%s", dir, base, hex);
        if (o->unnamed)
            break;
        o->fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
        if (o->fd >= 0 || errno != EEXIST)
            break;
    }
    if (o->fd < 0) {
        int e = errno;
        m3_error("%s: cannot create output: %s", path, strerror(e));
        if (e == ENOENT && strcmp(dir, ".") != 0)
            m3_hint("its folder does not exist: create it first ('mkdir -p -m 700 %s')", dir);
        free(o->tmp);
        o->tmp = NULL;
        goto fail;
    }
    if (!o->unnamed)
        arm_cleanup(o->tmp);
    free(dcopy);
    free(bcopy);
    return 0;
nomem:
    m3_error("%s: out of memory", path);
fail:
    free(dcopy);
    free(bcopy);
    free(o->path);
    o->path = NULL;
    free(o->tmp);
    o->tmp = NULL;
    return -1;
}

bool
m3_out_is_tty(const struct m3_out *o)
{
    return o->fd >= 0 && isatty(o->fd);
}

int
m3_out_commit(struct m3_out *o)
{
    int rc = 0;

    if (o->tmp == NULL) {
        if (o->fd > 2)
            close(o->fd);
        o->fd = -1;
        free(o->path);
        o->path = NULL;
        return 0;
    }
    if (fsync(o->fd) != 0) {
        m3_error("%s: cannot write output: %s", o->name, strerror(errno));
        m3_out_abort(o);
        return -1;
    }
    if (o->unnamed) {
        /* Name the finished file: the target itself when it must not be overwritten,
         * else the temporary name, renamed over the target below. */
        const char *name = o->no_clobber ? o->path : o->tmp;
        if (give_name(o->fd, name) != 0) {
            m3_error("%s: %s", o->name,
                     errno == EEXIST ? "file exists, refusing to overwrite" : strerror(errno));
            close(o->fd);
            o->fd = -1;
            m3_out_abort(o);
            return -1;
        }
        close(o->fd);
        o->fd = -1;
        if (o->no_clobber)
            goto named;
        arm_cleanup(o->tmp);
        if (rename(o->tmp, o->path) != 0) {
            m3_error("%s: cannot replace output: %s", o->name, strerror(errno));
            unlink(o->tmp);
            m3_out_abort(o);
            return -1;
        }
        goto named;
    }
    if (close(o->fd) != 0) {
        m3_error("%s: cannot write output: %s", o->name, strerror(errno));
        o->fd = -1;
        m3_out_abort(o);
        return -1;
    }
    o->fd = -1;
    if (o->no_clobber) {
        /* link() fails if the target exists: never overwrite, even in a race. */
        if (link(o->tmp, o->path) != 0) {
            m3_error("%s: %s", o->name,
                     errno == EEXIST ? "file exists, refusing to overwrite" : strerror(errno));
            m3_out_abort(o);
            return -1;
        }
        unlink(o->tmp);
    } else if (rename(o->tmp, o->path) != 0) {
        m3_error("%s: cannot replace output: %s", o->name, strerror(errno));
        m3_out_abort(o);
        return -1;
    }
named:
    cleanup_armed = 0;
    {
        char *dcopy = strdup(o->path);
        if (dcopy != NULL) {
            int dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            if (dfd >= 0) {
                fsync(dfd);
                close(dfd);
            }
            free(dcopy);
        }
    }
    free(o->tmp);
    o->tmp = NULL;
    free(o->path);
    o->path = NULL;
    return rc;
}

void
m3_out_abort(struct m3_out *o)
{
    if (o->fd > 2)
        close(o->fd);
    o->fd = -1;
    if (o->tmp != NULL) {
        if (!o->unnamed)
            unlink(o->tmp);
        cleanup_armed = 0;
        free(o->tmp);
        o->tmp = NULL;
    }
    free(o->path);
    o->path = NULL;
}

int
m3_passphrase_cb(void *ctx, const char *prompt, char *buf, size_t cap)
{
    const char *env = getenv("M3AGE_PASSPHRASE");
    char msg[512];

    (void)ctx;
    if (env != NULL) {
        if (strlen(env) + 1 > cap)
            return M3_EINVAL;
        memcpy(buf, env, strlen(env) + 1);
        return 0;
    }
    snprintf(msg, sizeof(msg), "Enter passphrase for %s: ", prompt ? prompt : "the file");
    if (readpassphrase(msg, buf, cap, RPP_REQUIRE_TTY) == NULL)
        return M3_ECANCELED;
    return 0;
}

unsigned
m3_threads(void)
{
    const char *env = getenv("M3AGE_THREADS");
    long n;

    if (env != NULL && (n = strtol(env, NULL, 10)) > 0 && n <= 64)
        return (unsigned)n;
    n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)(n > 16 ? 16 : n) : 1;
}
