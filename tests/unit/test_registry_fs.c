/* test_registry_fs.c: finding the registry and the repository root on a real file tree
 * (reg_locate, reg_repo_root, reg_file_dir), in a fresh folder under TMPDIR. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"

static char top[PATH_MAX]; /* the test's folder, resolved */

static const char *
at(const char *rel)
{
    static char buf[4][PATH_MAX];
    static int i;
    char *p = buf[i++ % 4];

    cr_assert_lt((size_t)snprintf(p, PATH_MAX, "%s%s%s", top, rel[0] ? "/" : "", rel), PATH_MAX);
    return p;
}

static void
mk(const char *rel)
{
    char p[PATH_MAX], *s;

    cr_assert_lt((size_t)snprintf(p, sizeof(p), "%s", at(rel)), sizeof(p));
    for (s = p + strlen(top) + 1; (s = strchr(s, '/')) != NULL; s++) {
        *s = '\0';
        mkdir(p, 0755);
        *s = '/';
    }
    mkdir(p, 0755);
}

static void
touch(const char *rel)
{
    int fd = open(at(rel), O_WRONLY | O_CREAT | O_TRUNC, 0644);

    cr_assert(fd >= 0, "cannot create %s", at(rel));
    close(fd);
}

/* ancestor_root: what reg_repo_root must find above the test folder (a .git or flake.nix
 * above TMPDIR), or NULL when there is none; computed the plain way. */
static const char *
ancestor_root(void)
{
    static char p[PATH_MAX];
    char q[PATH_MAX + 16], *s;
    struct stat st;

    snprintf(p, sizeof(p), "%s", top);
    while ((s = strrchr(p, '/')) != NULL) {
        if (s == p)
            s[1] = '\0';
        else
            *s = '\0';
        if ((size_t)snprintf(q, sizeof(q), "%s/.git", strcmp(p, "/") ? p : "") < sizeof(q) &&
            stat(q, &st) == 0)
            return p;
        if ((size_t)snprintf(q, sizeof(q), "%s/flake.nix", strcmp(p, "/") ? p : "") < sizeof(q) &&
            stat(q, &st) == 0)
            return p;
        if (strcmp(p, "/") == 0)
            break;
    }
    return NULL;
}

static void
setup(void)
{
    char tmpl[PATH_MAX];
    const char *tmp = getenv("TMPDIR");

    cr_assert_lt(
        (size_t)snprintf(tmpl, sizeof(tmpl), "%s/m3fs.XXXXXX", tmp && tmp[0] ? tmp : "/tmp"),
        sizeof(tmpl));
    cr_assert_not_null(mkdtemp(tmpl));
    cr_assert_not_null(realpath(tmpl, top));
}

static void
teardown(void)
{
    char cmd[PATH_MAX + 16];

    cr_assert_lt((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", top), sizeof(cmd));
    cr_assert_eq(system(cmd), 0);
}

TestSuite(registry_fs, .init = setup, .fini = teardown);

Test(registry_fs, repo_root_is_the_nearest_marked_ancestor)
{
    char *root = NULL;
    struct m3_diag d = {0};

    mk("fleet/hosts/m3-atlas/services");
    mk("fleet/.git");
    touch("fleet/hosts/m3-atlas/services/wifi.nix");
    /* a file: from its folder up */
    cr_assert_eq(reg_repo_root(at("fleet/hosts/m3-atlas/services/wifi.nix"), &root, &d), 0);
    cr_assert_str_eq(root, at("fleet"));
    free(root);
    /* a folder; a flake.nix nearer than the .git wins */
    touch("fleet/hosts/flake.nix");
    cr_assert_eq(reg_repo_root(at("fleet/hosts/m3-atlas/services"), &root, &d), 0);
    cr_assert_str_eq(root, at("fleet/hosts"));
    free(root);
    /* the marked folder itself */
    cr_assert_eq(reg_repo_root(at("fleet"), &root, &d), 0);
    cr_assert_str_eq(root, at("fleet"));
    free(root);
}

Test(registry_fs, repo_root_without_a_marker_is_the_folder_itself)
{
    char *root = NULL;
    struct m3_diag d = {0};
    const char *above = ancestor_root();

    mk("loose/m3-hermes/deep");
    touch("loose/m3-hermes/deep/secrets.nix");
    cr_assert_eq(reg_repo_root(at("loose/m3-hermes/deep/secrets.nix"), &root, &d), 0);
    /* the whole path, not one the walk up cut short */
    cr_assert_str_eq(root, above ? above : at("loose/m3-hermes/deep"));
    free(root);
    cr_assert_eq(reg_repo_root("/", &root, &d), 0);
    cr_assert_str_eq(root, "/");
    free(root);
}

Test(registry_fs, repo_root_of_a_missing_path_names_it)
{
    char *root = NULL;
    struct m3_diag d = {0};

    cr_assert_eq(reg_repo_root(at("nowhere/m3-kratos"), &root, &d), M3_EIO);
    cr_assert_null(root);
    cr_assert(strstr(d.msg, "nowhere/m3-kratos") != NULL, "%s", d.msg);
}

Test(registry_fs, locate_prefers_the_options_then_here_then_parents)
{
    char *path = NULL;
    const char *how = NULL;
    struct m3_diag d = {0};

    mk("fleet/.git");
    mk("fleet/hosts/m3-ares");
    touch("fleet/secrets.nix");
    cr_assert_eq(reg_locate("rules.nix", "env.nix", at("fleet"), &path, &how, &d), 0);
    cr_assert_str_eq(path, "rules.nix");
    cr_assert_str_eq(how, "--rules");
    free(path);
    cr_assert_eq(reg_locate(NULL, "env.nix", at("fleet"), &path, &how, &d), 0);
    cr_assert_str_eq(path, "env.nix");
    cr_assert_str_eq(how, "RULES");
    free(path);
    /* here: named as the caller named the folder */
    cr_assert_eq(reg_locate(NULL, "", at("fleet"), &path, &how, &d), 0);
    cr_assert_str_eq(path, at("fleet/secrets.nix"));
    cr_assert_str_eq(how, "./secrets.nix");
    free(path);
    /* two levels up, as an absolute path */
    cr_assert_eq(reg_locate(NULL, NULL, at("fleet/hosts/m3-ares"), &path, &how, &d), 0);
    cr_assert_str_eq(path, at("fleet/secrets.nix"));
    cr_assert_str_eq(how, "parent");
    free(path);
}

Test(registry_fs, locate_stops_at_the_repository_root)
{
    char *path = NULL;
    struct m3_diag d = {0};
    char want[PATH_MAX + 128];

    mk("outer/fleet/.git");
    mk("outer/fleet/hosts/m3-helios");
    touch("outer/secrets.nix"); /* above the repository: not this repository's registry */
    cr_assert_eq(reg_locate(NULL, NULL, at("outer/fleet/hosts/m3-helios"), &path, NULL, &d),
                 M3_ENOTFOUND);
    cr_assert_null(path);
    cr_assert_lt(
        (size_t)snprintf(want, sizeof(want), "up to the repository root '%s'", at("outer/fleet")),
        sizeof(want));
    cr_assert(strstr(d.msg, want) != NULL, "%s", d.msg);
}

Test(registry_fs, file_dir_is_the_resolved_folder)
{
    char *dir = NULL;
    struct m3_diag d = {0};

    mk("fleet/secrets");
    touch("fleet/secrets.nix");
    cr_assert_eq(symlink(at("fleet/secrets.nix"), at("fleet/secrets/link.nix")), 0);
    cr_assert_eq(reg_file_dir(at("fleet/secrets.nix"), &dir, &d), 0);
    cr_assert_str_eq(dir, at("fleet"));
    free(dir);
    /* a link's target's folder, as realpath gives it */
    cr_assert_eq(reg_file_dir(at("fleet/secrets/link.nix"), &dir, &d), 0);
    cr_assert_str_eq(dir, at("fleet"));
    free(dir);
    cr_assert_eq(reg_file_dir(at("fleet/none.nix"), &dir, &d), M3_EIO);
    cr_assert_null(dir);
    cr_assert(strstr(d.msg, "none.nix") != NULL, "%s", d.msg);
}

Test(registry_fs, repo_reader_finds_the_root_when_it_first_reads)
{
    struct reg_reader rd = {0};
    struct m3_diag d = {0};
    char *buf = NULL, want[PATH_MAX + 128];
    size_t len = 0;
    FILE *f;

    mk("fleet/.git");
    mk("fleet/keys");
    mk("fleet/hosts/m3-atlas");
    cr_assert_not_null(f = fopen(at("fleet/keys/m3-atlas.pub"), "w"));
    fputs("ssh-ed25519 AAAA m3-atlas\n", f);
    fclose(f);
    cr_assert_eq(reg_reader_repo(at("fleet/hosts/m3-atlas"), &rd), 0);
    cr_assert_eq(rd.read(rd.ctx, at("fleet/keys/m3-atlas.pub"), &buf, &len, &d), 0, "%s", d.msg);
    cr_assert_eq(len, strlen("ssh-ed25519 AAAA m3-atlas\n"));
    cr_assert_eq(memcmp(buf, "ssh-ed25519 AAAA m3-atlas\n", len), 0);
    free(buf);
    /* confined to the root found from the folder, not to the folder */
    cr_assert_eq(rd.read(rd.ctx, "/etc/hostname", &buf, &len, &d), M3_EINVAL);
    cr_assert_lt(
        (size_t)snprintf(want, sizeof(want), "is outside the repository '%s'", at("fleet")),
        sizeof(want));
    cr_assert(strstr(d.msg, want) != NULL, "%s", d.msg);
    reg_reader_fs_free(&rd);
    /* a folder that is gone: the first read says so */
    cr_assert_eq(reg_reader_repo(at("gone/m3-aether"), &rd), 0);
    cr_assert_neq(rd.read(rd.ctx, at("fleet/keys/m3-atlas.pub"), &buf, &len, &d), 0);
    cr_assert(strstr(d.msg, "gone/m3-aether") != NULL, "%s", d.msg);
    reg_reader_fs_free(&rd);
}
