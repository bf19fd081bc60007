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

    mk("fleet/keys");
    touch("fleet/flake.nix"); /* a bare .git tracking nothing would not make fleet the root */
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

/* sh: runs a shell command in the test folder (real git); asserts it succeeded. */
static void
sh(const char *cmd)
{
    char line[PATH_MAX + 512];

    cr_assert_lt((size_t)snprintf(line, sizeof(line), "cd '%s' && (%s) >/dev/null 2>&1 </dev/null",
                                  top, cmd),
                 sizeof(line));
    cr_assert_eq(system(line), 0, "%s", cmd);
}

static void
assert_trust_root(const char *path, const char *want)
{
    char *root = NULL;
    struct m3_diag d = {0};

    cr_assert_eq(reg_trust_root(at(path), &root, &d), 0, "%s", d.msg);
    cr_assert_str_eq(root, at(want));
    free(root);
}

Test(registry_fs, trust_root_is_the_git_work_tree_only_when_it_tracks_the_folder)
{
    /* A dotfiles home under git, with a flake; a tarball unpacked in it, not added. */
    mk("home/.config");
    touch("home/flake.nix");
    touch("home/.config/rc");
    sh("cd home && git init -q . && git add flake.nix .config/rc");
    mk("home/dl/fleet/secrets");
    touch("home/dl/fleet/secrets/secrets.nix");
    assert_trust_root("home/dl/fleet/secrets/secrets.nix", "home/dl/fleet/secrets");
    assert_trust_root("home/dl/fleet/secrets", "home/dl/fleet/secrets");
    /* ... with a flake of its own: that flake's folder */
    touch("home/dl/fleet/flake.nix");
    assert_trust_root("home/dl/fleet/secrets/secrets.nix", "home/dl/fleet");
    /* the work tree's own top, and a folder git tracks a file in: the work tree */
    assert_trust_root("home/flake.nix", "home");
    assert_trust_root("home/.config", "home");
    sh("cd home && git add dl/fleet/secrets/secrets.nix");
    assert_trust_root("home/dl/fleet/secrets/secrets.nix", "home");
    /* index version 4 (prefix-compressed names) reads the same */
    sh("cd home && git update-index --index-version 4");
    assert_trust_root("home/dl/fleet/secrets/secrets.nix", "home");
    /* a linked work tree (.git is a file) reads its own index */
    sh("cd home && git -c user.name=t -c user.email=t@example.org commit -qm x && "
       "git worktree add -q ../wt");
    assert_trust_root("wt/dl/fleet/secrets/secrets.nix", "wt");
}

/* A hostile index (a repository unpacked from someone else's tarball): two entries
 * announced, the first one's NUL padding cut off by the end of the file. Reading it stays
 * inside the file (ASan: no heap over-read) and the folder counts as not tracked. */
Test(registry_fs, trust_root_reads_a_truncated_index_entry_within_the_file)
{
    unsigned char ix[12 + 62 + 3] = {'D', 'I', 'R', 'C', 0, 0, 0, 2, 0, 0, 0, 2};
    FILE *f;

    mk("repo/.git");
    mk("repo/fleet/secrets");
    touch("repo/fleet/secrets/secrets.nix");
    /* entry: ctime .. size, a SHA-1, flags (name length 2), "ab", NUL: 65 bytes, the 7
     * bytes of padding to 72 missing */
    ix[12 + 61] = 2;
    memcpy(ix + 12 + 62, "ab", 3);
    cr_assert_not_null(f = fopen(at("repo/.git/index"), "wb"));
    cr_assert_eq(fwrite(ix, 1, sizeof(ix), f), sizeof(ix));
    cr_assert_eq(fclose(f), 0);
    assert_trust_root("repo/fleet/secrets/secrets.nix", "repo/fleet/secrets");
}

Test(registry_fs, path_within_folds_dots_by_name_and_refuses_what_leaves_the_root)
{
    char *rel = NULL;
    struct m3_diag d = {0};

    cr_assert_eq(reg_path_within("/r/repo", "/r/repo/secrets", "wifi.age", &rel, &d), 0);
    cr_assert_str_eq(rel, "secrets/wifi.age");
    free(rel);
    cr_assert_eq(reg_path_within("/r/repo", "/r/repo/nix", "./../secrets//x.age", &rel, &d), 0);
    cr_assert_str_eq(rel, "secrets/x.age");
    free(rel);
    cr_assert_eq(reg_path_within("/r/repo", "/r/repo", "/r/repo/s/a.age", &rel, &d), 0);
    cr_assert_str_eq(rel, "s/a.age");
    free(rel);
    static const char *const bad[] = {"../other/secrets/db.age", "/etc/shadow", "/r/repo2/x.age",
                                      "a/../../repo2/x",         ".",           "secrets/../.."};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cr_assert_eq(reg_path_within("/r/repo", "/r/repo", bad[i], &rel, &d), M3_EINVAL, "%s",
                     bad[i]);
        cr_assert_null(rel);
        cr_assert(strstr(d.msg, "is outside the repository '/r/repo'") != NULL, "%s", d.msg);
    }
}

Test(registry_fs, confine_resolves_links_before_it_compares)
{
    char *real = NULL;
    struct m3_diag d = {0};

    mk("repo/keys");
    mk("other");
    touch("other/id");
    touch("repo/keys/a.pub");
    cr_assert_eq(symlink("../../other/id", at("repo/keys/b.pub")), 0);
    cr_assert_eq(reg_confine(at("repo"), at("repo/keys/a.pub"), &real, &d), 0, "%s", d.msg);
    cr_assert_str_eq(real, at("repo/keys/a.pub"));
    free(real);
    cr_assert_eq(reg_confine(at("repo"), at("repo/keys/b.pub"), &real, &d), M3_EINVAL);
    cr_assert_null(real);
    cr_assert_eq(reg_confine(at("repo"), at("repo/../other/id"), &real, &d), M3_EINVAL);
    cr_assert_eq(reg_confine(at("repo"), at("repo/keys/none"), &real, &d), M3_ENOTFOUND);
}
