/* secrets_openat_beneath and its fallback walk (secrets/repo.c): a secret file is opened
 * beneath the repository root and never through a link, whichever the kernel offers. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "secrets/repo.h"

static char top[PATH_MAX];
static int root_fd = -1;

static const char *
at(const char *rel)
{
    static char p[2][PATH_MAX + 64];
    static int i;
    i ^= 1;
    snprintf(p[i], sizeof(p[i]), "%s/%s", top, rel);
    return p[i];
}

static void
setup(void)
{
    const char *tmp = getenv("TMPDIR");
    char tmpl[PATH_MAX];
    FILE *f;

    snprintf(tmpl, sizeof(tmpl), "%s/m3beneath.XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    cr_assert_not_null(mkdtemp(tmpl));
    cr_assert_not_null(realpath(tmpl, top));
    cr_assert_eq(mkdir(at("repo"), 0700), 0);
    cr_assert_eq(mkdir(at("repo/secrets"), 0700), 0);
    cr_assert_eq(mkdir(at("victim"), 0700), 0);
    cr_assert_not_null(f = fopen(at("repo/secrets/wifi.age"), "w"));
    fclose(f);
    cr_assert_not_null(f = fopen(at("victim/db.age"), "w"));
    fclose(f);
    cr_assert_eq(symlink("../../victim/db.age", at("repo/secrets/x.age")), 0);
    cr_assert_eq(symlink("../victim", at("repo/linked")), 0);
    cr_assert_geq(root_fd = open(at("repo"), O_PATH | O_DIRECTORY | O_CLOEXEC), 0);
}

static void
teardown(void)
{
    char cmd[PATH_MAX + 16];

    close(root_fd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(secrets_beneath, .init = setup, .fini = teardown);

typedef int (*open_fn)(int, const char *, int, mode_t);

static void
check(open_fn fn)
{
    int fd;

    cr_assert_geq(fd = fn(root_fd, "secrets/wifi.age", O_RDONLY, 0), 0);
    close(fd);
    /* a committed link to another repository's secret, and a linked folder */
    cr_assert_eq(fn(root_fd, "secrets/x.age", O_RDONLY, 0), -ELOOP);
    cr_assert_eq(fn(root_fd, "linked/db.age", O_RDONLY, 0), -ELOOP);
    cr_assert_eq(fn(root_fd, "secrets/none.age", O_RDONLY, 0), -ENOENT);
    /* the folder of a file to write, and a new file in it: no link is followed either */
    cr_assert_geq(fd = fn(root_fd, "secrets", O_RDONLY | O_DIRECTORY, 0), 0);
    close(fd);
    cr_assert_eq(fn(root_fd, "linked", O_RDONLY | O_DIRECTORY, 0), -ELOOP);
    cr_assert_eq(fn(root_fd, "linked/new.age", O_WRONLY | O_CREAT | O_EXCL, 0600), -ELOOP);
    cr_assert_eq(access(at("victim/new.age"), F_OK), -1);
}

Test(secrets_beneath, openat2_refuses_links)
{
    check(secrets_openat_beneath);
    /* openat2 also refuses to climb out, should a ".." ever reach it */
    cr_assert_lt(secrets_openat_beneath(root_fd, "../victim/db.age", O_RDONLY, 0), 0);
}

Test(secrets_beneath, walk_refuses_links)
{
    check(secrets_openat_walk);
}
