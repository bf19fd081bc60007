/* nixhosts.c: with --nix, the secrets each host uses as Nix evaluates the repository's
 * flake (`nixosConfigurations.<host>.config.age.secrets.<name>.file`), for audit, check and
 * affected; the static scan (registry/hosts.c) answers where Nix does not.
 *
 * How Nix runs, and why:
 *   - `nix eval` on the flake at the repository root: `git+file:` when the root is a git
 *     work tree (only tracked files, as nixos-rebuild sees them), else `path:`.
 *   - Pure evaluation (flakes' default) with restrict-eval and no allowed URI: files only
 *     from the flake's own source and inputs, no fetcher reaches the network; --offline,
 *     no substituters, no builders, no flake registry (it would be downloaded), no import
 *     from derivation, so nothing is built; the flake's nixConfig is refused
 *     (accept-flake-config false): nothing the repository says runs code outside the
 *     evaluator. --no-write-lock-file: flake.lock is never written.
 *   - A private store, a temporary folder removed afterwards (--store DIR): the flake's
 *     source is copied there, not into the user's /nix/store, and nothing is written to the
 *     user's store or caches (HOME and XDG folders are in the temporary folder too). The
 *     price: inputs (nixpkgs...) are not in that store and cannot be fetched offline, so a
 *     flake whose nixosConfigurations need them is not evaluated: the note says so and the
 *     static scan answers. M3AGE_NIX_STORE=URL (e.g. `daemon` or `local`) lets Nix use that
 *     store instead, where a real flake's locked inputs already are; the flake's source is
 *     then copied into it, as nixos-rebuild does.
 *   - The environment is PATH and these folders; git (run by Nix for git+file:) reads no
 *     system or global configuration and runs no fsmonitor or hook (GIT_CONFIG_*); the
 *     repository's own .git/config (which a clone does not carry: the user's git writes it)
 *     is read as by every git command run there, nixos-rebuild's included. --offline
 *     alone does not keep Nix 2.8 off the network (an unlocked or missing input is
 *     downloaded): HTTP(S) goes to a proxy that is not there, ssh is `false`.
 *   - Every run has the time limit of m3_nix_run (M3AGE_NIX_TIMEOUT, default 60 s); a
 *     timeout is an error, not a fallback.
 *
 * Runs: `nix flake metadata` for the source's store path (to map paths back), then one
 * evaluation of every host; when that fails, the host names, then each host alone, so that
 * a host that fails alone falls back alone. */
#include "cmd/cmd.h"
#include "cmd/nixjson.h"
#include "registry/registry.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The answer for one host: "H", name, then per secret "S", name, toString file (or ""),
 * module file (or ""). The module is the first definition of age.secrets that sets the
 * secret's file (through mkIf, mkMerge, mkOverride), else the first that names it. */
#define NIX_ONE                                                                                    \
    "let one = h: c: let secs = c.config.age.secrets or {};"                                       \
    " defs = c.options.age.secrets.definitionsWithLocations or [];"                                \
    " setsFile = v: builtins.isAttrs v && (v ? file || (v ? content && setsFile v.content)"        \
    " || (v ? contents && builtins.isList v.contents && builtins.any setsFile v.contents));"       \
    " has = n: d: builtins.isAttrs d.value && builtins.hasAttr n d.value;"                         \
    " mod = n: let all = builtins.filter (has n) defs;"                                            \
    " f = builtins.filter (d: setsFile d.value.${n}) all; pick = if f != [] then f else all;"      \
    " in if pick == [] then \"\" else toString (builtins.head pick).file;"                         \
    " file = n: let f = secs.${n}.file or null; in if f == null then \"\" else toString f;"        \
    " in [ \"H\" h ] ++ builtins.concatLists (map (n: [ \"S\" n (file n) (mod n) ])"               \
    " (builtins.attrNames secs)); in "
#define NIX_ALL                                                                                    \
    "cs: " NIX_ONE "builtins.concatLists (builtins.attrValues (builtins.mapAttrs one cs))"
#define NIX_NAMES "cs: builtins.attrNames cs"
/* --offline does not stop Nix 2.8 from fetching an input it must resolve or lacks: its
 * downloads (libcurl) and git's go to a proxy that is not there (the discard port) */
#define DEAD_PROXY "http://127.0.0.1:9"

struct flake_run {
    char *tmp;       /* the private folder (store, home), removed at the end */
    char *realstore; /* where the store's paths really are ("TMP/store"; NULL: as named) */
    char *ref;       /* "git+file:///root" or "path:/root" */
    char *store;     /* --store value */
    char *env[28];
    char *first; /* the first line of Nix's last error (malloc'd) */
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static int
chmod_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag == FTW_D)
        chmod(path, (st->st_mode & 07777) | 0700); /* the store makes its folders read-only */
    return 0;
}

static void
flake_run_clear(struct flake_run *r)
{
    if (r->tmp != NULL) {
        nftw(r->tmp, chmod_one, 16, FTW_PHYS);
        nftw(r->tmp, rm_one, 16, FTW_PHYS | FTW_DEPTH);
    }
    for (size_t i = 0; i < sizeof(r->env) / sizeof(r->env[0]); i++)
        free(r->env[i]);
    free(r->tmp);
    free(r->realstore);
    free(r->ref);
    free(r->store);
    free(r->first);
}

/* first_error: the first line of Nix's error in err ("error: ..." past any warning); when
 * it ends in ':' (the cause follows: "getting the HEAD of the Git tree '...' failed with exit
 * code 128:" then git's own message), the next line too, joined by a space. */
static char *
first_error(const char *err)
{
    const char *e = strstr(err != NULL ? err : "", "error: "), *n;
    size_t len, nlen;
    char *out;

    if (e == NULL)
        return strdup("Nix failed");
    e += 7;
    len = strcspn(e, "\n");
    if (len == 0 || e[len - 1] != ':' || e[len] != '\n')
        return strndup(e, len);
    n = e + len + 1;
    n += strspn(n, " ");
    nlen = strcspn(n, "\n");
    if ((out = malloc(len + 1 + nlen + 1)) != NULL)
        snprintf(out, len + 1 + nlen + 1, "%.*s %.*s", (int)len, e, (int)nlen, n);
    return out;
}

/* run_nix: nix with the common options, then args; 0 and stdout in *out, or M3_EEVAL with
 * r->first set, or another error of m3_nix_run. */
static int
run_nix(struct flake_run *r, const char *what, const char *const *args, size_t nargs, char **out,
        struct m3_diag *d)
{
    const char *common[] = {
        "nix",
        "--extra-experimental-features",
        "nix-command flakes",
        "--offline",
        "--store",
        r->store,
        "--option",
        "substituters",
        "",
        "--option",
        "builders",
        "",
        "--option",
        "allow-import-from-derivation",
        "false",
        "--option",
        "accept-flake-config",
        "false",
        "--option",
        "restrict-eval",
        "true",
        "--option",
        "allowed-uris",
        "",
        "--option",
        "flake-registry",
        "",
        "--option",
        "eval-cache",
        "false",
    };
    size_t nc = sizeof(common) / sizeof(common[0]), len = 0;
    char **argv = calloc(nc + nargs + 1, sizeof(char *)), *err = NULL;
    int rc;

    if (argv == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    for (size_t i = 0; i < nc; i++)
        argv[i] = (char *)common[i];
    for (size_t i = 0; i < nargs; i++)
        argv[nc + i] = (char *)args[i];
    rc = m3_nix_run(what, argv, r->env, out, &len, &err, d);
    if (rc == M3_EEVAL) {
        free(r->first);
        r->first = first_error(err);
        if (r->first == NULL)
            rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    free(err);
    free(argv);
    return rc;
}

/* unstore: path without the private store's real prefix ("TMP/store/nix/store/..." is
 * "/nix/store/..." in the flake's own terms), in place. */
static void
unstore(const struct flake_run *r, char *path)
{
    size_t n = r->realstore != NULL ? strlen(r->realstore) : 0;

    if (n > 0 && strncmp(path, r->realstore, n) == 0 && path[n] == '/')
        memmove(path, path + n, strlen(path + n) + 1);
}

/* add_records: the records "H" host ("S" name file module)* of v into out. */
static int
add_records(const struct flake_run *r, char **v, size_t n, struct reg_nix_hosts *out)
{
    struct reg_nix_host *h = NULL;

    for (size_t i = 0; i < n;) {
        if (strcmp(v[i], "H") == 0 && i + 1 < n) {
            struct reg_nix_host *nh = realloc(out->hosts, (out->nhosts + 1) * sizeof(*nh));
            if (nh == NULL)
                return M3_ENOMEM;
            out->hosts = nh;
            h = &nh[out->nhosts++];
            memset(h, 0, sizeof(*h));
            h->ok = true;
            h->name = v[i + 1];
            v[i + 1] = NULL;
            i += 2;
        } else if (strcmp(v[i], "S") == 0 && i + 3 < n && h != NULL) {
            struct reg_nix_secret *ns = realloc(h->v, (h->n + 1) * sizeof(*ns));
            if (ns == NULL)
                return M3_ENOMEM;
            h->v = ns;
            ns = &ns[h->n++];
            ns->secret = v[i + 1];
            ns->value = v[i + 2];
            ns->module = v[i + 3][0] != '\0' ? v[i + 3] : NULL;
            if (ns->module == NULL)
                free(v[i + 3]);
            unstore(r, ns->value);
            if (ns->module != NULL)
                unstore(r, ns->module);
            v[i + 1] = v[i + 2] = v[i + 3] = NULL;
            i += 4;
        } else {
            return M3_EINVAL;
        }
    }
    return 0;
}

/* nix_string: s as a Nix string literal (malloc'd). */
static char *
nix_string(const char *s)
{
    char *o = malloc(2 * strlen(s) + 3), *p = o;

    if (o == NULL)
        return NULL;
    *p++ = '"';
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\' || *s == '$')
            *p++ = '\\';
        *p++ = *s;
    }
    *p++ = '"';
    *p = '\0';
    return o;
}

/* cut_all: every occurrence of what removed from s, in place. */
static void
cut_all(char *s, const char *what)
{
    size_t n = what != NULL ? strlen(what) : 0;
    char *p;

    while (n > 0 && (p = strstr(s, what)) != NULL)
        memmove(p, p + n, strlen(p + n) + 1);
}

/* tidy: Nix's error line naming the repository's files as the user knows them: without the
 * private store's real prefix and the flake's source path ("modules/x.nix"). */
static void
tidy(const struct flake_run *r, const char *source)
{
    char *src = NULL;

    if (r->first == NULL)
        return;
    cut_all(r->first, r->realstore);
    if (source != NULL && asprintf(&src, "%s/", source) >= 0) {
        cut_all(r->first, src);
        free(src);
    }
}

/* eval_records: evaluates apply on nixosConfigurations and adds the records it gives. */
static int
eval_records(struct flake_run *r, const char *apply, struct reg_nix_hosts *out, struct m3_diag *d)
{
    char *attr = NULL, *json = NULL, **v = NULL;
    size_t n = 0;
    int rc;

    if (asprintf(&attr, "%s#nixosConfigurations", r->ref) < 0)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    const char *args[] = {"eval", "--json", "--no-write-lock-file", attr, "--apply", apply};
    if ((rc = run_nix(r, "flake.nix", args, 6, &json, d)) == 0) {
        if (m3_json_strings(json, &v, &n) != 0)
            rc = m3_diag_set(d, M3_EIO, "flake.nix: Nix printed what m3age did not ask for");
        else if (add_records(r, v, n, out) != 0)
            rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    m3_strings_free(v, n);
    free(json);
    free(attr);
    return rc;
}

/* names_then_each: after the evaluation of all hosts failed: the names, then each host
 * alone; a host that fails is noted and left to the static scan. */
static int
names_then_each(struct flake_run *r, struct reg_nix_hosts *out, struct m3_diag *d)
{
    char *json = NULL, **names = NULL, *attr = NULL, **failed = NULL;
    size_t n = 0, nfailed = 0;
    int rc;

    if (asprintf(&attr, "%s#nixosConfigurations", r->ref) < 0)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    const char *args[] = {"eval", "--json", "--no-write-lock-file", attr, "--apply", NIX_NAMES};
    if ((rc = run_nix(r, "flake.nix", args, 6, &json, d)) != 0)
        goto out;
    if (m3_json_strings(json, &names, &n) != 0) {
        rc = m3_diag_set(d, M3_EIO, "flake.nix: Nix printed what m3age did not ask for");
        goto out;
    }
    failed = calloc(n + 1, sizeof(*failed));
    for (size_t i = 0; i < n && rc == 0 && failed != NULL; i++) {
        char *lit = nix_string(names[i]), *apply = NULL;
        if (lit == NULL || asprintf(&apply, "cs: %s one %s cs.%s", NIX_ONE, lit, lit) < 0) {
            free(lit);
            rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
            break;
        }
        if ((rc = eval_records(r, apply, out, d)) == M3_EEVAL) {
            tidy(r, out->source);
            failed[i] = r->first;
            r->first = NULL;
            nfailed++;
            rc = 0;
        }
        free(apply);
        free(lit);
    }
    if (failed == NULL && rc == 0)
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
    /* every host failing is one cause, said once by the caller */
    if (rc == 0 && nfailed == n && n > 0) {
        r->first = failed[0];
        failed[0] = NULL;
        rc = M3_EEVAL;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (failed[i] != NULL)
            m3_info("note: flake.nix: nixosConfigurations.%s: %s (Nix); its secrets are "
                    "read statically",
                    m3_shown(names[i]), m3_shown(failed[i]));
    for (size_t i = 0; failed != NULL && i < n; i++)
        free(failed[i]);
    free(failed);
out:
    m3_strings_free(names, n);
    free(json);
    free(attr);
    return rc;
}

/* url_safe: whether root may be written in a flake reference as it is. */
static bool
url_safe(const char *root)
{
    return root[0] == '/' &&
           strspn(root, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/._-+@~") ==
               strlen(root);
}

static int
setup(struct flake_run *r, const char *root, struct m3_diag *d)
{
    const char *tmpdir = getenv("TMPDIR"), *ustore = getenv("M3AGE_NIX_STORE");
    struct stat st;
    char *git = NULL;
    bool is_git;
    size_t k = 0;

    /* a work tree: .git a repository (with its objects) or a "gitdir:" file; not the
     * private index of a revision's tree that affected extracts (path: reads that) */
    if (asprintf(&git, "%s/.git/objects", root) < 0)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    is_git = stat(git, &st) == 0 && S_ISDIR(st.st_mode);
    git[strlen(git) - 8] = '\0';
    is_git |= lstat(git, &st) == 0 && S_ISREG(st.st_mode);
    free(git);
    if (asprintf(&r->tmp, "%s/m3age-nix.XXXXXX",
                 tmpdir != NULL && tmpdir[0] == '/' ? tmpdir : "/tmp") < 0) {
        r->tmp = NULL;
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    }
    if (mkdtemp(r->tmp) == NULL) {
        int e = errno;
        free(r->tmp);
        r->tmp = NULL;
        return m3_diag_set(d, M3_EIO, "cannot create a temporary folder for Nix: %s", strerror(e));
    }
    if (asprintf(&r->ref, "%s://%s", is_git ? "git+file" : "path", root) < 0)
        r->ref = NULL;
    if (ustore != NULL && ustore[0] != '\0') {
        /* a folder is a store rooted there: its paths really are under it */
        if ((r->store = strdup(ustore)) != NULL && ustore[0] == '/')
            r->realstore = strdup(ustore);
    } else if (asprintf(&r->store, "%s/store", r->tmp) < 0 ||
               asprintf(&r->realstore, "%s/store", r->tmp) < 0)
        r->store = NULL;
    if (r->ref != NULL && strncmp(r->ref, "path://", 7) == 0)
        memmove(r->ref + 5, r->ref + 7, strlen(r->ref + 7) + 1); /* path:/root */
    if (asprintf(&r->env[k++], "PATH=%s",
                 getenv("PATH") != NULL ? getenv("PATH") : "/usr/bin:/bin") < 0 ||
        asprintf(&r->env[k++], "HOME=%s/home", r->tmp) < 0 ||
        asprintf(&r->env[k++], "XDG_CACHE_HOME=%s/home/.cache", r->tmp) < 0 ||
        asprintf(&r->env[k++], "XDG_CONFIG_HOME=%s/home/.config", r->tmp) < 0 ||
        asprintf(&r->env[k++], "XDG_DATA_HOME=%s/home/.local/share", r->tmp) < 0 ||
        (r->env[k++] = strdup("NIX_PATH=")) == NULL || (r->env[k++] = strdup("LC_ALL=C")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_NOSYSTEM=1")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_GLOBAL=/dev/null")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_COUNT=3")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_KEY_0=core.fsmonitor")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_VALUE_0=false")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_KEY_1=core.hooksPath")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_VALUE_1=/dev/null")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_KEY_2=protocol.allow")) == NULL ||
        (r->env[k++] = strdup("GIT_CONFIG_VALUE_2=never")) == NULL ||
        (r->env[k++] = strdup("GIT_SSH_COMMAND=false")) == NULL ||
        (r->env[k++] = strdup("http_proxy=" DEAD_PROXY)) == NULL ||
        (r->env[k++] = strdup("https_proxy=" DEAD_PROXY)) == NULL ||
        (r->env[k++] = strdup("all_proxy=" DEAD_PROXY)) == NULL ||
        (r->env[k++] = strdup("HTTPS_PROXY=" DEAD_PROXY)) == NULL ||
        (r->env[k++] = strdup("ALL_PROXY=" DEAD_PROXY)) == NULL || r->ref == NULL ||
        r->store == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    return 0; /* the slots past k stay NULL: envp's end */
}

/* has_inputs: whether the flake at root locks inputs (flake.lock names a node besides the
 * root). */
static bool
has_inputs(const char *root)
{
    char *lock = NULL, *buf = NULL;
    size_t len = 0;
    bool r;

    if (asprintf(&lock, "%s/flake.lock", root) < 0)
        return false;
    r = reg_read_file(lock, &buf, &len, NULL) == 0 && strstr(buf, "\"locked\"") != NULL;
    free(buf);
    free(lock);
    return r;
}

static int
nix_hosts(void *ctx, const char *root, struct reg_nix_hosts *out, struct m3_diag *d)
{
    struct flake_run r = {0};
    char *flake = NULL, *meta = NULL;
    struct stat st;
    int rc;

    (void)ctx;
    memset(out, 0, sizeof(*out));
    if (asprintf(&flake, "%s/flake.nix", root) < 0)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    if (stat(flake, &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = M3_ENOTFOUND; /* not a flake: --nix is about the registry alone, nothing to say */
        goto out;
    }
    if (!url_safe(root)) {
        m3_info("note: flake.nix: the repository's path has characters a flake reference "
                "cannot hold: the hosts' secrets are read statically");
        rc = M3_ENOTFOUND;
        goto out;
    }
    if ((rc = setup(&r, root, d)) != 0)
        goto out;
    {
        const char *args[] = {"flake", "metadata", "--json", "--no-write-lock-file", r.ref};
        if ((rc = run_nix(&r, "flake.nix", args, 5, &meta, d)) != 0)
            goto failed;
    }
    if ((out->source = m3_json_top_string(meta, "path")) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "flake.nix: Nix printed what m3age did not ask for");
        goto out;
    }
    unstore(&r, out->source);
    if ((rc = eval_records(&r, NIX_ALL, out, d)) == M3_EEVAL)
        rc = names_then_each(&r, out, d);
failed:
    if (rc == M3_EEVAL) {
        tidy(&r, out->source);
        m3_info("note: flake.nix: nixosConfigurations not evaluated: %s (Nix); the hosts' "
                "secrets are read statically",
                m3_shown(r.first));
        if (getenv("M3AGE_NIX_STORE") == NULL && has_inputs(root))
            m3_hint("the flake's inputs are not in m3age's private Nix store; "
                    "M3AGE_NIX_STORE=daemon evaluates with those your Nix store holds");
        rc = M3_ENOTFOUND;
    } else if (rc == M3_ENOTFOUND) {
        m3_info("note: cannot run nix (is Nix installed?): the hosts' secrets are read "
                "statically");
    }
out:
    if (rc != 0)
        reg_nix_hosts_clear(out);
    flake_run_clear(&r);
    free(meta);
    free(flake);
    m3_nix_raise_pending(); /* Ctrl-C: the private store is gone, now m3age may end */
    return rc;
}

void
m3_nix_hosts_install(void)
{
    const struct reg_host_eval he = {nix_hosts, NULL};

    if (m3_nix_mode == M3_NIX_ALWAYS)
        reg_set_host_eval(&he);
}
