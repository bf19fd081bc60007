/* gitsetup.c: git attributes, textconv configuration and the pre-commit check (see
 * gitsetup.h). */
#include "secrets/gitsetup.h"
#include "libage/age.h"
#include "registry/registry.h"
#include "secrets/audit.h"
#include "secrets/diff.h"
#include "secrets/filekind.h"
#include "secrets/plan.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ATTR_LINE "*.age diff=m3age"

static void
chomp(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
}

/* git_line: the first line of `git ARGS` output into out. */
static int
git_line(const char *const *argv, char *out, size_t cap, struct m3_diag *d)
{
    char *o = NULL;
    int st, rc;

    if ((rc = secrets_run_capture(argv, true, &o, NULL, &st, d)) != 0)
        return rc;
    if (st != 0) {
        free(o);
        return m3_diag_set(d, M3_ENOTFOUND, "not inside a git work tree");
    }
    chomp(o);
    snprintf(out, cap, "%s", o);
    free(o);
    return 0;
}

/* shell_quote: 'text' with embedded single quotes escaped, appended to buf. */
static void
shell_quote(char *buf, size_t cap, const char *s)
{
    size_t n = strlen(buf);

    if (n + 1 < cap)
        buf[n++] = '\'';
    for (; *s && n + 5 < cap; s++) {
        if (*s == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            buf[n++] = *s;
        }
    }
    if (n + 1 < cap)
        buf[n++] = '\'';
    buf[n] = '\0';
}

static int
add_attributes(const char *top, bool *added, struct m3_diag *d)
{
    char path[PATH_MAX + 32], *buf = NULL, *nb;
    struct stat st;
    size_t len = 0;
    int rc;

    *added = false;
    snprintf(path, sizeof(path), "%s/.gitattributes", top);
    /* The repository's own file only: a link committed in its place may point at any file of
     * the user's (a private key), which would be read and written back into the repository. */
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode))
        return m3_diag_set(d, M3_EINVAL,
                           "%s: %s (refused: git-setup edits only a regular file of the "
                           "repository)",
                           path, S_ISLNK(st.st_mode) ? "a symbolic link" : "not a regular file");
    rc = reg_read_file(path, &buf, &len, d);
    if (rc == M3_ENOTFOUND) {
        buf = strdup("");
        rc = buf ? 0 : M3_ENOMEM;
    }
    if (rc != 0)
        return rc;
    for (char *line = buf; line != NULL && *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        if (n == strlen(ATTR_LINE) && strncmp(line, ATTR_LINE, n) == 0) {
            free(buf);
            return 0;
        }
        line = nl ? nl + 1 : NULL;
    }
    if ((nb = malloc(len + strlen(ATTR_LINE) + 3)) == NULL) {
        free(buf);
        return M3_ENOMEM;
    }
    sprintf(nb, "%s%s%s\n", buf, len > 0 && buf[len - 1] != '\n' ? "\n" : "", ATTR_LINE);
    rc = reg_write_atomic(path, nb, strlen(nb), d);
    free(buf);
    free(nb);
    *added = rc == 0;
    return rc;
}

static int
git_config(const char *key, const char *value, struct m3_diag *d)
{
    const char *argv[] = {"git", "config", "--local", key, value, NULL};
    int st, rc = secrets_run_capture(argv, false, NULL, NULL, &st, d);

    if (rc == 0 && st != 0)
        rc = m3_diag_set(d, M3_EIO, "git config %s failed", key);
    return rc;
}

static int
install_hook(const struct secrets_git_setup_opts *o, struct secrets_git_setup_result *r,
             struct m3_diag *d)
{
    const char *argv[] = {"git",        "rev-parse",        "--path-format=absolute",
                          "--git-path", "hooks/pre-commit", NULL};
    char text[8192], *old = NULL, dir[4096], tmp[4200];
    size_t len;
    int rc, fd;

    if ((rc = git_line(argv, r->hook, sizeof(r->hook), d)) != 0)
        return rc;
    if (reg_read_file(r->hook, &old, &len, NULL) == 0) {
        bool ours = strstr(old, SECRETS_HOOK_MARK) != NULL;
        free(old);
        if (!ours && !o->force)
            return m3_diag_set(d, M3_ESTATE, "%s: a pre-commit hook that is not m3age's exists",
                               r->hook);
        r->hook_replaced = !ours;
    }
    snprintf(text, sizeof(text),
             "#!/bin/sh\n"
             "# Written by 'm3age git-setup': refuses plaintext in the secrets folder and .age\n"
             "# files whose recipients do not match secrets.nix. Bypass: git commit --no-verify\n"
             "exec ");
    shell_quote(text, sizeof(text), o->m3age);
    snprintf(text + strlen(text), sizeof(text) - strlen(text), " %s\n", SECRETS_HOOK_MARK);
    snprintf(dir, sizeof(dir), "%s", r->hook);
    *strrchr(dir, '/') = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return m3_diag_set(d, M3_EIO, "%s: %s", dir, strerror(errno));
    snprintf(tmp, sizeof(tmp), "%s.m3tmp", r->hook);
    /* a new file, never through a link left at the temp name (the hooks folder is the
     * repository's core.hooksPath, maybe shared): a stale one is removed first, itself */
    unlink(tmp);
    if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0755)) < 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", tmp, strerror(errno));
    len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fchmod(fd, 0755) != 0 || fsync(fd) != 0 ||
        close(fd) != 0 || rename(tmp, r->hook) != 0) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", r->hook, strerror(errno));
        unlink(tmp);
        return rc;
    }
    return 0;
}

int
secrets_git_setup(const struct secrets_git_setup_opts *o, struct secrets_git_setup_result *r,
                  struct m3_diag *d)
{
    const char *top_argv[] = {"git", "rev-parse", "--show-toplevel", NULL};
    int rc;

    memset(r, 0, sizeof(*r));
    if ((rc = git_line(top_argv, r->top, sizeof(r->top), d)) != 0)
        return rc;
    shell_quote(r->textconv, sizeof(r->textconv), o->m3age);
    snprintf(r->textconv + strlen(r->textconv), sizeof(r->textconv) - strlen(r->textconv),
             " diff --textconv");
    for (size_t i = 0; i < o->nidentity_files; i++) {
        char abs[PATH_MAX];
        if (realpath(o->identity_files[i], abs) == NULL)
            return m3_diag_set(d, M3_ENOTFOUND, "%s: %s", o->identity_files[i], strerror(errno));
        snprintf(r->textconv + strlen(r->textconv), sizeof(r->textconv) - strlen(r->textconv),
                 " -i ");
        shell_quote(r->textconv, sizeof(r->textconv), abs);
    }
    if ((rc = add_attributes(r->top, &r->attributes_added, d)) != 0 ||
        (rc = git_config("diff.m3age.textconv", r->textconv, d)) != 0 ||
        /* never keep plaintext in git's notes cache */
        (rc = git_config("diff.m3age.cachetextconv", "false", d)) != 0)
        return rc;
    return install_hook(o, r, d);
}

/* ---- pre-commit ------------------------------------------------------------------------ */

static int __attribute__((format(printf, 3, 4)))
problem(struct secrets_hook_result *r, const char *path, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    void *v = realloc(r->v, (r->n + 1) * sizeof(*r->v));

    if (v == NULL)
        return M3_ENOMEM;
    r->v = v;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    r->v[r->n].path = strdup(path);
    r->v[r->n].message = strdup(msg);
    if (r->v[r->n].path == NULL || r->v[r->n].message == NULL)
        return M3_ENOMEM;
    r->n++;
    return 0;
}

static int
check_age(struct secrets_hook_result *r, const struct reg_registry *reg,
          const struct secrets_keyset *ks, const char *path, const char *name,
          const unsigned char *blob, size_t len)
{
    const struct reg_entry *e = reg_registry_find(reg, name);
    struct age_header *h = NULL;
    struct secrets_drift dr = {0};
    struct m3_diag hd = {0};
    char change[1024] = "";
    int rc = 0;

    if (e == NULL)
        return problem(r, path, "no entry '%s' in the registry (add one, or unstage the file)",
                       name);
    if (secrets_header_from_buf(blob, len, &h, &hd) != 0)
        return problem(r, path, "not a valid age file: %s", hd.msg);
    if ((rc = secrets_drift_compute(ks, e, h, &dr)) == 0 && !secrets_drift_none(&dr)) {
        for (size_t i = 0; i < dr.nmissing; i++)
            snprintf(change + strlen(change), sizeof(change) - strlen(change), " +%s",
                     dr.missing[i]->name);
        for (size_t i = 0; i < dr.nstale; i++)
            snprintf(change + strlen(change), sizeof(change) - strlen(change), " -%s",
                     dr.stale[i].desc);
        if (dr.x25519_want != dr.x25519_have)
            snprintf(change + strlen(change), sizeof(change) - strlen(change),
                     " (X25519: %zu in the file, %zu in the registry)", dr.x25519_have,
                     dr.x25519_want);
        if (dr.pq_want != dr.pq_have)
            snprintf(change + strlen(change), sizeof(change) - strlen(change),
                     " (mlkem768x25519: %zu in the file, %zu in the registry)", dr.pq_have,
                     dr.pq_want);
        rc =
            problem(r, path, "recipients do not match the registry:%s (run 'm3age rekey')", change);
    }
    secrets_drift_clear(&dr);
    age_header_free(h);
    return rc;
}

/* check_staged: the pre-commit check of one staged path (name: its registry name). */
static int
check_staged(struct secrets_hook_result *r, const struct reg_registry *reg,
             const struct secrets_keyset *ks, const char *path, const char *name, bool in_secrets,
             struct m3_diag *d)
{
    unsigned char *blob = NULL;
    size_t blen = 0, n = strlen(path);
    const char *base = strrchr(path, '/');
    bool found, is_age = n > 4 && strcmp(path + n - 4, ".age") == 0;
    int rc;

    base = base ? base + 1 : path;
    if ((rc = secrets_git_blob("", path, &blob, &blen, &found, d)) != 0 || !found) {
        free(blob);
        return rc;
    }
    r->nchecked++;
    /* what audit notes as not a secret (M3A022/M3A023) is no leak: let it in */
    if (!is_age && !secrets_is_age_bytes(blob, blen) &&
        secrets_file_kind(base, blob, blen) > SECRETS_FILE_UNKNOWN) {
        free(blob);
        return 0;
    }
    if (!secrets_is_age_bytes(blob, blen))
        rc = problem(r, path, "not an age file: refusing to commit plaintext%s",
                     in_secrets ? " in the secrets folder" : " under a .age name");
    else
        rc = check_age(r, reg, ks, path, name, blob, blen);
    free(blob);
    return rc;
}

/* load_staged: the registry as the commit will have it (the index's version of regrel),
 * evaluated in the registry's folder regdir (imports from the working tree). */
static int
load_staged(const char *registry, const char *regrel, const char *regdir, struct reg_file **f,
            struct reg_registry **reg, struct m3_diag *d)
{
    struct reg_reader reader = {0};
    struct reg_eval_opts opts = {0};
    unsigned char *blob = NULL;
    size_t len = 0;
    bool found;
    int rc;

    if ((rc = secrets_git_blob("", regrel, &blob, &len, &found, d)) != 0)
        return rc;
    if (!found) {
        free(blob);
        return m3_diag_set(d, M3_EIO, "%s: not in the index", regrel);
    }
    if ((rc = reg_parse(registry, (const char *)blob, len, f, d)) == 0 &&
        (rc = reg_reader_repo(regdir, &reader)) == 0) {
        opts.reader = &reader;
        opts.base_dir = regdir;
        rc = reg_registry_load(*f, &opts, reg, d);
    }
    reg_reader_fs_free(&reader);
    free(blob);
    return rc;
}

int
secrets_precommit_check(const char *registry, struct secrets_hook_result **out, struct m3_diag *d)
{
    const char *top_argv[] = {"git", "rev-parse", "--show-toplevel", NULL};
    const char *ls_argv[] = {"git", "diff", "--cached", "--name-only", "-z", "--diff-filter=ACMR",
                             NULL};
    struct secrets_hook_result *r = calloc(1, sizeof(*r));
    struct reg_registry *reg = NULL;
    struct reg_file *staged_file = NULL;
    struct secrets_keyset ks = {0};
    char top[PATH_MAX], realtop[PATH_MAX], regreal[PATH_MAX], regrel[PATH_MAX];
    char *names = NULL, *tmp = NULL, *tmp2 = NULL;
    const char *prefix = "";
    bool staged = false;
    size_t nlen = 0;
    int st, rc;

    *out = NULL;
    if (r == NULL)
        return M3_ENOMEM;
    if ((rc = git_line(top_argv, top, sizeof(top), d)) != 0)
        goto out;
    /* registry names are relative to the registry's folder; staged paths to the top */
    if ((tmp = strdup(registry)) == NULL || (tmp2 = strdup(registry)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    if (realpath(top, realtop) == NULL || realpath(dirname(tmp), regreal) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", registry, strerror(errno));
        goto out;
    }
    size_t tl = strlen(realtop);
    if (strncmp(regreal, realtop, tl) == 0 && regreal[tl] == '/')
        prefix = regreal + tl + 1;
    snprintf(regrel, sizeof(regrel), "%s%s%s", prefix, *prefix ? "/" : "", basename(tmp2));
    if ((rc = secrets_run_capture(ls_argv, false, &names, &nlen, &st, d)) != 0)
        goto out;
    if (st != 0) {
        rc = m3_diag_set(d, M3_EIO, "git diff --cached failed");
        goto out;
    }
    for (size_t off = 0; off < nlen && !staged; off += strlen(names + off) + 1)
        staged = strcmp(names + off, regrel) == 0;
    /* The commit changes the registry: every secret is checked against the staged version,
     * so that "edited secrets.nix, forgot to rekey" is refused, not only changed .age files. */
    rc = staged ? load_staged(registry, regrel, regreal, &staged_file, &reg, d)
                : reg_load_path(registry, NULL, &reg, d);
    if (rc != 0 || (rc = secrets_keyset_build(&ks, reg)) != 0)
        goto out;
    for (size_t off = 0; off < nlen && rc == 0; off += strlen(names + off) + 1) {
        const char *path = names + off, *base = strrchr(path, '/');
        size_t pl = strlen(prefix), n = strlen(path);
        bool is_age = n > 4 && strcmp(path + n - 4, ".age") == 0, in_secrets = false;
        const char *name = path;
        base = base ? base + 1 : path;
        if (pl > 0) {
            if (strncmp(path, prefix, pl) != 0 || path[pl] != '/')
                continue;
            name = path + pl + 1;
        }
        /* a secrets folder: one holding a registry entry (the top itself only for .age) */
        const char *slash = strrchr(name, '/');
        size_t dl = slash ? (size_t)(slash - name) : 0;
        for (size_t i = 0; i < reg->nentries && !in_secrets && dl > 0; i++) {
            const char *en = reg->entries[i].name, *es = strrchr(en, '/');
            in_secrets = es && (size_t)(es - en) == dl && strncmp(en, name, dl) == 0;
        }
        if (base[0] == '.' ||
            (!is_age && (!in_secrets || (n > 4 && !strcmp(path + n - 4, ".nix")))))
            continue;
        rc = check_staged(r, reg, &ks, path, name, in_secrets, d);
    }
    for (size_t i = 0; staged && rc == 0 && i < reg->nentries; i++) {
        char path[PATH_MAX];
        bool seen = false;

        if (reg->entries[i].name[0] == '/' ||
            (size_t)snprintf(path, sizeof(path), "%s%s%s", prefix, *prefix ? "/" : "",
                             reg->entries[i].name) >= sizeof(path))
            continue;
        for (size_t off = 0; off < nlen && !seen; off += strlen(names + off) + 1)
            seen = strcmp(names + off, path) == 0;
        if (!seen)
            rc = check_staged(r, reg, &ks, path, reg->entries[i].name, true, d);
    }
out:
    free(tmp);
    free(tmp2);
    free(names);
    secrets_keyset_clear(&ks);
    reg_registry_free(reg);
    reg_file_free(staged_file);
    if (rc != 0)
        secrets_hook_result_free(r);
    else
        *out = r;
    return rc;
}

void
secrets_hook_result_free(struct secrets_hook_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        free(r->v[i].path);
        free(r->v[i].message);
    }
    free(r->v);
    free(r);
}
