/* edit.c: decrypt to tmpfs, run the editor, re-encrypt to the registry's recipients.
 *
 * Threat: the plaintext must not reach persistent storage nor outlive the run. It lives in
 * secret memory, and on disk only in a 0700 folder on tmpfs/ramfs, overwritten and removed
 * on every exit path (a signal handler covers SIGINT, SIGTERM and SIGHUP while the editor
 * runs). The editor gets the path as its only argument; no secret is put in argv or env
 * (M3AGE_PASSPHRASE is taken out of the environment every child process gets), and it is
 * terminated when m3age dies. The private folder's name carries m3age's process id, so that
 * a later run can remove the folder of a run that was killed (SIGKILL cannot be caught).
 *
 * Nothing is lost when something else changes the repository during the edit: the registry
 * is read again after the editor exits, and the new text goes to the recipients the registry
 * has then; when the secret file itself was replaced meanwhile, or its rule is gone, the file
 * is not overwritten and the edit is kept, encrypted, beside it. */
#include "libage/internal.h"
#include "secrets/plan.h"
#include "secrets/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* What the signal handler removes: the plaintext file and its folder. */
static char sig_file[PATH_MAX];
static char sig_dir[PATH_MAX];
static volatile sig_atomic_t sig_armed;
static volatile pid_t sig_child;

/* wipe_path: overwrites a file with zeros and unlinks it. Async-signal-safe. */
static void
wipe_path(const char *path)
{
    static const char zeros[4096];
    struct stat st;
    int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd >= 0) {
        if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
            off_t left = st.st_size;
            while (left > 0) {
                size_t n = left > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left;
                ssize_t w = write(fd, zeros, n);
                if (w <= 0)
                    break;
                left -= w;
            }
            fsync(fd);
        }
        close(fd);
    }
    unlink(path);
}

static void
on_signal(int sig)
{
    if (sig_child > 0)
        kill(sig_child, SIGTERM);
    if (sig_armed) {
        wipe_path(sig_file);
        rmdir(sig_dir);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static void wipe_tree_at(int dfd, int depth);

/* wipe_dir: wipes every file in dir (the plaintext, and whatever the editor left beside it:
 * backups, swap files, folders) and removes the folder. */
static void
wipe_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    if (fd >= 0) {
        wipe_tree_at(fd, 16);
        close(fd);
    }
    rmdir(dir);
}

static int
check_tmpfs(const char *base, bool unsafe, struct m3_diag *d)
{
    struct statfs sf;

    if (statfs(base, &sf) != 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", base, strerror(errno));
    if (sf.f_type == TMPFS_MAGIC || sf.f_type == RAMFS_MAGIC || unsafe)
        return 0;
    return m3_diag_set(d, M3_EINVAL,
                       "%s is not on tmpfs: refusing to write plaintext to a disk "
                       "(use --unsafe-tmp to accept it, or set XDG_RUNTIME_DIR)",
                       base);
}

static int
write_all(int fd, const unsigned char *p, size_t len)
{
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

static int
read_fd(int fd, struct secrets_buf *b)
{
    unsigned char *chunk = age_secret_alloc(65536);
    int rc = 0;

    if (chunk == NULL)
        return M3_ENOMEM;
    for (;;) {
        ssize_t n = read(fd, chunk, 65536);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = M3_EIO;
            break;
        }
        if (n == 0)
            break;
        if ((rc = secrets_buf_append(b, chunk, (size_t)n)) != 0)
            break;
    }
    if (rc == 0 && b->p == NULL)
        rc = secrets_buf_append(b, "", 0);
    age_secret_free(chunk);
    return rc;
}

char **
secrets_child_environ(void)
{
    extern char **environ;
    size_t n = 0, o = 0;
    char **v;

    while (environ != NULL && environ[n] != NULL)
        n++;
    if ((v = calloc(n + 1, sizeof(*v))) == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "M3AGE_PASSPHRASE=", 17) != 0)
            v[o++] = environ[i];
    return v;
}

/* stale_owner: the process id in the name of a private folder "m3age-edit.PID.XXXXXX", or 0
 * for any other name. */
static pid_t
stale_owner(const char *name)
{
    const char *p = name + strlen("m3age-edit.");
    char *end;
    long pid;

    if (strncmp(name, "m3age-edit.", 11) != 0 || *p < '1' || *p > '9')
        return 0;
    pid = strtol(p, &end, 10);
    if (*end != '.' || strlen(end + 1) != 6 || pid <= 0 || pid > INT_MAX)
        return 0;
    return (pid_t)pid;
}

/* wipe_tree_at: wipes every regular file (overwritten with zeros, then removed) below the
 * open folder dfd, nested folders included, and removes them; links and other files are
 * removed, never followed. Everything is reached through descriptors: no name is checked
 * and then opened again. depth bounds the recursion. */
static void
wipe_tree_at(int dfd, int depth)
{
    static const char zeros[4096];
    struct dirent *de;
    struct stat st;
    int lfd = fcntl(dfd, F_DUPFD_CLOEXEC, 0);
    DIR *dh = lfd >= 0 ? fdopendir(lfd) : NULL;

    if (dh == NULL) {
        if (lfd >= 0)
            close(lfd);
        return;
    }
    while ((de = readdir(dh)) != NULL) {
        int fd;
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
            fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            if (depth > 0 && (fd = openat(dfd, de->d_name,
                                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
                wipe_tree_at(fd, depth - 1);
                close(fd);
            }
            unlinkat(dfd, de->d_name, AT_REMOVEDIR);
            continue;
        }
        if (S_ISREG(st.st_mode) &&
            (fd = openat(dfd, de->d_name, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) >= 0) {
            if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
                off_t left = st.st_size;
                while (left > 0) {
                    ssize_t w = write(fd, zeros,
                                      left > (off_t)sizeof(zeros) ? sizeof(zeros) : (size_t)left);
                    if (w <= 0)
                        break;
                    left -= w;
                }
                fsync(fd);
            }
            close(fd);
        }
        unlinkat(dfd, de->d_name, 0);
    }
    closedir(dh);
}

size_t
secrets_edit_clean_stale(const char *tmp_base)
{
    const char *base = tmp_base && *tmp_base ? tmp_base : "/dev/shm";
    int bfd = open(base, O_RDONLY | O_DIRECTORY | O_CLOEXEC), lfd = -1;
    DIR *dh = NULL;
    struct dirent *de;
    struct stat st;
    size_t n = 0;
    pid_t pid;

    if (bfd < 0)
        return 0;
    if ((lfd = fcntl(bfd, F_DUPFD_CLOEXEC, 0)) < 0 || (dh = fdopendir(lfd)) == NULL) {
        if (lfd >= 0)
            close(lfd);
        close(bfd);
        return 0;
    }
    while ((de = readdir(dh)) != NULL) {
        int fd;
        if ((pid = stale_owner(de->d_name)) == 0 || pid == getpid())
            continue;
        /* Only our own folders, and only when their process is gone. */
        if (kill(pid, 0) == 0 || errno != ESRCH)
            continue;
        /* opened once, without following a link; ownership checked on what was opened */
        if ((fd = openat(bfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
            continue;
        if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid()) {
            wipe_tree_at(fd, 16);
            if (unlinkat(bfd, de->d_name, AT_REMOVEDIR) == 0)
                n++;
        }
        close(fd);
    }
    closedir(dh);
    close(bfd);
    return n;
}

static bool
is_vim(const char *prog)
{
    const char *b = strrchr(prog, '/');
    b = b ? b + 1 : prog;
    return strcmp(b, "vim") == 0 || strcmp(b, "nvim") == 0 || strcmp(b, "vi") == 0 ||
           strcmp(b, "gvim") == 0 || strcmp(b, "vim.basic") == 0;
}

/* run_editor: runs editor + [vim options] + file and waits. 0, or M3_ECANCELED with why. */
static int
run_editor(char *const *editor, const char *file, struct m3_diag *d)
{
    static char *const vim_opts[] = {
        "-n", "-i", "NONE", "--cmd", "set nobackup nowritebackup noundofile noswapfile", NULL};
    char *argv[64], **envp;
    size_t n = 0;
    int status, err = 0, pfd[2];
    pid_t pid, parent = getpid();

    for (size_t i = 0; editor[i] != NULL && n < 50; i++)
        argv[n++] = editor[i];
    if (n == 0)
        return m3_diag_set(d, M3_EINVAL, "empty editor command");
    if (is_vim(argv[0]))
        for (size_t i = 0; vim_opts[i] != NULL; i++)
            argv[n++] = vim_opts[i];
    argv[n++] = (char *)file;
    argv[n] = NULL;
    if ((envp = secrets_child_environ()) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    /* A failed exec reports its errno through a close-on-exec pipe: the one error line is
     * then the parent's, prefixed, rather than an unprefixed line from the child. */
    if (pipe2(pfd, O_CLOEXEC) != 0) {
        free(envp);
        return m3_diag_set(d, M3_EIO, "cannot start the editor: %s", strerror(errno));
    }
    if ((pid = fork()) < 0) {
        free(envp);
        close(pfd[0]);
        close(pfd[1]);
        return m3_diag_set(d, M3_EIO, "cannot start the editor: %s", strerror(errno));
    }
    if (pid == 0) {
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        signal(SIGHUP, SIG_DFL);
        /* An editor must not outlive m3age with the plaintext open (m3age killed by SIGKILL). */
        if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != parent)
            _exit(127);
        close(pfd[0]);
        execvpe(argv[0], argv, envp);
        err = errno;
        if (write(pfd[1], &err, sizeof(err)) < 0)
            _exit(127);
        _exit(127);
    }
    free(envp);
    close(pfd[1]);
    while (read(pfd[0], &err, sizeof(err)) < 0 && errno == EINTR)
        ;
    close(pfd[0]);
    sig_child = pid;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            sig_child = 0;
            return m3_diag_set(d, M3_EIO, "waiting for the editor: %s", strerror(errno));
        }
    }
    sig_child = 0;
    if (err != 0)
        return m3_diag_set(d, M3_ECANCELED, "cannot run the editor '%s': %s", argv[0],
                           strerror(err));
    if (WIFSIGNALED(status))
        return m3_diag_set(d, M3_ECANCELED, "the editor '%s' was killed by signal %d", argv[0],
                           WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        return m3_diag_set(d, M3_ECANCELED, "the editor '%s' exited with status %d", argv[0],
                           WEXITSTATUS(status));
    return 0;
}

/* edit_in_tmp: puts old (may be NULL: no file) on tmpfs, runs the editor, reads the result
 * into neu. *created is false when the editor left no file. */
static int
edit_in_tmp(const struct secrets_target *t, const struct secrets_edit_opts *o,
            const struct secrets_buf *old, struct secrets_buf *neu, bool *created,
            struct m3_diag *d)
{
    struct sigaction sa, old_int, old_term, old_hup;
    const char *base = o->tmp_base && *o->tmp_base ? o->tmp_base : "/dev/shm";
    const char *name = strrchr(t->path, '/');
    char dir[PATH_MAX], file[PATH_MAX];
    int fd = -1, rc;

    name = name ? name + 1 : t->path;
    if ((rc = check_tmpfs(base, o->unsafe_tmp, d)) != 0)
        return rc;
    if ((size_t)snprintf(dir, sizeof(dir), "%s/m3age-edit.%ld.XXXXXX", base, (long)getpid()) >=
        sizeof(dir))
        return m3_diag_set(d, M3_EINVAL, "%s: path too long", base);
    if (mkdtemp(dir) == NULL)
        return m3_diag_set(d, M3_EIO, "%s: cannot create a private folder: %s", base,
                           strerror(errno));
    if ((size_t)snprintf(file, sizeof(file), "%s/%s", dir, name) >= sizeof(file)) {
        rmdir(dir);
        return m3_diag_set(d, M3_EINVAL, "%s: path too long", name);
    }
    snprintf(sig_file, sizeof(sig_file), "%s", file);
    snprintf(sig_dir, sizeof(sig_dir), "%s", dir);
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    sigaction(SIGHUP, &sa, &old_hup);
    sig_armed = 1;
    if (old != NULL) {
        if ((fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
            write_all(fd, old->p, old->len) != 0 || close(fd) != 0) {
            rc = m3_diag_set(d, M3_EIO, "%s: %s", file, strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
    }
    if (!o->no_edit && (rc = run_editor(o->editor, file, d)) != 0)
        goto out;
    *created = false;
    if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
        if (errno != ENOENT)
            rc = m3_diag_set(d, M3_EIO, "%s: %s", file, strerror(errno));
        goto out;
    }
    *created = true;
    rc = read_fd(fd, neu);
    close(fd);
    if (rc != 0)
        m3_diag_set(d, rc, "cannot read the edited file");
out:
    wipe_dir(dir);
    sig_armed = 0;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGHUP, &old_hup, NULL);
    return rc;
}

/* same_file: a and b describe the same file contents (same inode, size and times). */
static bool
same_file(bool ea, const struct stat *a, bool eb, const struct stat *b)
{
    if (ea != eb)
        return false;
    return !ea ||
           (a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
            a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
            a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec);
}

/* same_keys: the two entries name the same set of keys. */
static bool
same_keys(const struct reg_entry *a, const struct reg_entry *b)
{
    for (int pass = 0; pass < 2; pass++) {
        const struct reg_entry *x = pass ? b : a, *y = pass ? a : b;
        for (size_t i = 0; i < x->nkeys; i++) {
            bool found = false;
            for (size_t j = 0; j < y->nkeys && !found; j++)
                found = secrets_keys_equal(x->keys[i], y->keys[j]);
            if (!found)
                return false;
        }
    }
    return true;
}

/* keep_edit: encrypts the edit to rcpts as "NAME.kept-XXXXXX.age" beside path (NAME: path
 * without ".age"); *kept gets the malloc'd name. */
static int
keep_edit(const struct secrets_repo *r, const char *path, struct age_recipient *const *rcpts,
          size_t n, bool armor, const struct secrets_buf *b, char **kept, struct m3_diag *d)
{
    size_t len = strlen(path), cap;
    unsigned char rnd[3];
    char hex[7];

    if (len > 4 && strcmp(path + len - 4, ".age") == 0)
        len -= 4;
    cap = len + 32;
    if ((*kept = malloc(cap)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(*kept, cap, "%.*s.kept-%s.age", (int)len, path, hex);
    if (r == NULL)
        return secrets_encrypt_file(*kept, rcpts, n, armor, b->p, b->len, d);
    return secrets_repo_encrypt(r, *kept, rcpts, n, armor, b->p, b->len, true, d);
}

/* file_stat: stat of the secret file, confined to the repository when there is one. */
static int
file_stat(const struct secrets_repo *r, const char *path, struct stat *st, struct m3_diag *d)
{
    if (r != NULL)
        return secrets_repo_stat(r, path, st, d);
    if (stat(path, st) == 0)
        return 0;
    return m3_diag_set(d, errno == ENOENT ? M3_ENOTFOUND : M3_EIO, "%s: %s", path, strerror(errno));
}

/* keep_anywhere: keep_edit beside path, else under path's base name in the working
 * directory, else in the registry's folder: the first folder that takes it. */
static int
keep_anywhere(const struct secrets_repo *r, const char *path, struct age_recipient *const *rcpts,
              size_t n, bool armor, const struct secrets_buf *b, char **kept, struct m3_diag *d)
{
    const char *base = strrchr(path, '/');
    const char *dirs[] = {NULL, ".", r != NULL ? r->dir : NULL};
    char alt[PATH_MAX];
    struct m3_diag kd;
    int rc = M3_EIO;

    base = base ? base + 1 : path;
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        const char *p = path;
        if (i > 0) {
            if (dirs[i] == NULL ||
                (size_t)snprintf(alt, sizeof(alt), "%s/%s", dirs[i], base) >= sizeof(alt))
                continue;
            p = alt;
        }
        free(*kept);
        *kept = NULL;
        m3_diag_clear(&kd);
        if ((rc = keep_edit(r, p, rcpts, n, armor, b, kept, &kd)) == 0)
            return 0;
    }
    free(*kept);
    *kept = NULL;
    return m3_diag_set(d, rc, "%s", kd.msg);
}

/* parent_of: the folder part of path ("." when none) into buf. */
static void
parent_of(const char *path, char *buf, size_t cap)
{
    const char *slash = strrchr(path, '/');

    if (slash == NULL)
        snprintf(buf, cap, ".");
    else if (slash == path)
        snprintf(buf, cap, "/");
    else
        snprintf(buf, cap, "%.*s", (int)(slash - path), path);
}

/* check_target_dir: before anyone types a secret, whether its result could be written: the
 * folder of path, or when it is missing the nearest folder above that exists, must be a
 * writable folder. *missing says whether folders are to be made. */
static int
check_target_dir(const char *path, bool *missing, struct m3_diag *d)
{
    char dir[PATH_MAX];
    struct stat st;

    *missing = false;
    parent_of(path, dir, sizeof(dir));
    while (stat(dir, &st) != 0) {
        if (errno != ENOENT || strcmp(dir, ".") == 0 || strcmp(dir, "/") == 0)
            return m3_diag_set(d, M3_EIO, "cannot write in '%s': %s", dir, strerror(errno));
        *missing = true;
        parent_of(dir, dir, sizeof(dir));
    }
    if (!S_ISDIR(st.st_mode))
        return m3_diag_set(d, M3_EIO, "cannot write in '%s': %s", dir, strerror(ENOTDIR));
    if (access(dir, W_OK | X_OK) != 0)
        return m3_diag_set(d, M3_EIO, "cannot write in '%s': %s", dir, strerror(errno));
    return 0;
}

/* make_parents: makes the missing folders of path (0777 minus the umask, as mkdir -p). The
 * nearest folder that exists must not be a symbolic link: a folder made through one could lie
 * outside the repository (the secret itself is then refused by the confined write anyway). */
static int
make_parents(const char *path, struct m3_diag *d)
{
    char dir[PATH_MAX];
    struct stat st;

    parent_of(path, dir, sizeof(dir));
    if (lstat(dir, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return m3_diag_set(d, M3_EIO,
                               "'%s' is a symbolic link: m3age makes no folder through one", dir);
        return 0;
    }
    if (strcmp(dir, ".") != 0 && strcmp(dir, "/") != 0 && make_parents(dir, d) != 0)
        return M3_EIO;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return m3_diag_set(d, M3_EIO, "cannot create the folder '%s': %s", dir, strerror(errno));
    return 0;
}

/* check_pq_mix: an entry listing post-quantum and classical keys is refused before the
 * editor runs (libage would refuse to encrypt what was typed), naming the classical keys as
 * the registry does. */
static int
check_pq_mix(const struct secrets_repo *r, const struct secrets_target *t, struct m3_diag *d)
{
    struct secrets_keyset ks;
    char names[512];
    size_t first = 0;
    int rc = 0;

    if (secrets_keyset_build_light(&ks, r->reg) != 0)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if (secrets_entry_pq_mix(&ks, t->entry, &first, names, sizeof(names)))
        rc = m3_diag_set(d, M3_EINVAL,
                         "%s: post-quantum recipients cannot be mixed with classical ones, which "
                         "would make the file not post-quantum; classical: %s",
                         t->path, names);
    secrets_keyset_clear(&ks);
    return rc;
}

int
secrets_edit(const struct secrets_repo *r, const struct secrets_target *t,
             struct keys_identities *ids, const struct secrets_edit_opts *o,
             enum secrets_edit_result *res, struct m3_diag *d)
{
    struct secrets_buf old = {0}, neu = {0};
    struct keys_recipients rl = {0}, now = {0};
    struct reg_registry *reg = NULL;
    const struct reg_entry *e = NULL;
    struct stat st, st2;
    struct m3_diag rd;
    bool exists, created = false, armor = t->entry->armor;
    bool missing_dirs = false;
    char *kept = NULL;
    int rc;

    *res = SECRETS_EDIT_UNCHANGED;
    /* Check the recipients and the folder before anyone types a secret that could not be
     * saved. */
    if ((rc = secrets_entry_recipients(t->entry, &rl, d)) != 0)
        goto out;
    if (rl.n == 0) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: the registry gives it no recipients", t->path);
        goto out;
    }
    if (r != NULL && (rc = check_pq_mix(r, t, d)) != 0)
        goto out;
    /* The file is reached beneath the repository root, never through a link. */
    if ((rc = file_stat(r, t->path, &st, d)) != 0 && rc != M3_ENOTFOUND)
        goto out;
    exists = rc == 0;
    rc = 0;
    m3_diag_clear(d);
    if (!o->no_edit || exists) {
        struct m3_diag cd;
        m3_diag_clear(&cd);
        if ((rc = check_target_dir(t->path, &missing_dirs, &cd)) != 0) {
            m3_diag_set(d, rc, "%s (checked before the editor: nothing was changed)", cd.msg);
            goto out;
        }
    }
    if (exists && (rc = r != NULL ? secrets_repo_decrypt(r, t->path, ids->v, ids->n, &old, d)
                                  : secrets_decrypt_file(t->path, ids->v, ids->n, &old, d)) != 0)
        goto out;
    if (o->input_fd >= 0 && !o->no_edit) {
        if ((rc = read_fd(o->input_fd, &neu)) != 0) {
            m3_diag_set(d, rc, "cannot read standard input");
            goto out;
        }
        /* cron, a Makefile or `ssh host m3age edit` with nothing on stdin must not blank a
         * secret that would then deploy as an empty file. */
        if (neu.len == 0 && exists && old.len > 0 && !o->allow_empty) {
            *res = SECRETS_EDIT_EMPTY_INPUT;
            rc = m3_diag_set(d, M3_EINVAL,
                             "read 0 bytes from standard input: not replacing the secret with "
                             "nothing");
            goto out;
        }
        created = true;
    } else if (o->no_edit && exists) {
        if ((rc = secrets_buf_append(&neu, old.p, old.len)) != 0)
            goto out;
        created = true;
    } else if (o->no_edit) {
        created = false;
    } else if ((rc = edit_in_tmp(t, o, exists ? &old : NULL, &neu, &created, d)) != 0) {
        goto out;
    }
    if (!created) {
        *res = SECRETS_EDIT_NOT_CREATED;
        goto out;
    }
    if (exists && !o->force && neu.len == old.len && memcmp(neu.p, old.p, old.len) == 0) {
        *res = SECRETS_EDIT_UNCHANGED;
        goto out;
    }
    /* The edit may have taken minutes: read the registry again, and look at the file. */
    m3_diag_clear(&rd);
    if (r != NULL && r->rules != NULL && reg_load_path(r->rules, NULL, &reg, &rd) != 0) {
        if ((rc = keep_edit(r, t->path, rl.v, rl.n, armor, &neu, &kept, d)) == 0) {
            *res = SECRETS_EDIT_KEPT;
            rc = m3_diag_set(d, M3_ESTATE,
                             "not written: %s changed during the edit and no longer loads; the "
                             "edit is kept encrypted as %s (%s)",
                             r->rules, kept, rd.msg);
            if (rd.hint[0] != '\0') /* the parser's guess at the fix (a missing ';') */
                m3_diag_hint(d, "%s", rd.hint);
        }
        goto out;
    }
    if (reg != NULL && (e = reg_registry_find(reg, t->entry->name)) == NULL) {
        if ((rc = keep_edit(r, t->path, rl.v, rl.n, armor, &neu, &kept, d)) == 0) {
            *res = SECRETS_EDIT_KEPT;
            rc = m3_diag_set(d, M3_ESTATE,
                             "not written: its rule was removed from %s during the edit; the edit "
                             "is kept encrypted as %s",
                             r->rules, kept);
        }
        goto out;
    }
    if (e != NULL && (!same_keys(e, t->entry) || e->armor != t->entry->armor)) {
        /* The registry is the truth: encrypt to the recipients it has now. */
        if ((rc = secrets_entry_recipients(e, &now, d)) != 0)
            goto out;
        if (now.n == 0) {
            rc = m3_diag_set(d, M3_EINVAL, "%s: the registry gives it no recipients", t->path);
            goto out;
        }
        keys_recipients_clear(&rl);
        rl = now;
        memset(&now, 0, sizeof(now));
        armor = e->armor;
        *res = SECRETS_EDIT_WRITTEN_REGISTRY_CHANGED;
    }
    if (!same_file(exists, &st, file_stat(r, t->path, &st2, NULL) == 0, &st2)) {
        if ((rc = keep_edit(r, t->path, rl.v, rl.n, armor, &neu, &kept, d)) == 0) {
            *res = SECRETS_EDIT_KEPT;
            rc = m3_diag_set(d, M3_ESTATE,
                             "not overwritten: another program changed it during the edit; the "
                             "edit is kept encrypted as %s",
                             kept);
        }
        goto out;
    }
    if ((missing_dirs && (rc = make_parents(t->path, d)) != 0) ||
        (rc = r != NULL
               ? secrets_repo_encrypt(r, t->path, rl.v, rl.n, armor, neu.p, neu.len, true, d)
               : secrets_encrypt_file(t->path, rl.v, rl.n, armor, neu.p, neu.len, d)) != 0) {
        /* The folder was writable before the editor; keep the edit wherever it still can
         * be written, encrypted, rather than lose it. */
        struct m3_diag wd;
        m3_diag_clear(&wd);
        if (d != NULL)
            wd = *d;
        if (keep_anywhere(r, t->path, rl.v, rl.n, armor, &neu, &kept, d) == 0) {
            *res = SECRETS_EDIT_KEPT;
            rc = m3_diag_set(d, M3_EIO, "not written: %s; the edit is kept encrypted as %s", wd.msg,
                             kept);
        } else {
            struct m3_diag kd;
            m3_diag_clear(&kd);
            if (d != NULL)
                kd = *d;
            m3_diag_set(d, rc, "%s; the edit could not be kept anywhere either: %s", wd.msg,
                        kd.msg);
        }
        goto out;
    }
    if (*res != SECRETS_EDIT_WRITTEN_REGISTRY_CHANGED)
        *res = SECRETS_EDIT_WRITTEN;
out:
    free(kept);
    reg_registry_free(reg);
    secrets_buf_free(&old);
    secrets_buf_free(&neu);
    keys_recipients_clear(&rl);
    keys_recipients_clear(&now);
    return rc;
}
