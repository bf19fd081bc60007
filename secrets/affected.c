/* affected.c: which hosts a change touches (see affected.h). */
#include "secrets/affected.h"
#include "libage/age.h"
#include "secrets/audit.h"
#include "registry/registry.h"
#include "secrets/diff.h"
#include "secrets/interrupt.h"
#include "secrets/plan.h"
#include "secrets/repo.h"
#include "secrets/revtree.h"

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

struct strv {
    char **v;
    size_t n;
};

/* One revision of the repository: the working tree, or the revision's extracted tree. */
struct side {
    char *regpath; /* the registry file */
    char *regdir;  /* its folder, absolute */
    char *root;    /* the hosts' root (hosts/ beside the registry, else the repository root) */
    char *rel;     /* regdir relative to root ("" when equal) */
    struct reg_registry *reg; /* NULL: no registry at this revision */
    struct reg_hosts *hosts;  /* NULL: no hosts/ folder */
    char *trust;              /* reg_trust_root of regdir: secret files lie inside */
    int trust_fd;             /* trust, opened O_PATH (-1: not opened) */
};

struct change {
    const char *name; /* the registry name (owned by a registry) */
    char *reason;
};

static int strv_pushf(struct strv *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
strv_pushf(struct strv *l, const char *fmt, ...)
{
    va_list ap;
    char *s = NULL, **v;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        return M3_ENOMEM;
    if ((v = realloc(l->v, (l->n + 1) * sizeof(*v))) == NULL) {
        free(s);
        return M3_ENOMEM;
    }
    l->v = v;
    l->v[l->n++] = s;
    return 0;
}

static void
strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool
strv_has(const struct strv *l, const char *s)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return true;
    return false;
}

static int
str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* side_paths: regdir, root and rel as secrets/audit.c's setup_paths finds them. */
static int
side_paths(struct side *s, struct m3_diag *d)
{
    char *tmp = strdup(s->regpath), real[PATH_MAX], hosts[PATH_MAX + 8];
    struct stat st;
    int rc;

    if (tmp == NULL)
        return M3_ENOMEM;
    if (realpath(dirname(tmp), real) == NULL) {
        free(tmp);
        return m3_diag_set(d, M3_EIO, "%s: %s", s->regpath, strerror(errno));
    }
    free(tmp);
    if ((s->regdir = strdup(real)) == NULL)
        return M3_ENOMEM;
    snprintf(hosts, sizeof(hosts), "%s/hosts", real);
    if (stat(hosts, &st) == 0 && S_ISDIR(st.st_mode))
        s->root = strdup(real);
    else if ((rc = reg_repo_root(s->regpath, &s->root, d)) != 0)
        return rc;
    if (s->root == NULL)
        return M3_ENOMEM;
    size_t rl = strlen(s->root);
    s->rel = strdup(strncmp(real, s->root, rl) == 0 && real[rl] == '/' ? real + rl + 1 : "");
    return s->rel ? 0 : M3_ENOMEM;
}

static void
side_free(struct side *s)
{
    free(s->regpath);
    free(s->regdir);
    free(s->root);
    free(s->rel);
    reg_registry_free(s->reg);
    reg_hosts_free(s->hosts);
    free(s->trust);
    if (s->trust_fd >= 0)
        close(s->trust_fd);
}

/* under: p's part below top ("" when p is top), or NULL when p is not inside top. */
static const char *
under(const char *p, const char *top)
{
    size_t tl = strlen(top);
    if (strncmp(p, top, tl) != 0 || (p[tl] != '/' && p[tl] != '\0'))
        return NULL;
    return p + tl;
}

/* side_load: the registry and the hosts' scan of one side. like: the working tree's side,
 * for a revision that has no registry (every entry is then new; the hosts still compare):
 * its folders at the same places in tree. */
static int
side_load(struct side *s, const struct side *like, const char *top, const char *tree,
          struct m3_diag *d)
{
    struct stat st;
    int rc;

    if (like != NULL && stat(s->regpath, &st) != 0) {
        const char *rd = under(like->regdir, top), *rt = under(like->root, top);
        if (asprintf(&s->regdir, "%s%s", tree, rd ? rd : "") < 0)
            s->regdir = NULL;
        if (asprintf(&s->root, "%s%s", tree, rt ? rt : "") < 0)
            s->root = NULL;
        if (s->regdir == NULL || s->root == NULL || (s->rel = strdup(like->rel)) == NULL)
            return M3_ENOMEM;
    } else {
        if ((rc = side_paths(s, d)) != 0 || (rc = reg_load_path(s->regpath, NULL, &s->reg, d)) != 0)
            return rc;
    }
    rc = reg_hosts_scan(s->root, &s->hosts, d);
    if (rc == M3_ENOTFOUND) {
        m3_diag_clear(d);
        rc = 0;
    }
    if (rc == 0 && s->reg != NULL) {
        if ((rc = reg_trust_root(s->regdir, &s->trust, d)) != 0)
            return rc;
        if ((s->trust_fd = open(s->trust, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
            return m3_diag_set(d, M3_EIO, "%s: %s", s->trust, strerror(errno));
    }
    return rc;
}

/* read_secret: the bytes of entry e's file on side s (*found false when absent), reached as
 * edit and rekey reach it: inside the trusted root, never through a link. */
static int
read_secret(const struct side *s, const struct reg_entry *e, char **buf, size_t *len, bool *found,
            struct m3_diag *d)
{
    char *rel = NULL;
    int rc, fd;

    *buf = NULL;
    *len = 0;
    *found = false;
    if (e == NULL || s->trust == NULL)
        return 0;
    if ((rc = reg_check_name(s->trust, s->regdir, e, &rel, d)) != 0)
        return rc;
    fd = secrets_openat_beneath(s->trust_fd, rel, O_RDONLY | O_NONBLOCK | O_CLOEXEC, 0);
    free(rel);
    if (fd == -ENOENT)
        return 0;
    if (fd == -ELOOP || fd == -EXDEV)
        return m3_diag_set(d, M3_EINVAL,
                           "%s: a symbolic link, or in a linked folder (refused: a secret is "
                           "read only inside the repository, never through a link)",
                           e->name);
    if (fd < 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", e->name, strerror(-fd));
    *found = true;
    if (secrets_slurp_fd(fd, (unsigned char **)buf, len) != 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", e->name, strerror(errno));
    return 0;
}

/* header_sig: the recipients of an age file's header, by tag: one sorted line per stanza
 * ("ssh-ed25519 TAG"; X25519 stanzas name no key, so only their number counts). NULL when
 * the header does not parse. */
static char *
header_sig(const char *buf, size_t len)
{
    struct age_header *h = NULL;
    struct strv l = {0};
    char *out = NULL;
    size_t total = 1;

    if (secrets_header_from_buf((const unsigned char *)buf, len, &h, NULL) != 0)
        return NULL;
    for (size_t i = 0; i < h->nstanzas; i++) {
        const struct age_stanza *st = &h->stanzas[i];
        bool keyed = strcmp(st->type, "X25519") != 0 && st->nargs > 0;
        if (strv_pushf(&l, "%s %s", st->type, keyed ? st->args[0] : "") != 0)
            goto out;
    }
    if (l.n > 0)
        qsort(l.v, l.n, sizeof(*l.v), str_cmp);
    for (size_t i = 0; i < l.n; i++)
        total += strlen(l.v[i]) + 1;
    if ((out = calloc(1, total)) == NULL)
        goto out;
    for (size_t i = 0; i < l.n; i++) {
        strcat(out, l.v[i]);
        strcat(out, "\n");
    }
out:
    age_header_free(h);
    strv_free(l.v, l.n);
    return out;
}

static bool
keys_same(const struct reg_entry *a, const struct reg_entry *b)
{
    for (size_t i = 0; i < a->nkeys; i++) {
        bool found = false;
        for (size_t j = 0; j < b->nkeys && !found; j++)
            found = secrets_keys_equal(a->keys[i], b->keys[j]);
        if (!found)
            return false;
    }
    return true;
}

/* file_change: what happened to an entry's file between the sides, or NULL (same bytes, or
 * absent at both). */
static int
file_change(const struct side *old, const struct side *cur, const char *name, const char **what,
            struct m3_diag *d)
{
    char *a = NULL, *b = NULL, *sa = NULL, *sb = NULL;
    size_t alen, blen;
    bool fa, fb;
    int rc;

    *what = NULL;
    /* an entry at one side only: its file is still looked for at the other */
    const struct reg_entry *eo = old->reg ? reg_registry_find(old->reg, name) : NULL;
    const struct reg_entry *ec = cur->reg ? reg_registry_find(cur->reg, name) : NULL;
    if ((rc = read_secret(old, eo ? eo : ec, &a, &alen, &fa, d)) != 0 ||
        (rc = read_secret(cur, ec ? ec : eo, &b, &blen, &fb, d)) != 0)
        goto out;
    if (!fa && !fb)
        goto out;
    if (!fa || !fb) {
        *what = fb ? "file added" : "file removed";
        goto out;
    }
    if (alen == blen && memcmp(a, b, alen) == 0)
        goto out;
    sa = header_sig(a, alen);
    sb = header_sig(b, blen);
    if (sa == NULL || sb == NULL)
        *what = "changed (its header does not parse at one of the revisions)";
    else if (strcmp(sa, sb) != 0)
        *what = "re-encrypted to other recipients";
    else
        *what = "re-encrypted to the same recipients (new content or file key)";
out:
    free(a);
    free(b);
    free(sa);
    free(sb);
    return rc;
}

/* entry_changes: every registry name at either side that changed, with why. */
static int
entry_changes(const struct side *old, const struct side *cur, struct change **out, size_t *nout,
              struct m3_diag *d)
{
    size_t na = old->reg ? old->reg->nentries : 0, nb = cur->reg ? cur->reg->nentries : 0;
    struct change *v = calloc(na + nb + 1, sizeof(*v));
    size_t n = 0;
    int rc = 0;

    if (v == NULL)
        return M3_ENOMEM;
    for (size_t k = 0; k < na + nb && rc == 0; k++) {
        const struct reg_entry *e = k < na ? &old->reg->entries[k] : &cur->reg->entries[k - na];
        const struct reg_entry *eo = old->reg ? reg_registry_find(old->reg, e->name) : NULL;
        const struct reg_entry *ec = cur->reg ? reg_registry_find(cur->reg, e->name) : NULL;
        struct strv why = {0};
        const char *fc = NULL;

        if (k >= na && eo != NULL)
            continue; /* seen from the old side */
        if (eo == NULL)
            rc = strv_pushf(&why, "registry entry added");
        else if (ec == NULL)
            rc = strv_pushf(&why, "registry entry removed");
        else {
            if (!keys_same(eo, ec) || !keys_same(ec, eo))
                rc = strv_pushf(&why, "recipients changed in the registry");
            if (rc == 0 && eo->armor != ec->armor)
                rc = strv_pushf(&why, "armor changed in the registry");
        }
        if (rc == 0 && (rc = file_change(old, cur, e->name, &fc, d)) == 0 && fc != NULL)
            rc = strv_pushf(&why, "%s", fc);
        if (rc == 0 && why.n > 0) {
            size_t total = 1;
            for (size_t i = 0; i < why.n; i++)
                total += strlen(why.v[i]) + 2;
            if ((v[n].reason = calloc(1, total)) == NULL)
                rc = M3_ENOMEM;
            for (size_t i = 0; rc == 0 && i < why.n; i++) {
                if (i > 0)
                    strcat(v[n].reason, ", ");
                strcat(v[n].reason, why.v[i]);
            }
            if (rc == 0)
                v[n++].name = e->name;
        }
        strv_free(why.v, why.n);
    }
    *out = v;
    *nout = n;
    return rc;
}

static const struct reg_host *
find_host(const struct reg_hosts *hs, const char *name)
{
    for (size_t i = 0; hs != NULL && i < hs->nhosts; i++)
        if (strcmp(hs->hosts[i].name, name) == 0)
            return &hs->hosts[i];
    return NULL;
}

/* registry_name: a host's root-relative file as the registry names it (audit's rule). */
static const char *
registry_name(const struct side *s, const char *file)
{
    size_t rl = strlen(s->rel);
    return (rl > 0 && strncmp(file, s->rel, rl) == 0 && file[rl] == '/') ? file + rl + 1 : file;
}

static bool
uses_file(const struct reg_host *h, const char *file)
{
    for (size_t i = 0; h != NULL && i < h->nsecrets; i++)
        if (strcmp(h->secrets[i].file, file) == 0)
            return true;
    return false;
}

/* read_module: the bytes of the module rel under root, read as the registry layer reads a
 * file (links resolved, inside root: reg_confine); NULL when it cannot be read so. */
static char *
read_module(const char *root, const char *rel, size_t *len)
{
    char path[PATH_MAX], *real = NULL, *buf = NULL;

    if ((size_t)snprintf(path, sizeof(path), "%s/%s", root, rel) >= sizeof(path) ||
        reg_confine(root, path, &real, NULL) != 0)
        return NULL;
    if (reg_read_file(real, &buf, len, NULL) != 0)
        buf = NULL;
    free(real);
    return buf;
}

/* same_file: whether root_a/rel and root_b/rel hold the same bytes (both unreadable: same). */
static bool
same_file(const char *root_a, const char *root_b, const char *rel)
{
    size_t alen = 0, blen = 0;
    char *a = read_module(root_a, rel, &alen), *b = read_module(root_b, rel, &blen);
    bool same = (a == NULL && b == NULL) ||
                (a != NULL && b != NULL && alen == blen && memcmp(a, b, alen) == 0);

    free(a);
    free(b);
    return same;
}

/* host_reasons: why host name's deployed secrets differ between the sides (none: same). */
static int
host_reasons(const struct side *old, const struct side *cur, const char *name,
             const struct change *ch, size_t nch, struct strv *why)
{
    const struct reg_host *ho = find_host(old->hosts, name), *hc = find_host(cur->hosts, name);
    struct strv modules = {0};
    int rc = 0;

    for (size_t i = 0; hc != NULL && i < hc->nsecrets && rc == 0; i++) {
        const struct reg_host_secret *s = &hc->secrets[i];
        const char *reg = registry_name(cur, s->file);
        if (!uses_file(ho, s->file))
            rc = strv_pushf(why, "%s: now used (age.secrets.%s%s%s)", s->file, s->secret,
                            s->span.file[0] ? " in " : "", s->span.file); /* "": Nix's answer */
        for (size_t j = 0; j < nch && rc == 0; j++)
            if (strcmp(ch[j].name, reg) == 0)
                rc = strv_pushf(why, "%s: %s", s->file, ch[j].reason);
    }
    for (size_t i = 0; ho != NULL && i < ho->nsecrets && rc == 0; i++)
        if (!uses_file(hc, ho->secrets[i].file))
            rc = strv_pushf(why, "%s: no longer used (age.secrets.%s%s%s)", ho->secrets[i].file,
                            ho->secrets[i].secret, ho->secrets[i].span.file[0] ? " was in " : "",
                            ho->secrets[i].span.file);
    /* a module defining secrets that changed: a mode, owner or path may have */
    for (int k = 0; k < 2 && rc == 0; k++) {
        const struct reg_host *h = k == 0 ? ho : hc;
        for (size_t i = 0; h != NULL && i < h->nsecrets && rc == 0; i++) {
            const char *m = h->secrets[i].span.file;
            if (m == NULL || m[0] == '\0' || strv_has(&modules, m))
                continue;
            if ((rc = strv_pushf(&modules, "%s", m)) == 0 && !same_file(old->root, cur->root, m))
                rc = strv_pushf(why, "%s: a module defining age.secrets changed", m);
        }
    }
    if (rc == 0 && nch > 0 && hc != NULL && hc->nunresolved > 0)
        rc = strv_pushf(why,
                        "%s:%u: a secret file m3age cannot resolve (%s): any changed secret may "
                        "be it",
                        hc->unresolved[0].span.file ? hc->unresolved[0].span.file : "?",
                        hc->unresolved[0].span.line, hc->unresolved[0].text);
    strv_free(modules.v, modules.n);
    return rc;
}

static int
host_name_cmp(const void *a, const void *b)
{
    return strcmp(((const struct secrets_affected_host *)a)->name,
                  ((const struct secrets_affected_host *)b)->name);
}

static int
collect(const struct side *old, const struct side *cur, struct secrets_affected *a,
        struct m3_diag *d)
{
    struct change *ch = NULL;
    struct strv names = {0};
    size_t nch = 0;
    int rc;

    if ((rc = entry_changes(old, cur, &ch, &nch, d)) != 0)
        goto out;
    for (size_t i = 0; i < nch && rc == 0; i++)
        rc = strv_pushf(&names, "%s", ch[i].name);
    if (rc != 0)
        goto out;
    if (names.n > 0)
        qsort(names.v, names.n, sizeof(*names.v), str_cmp);
    a->changed = names.v;
    a->nchanged = names.n;
    names = (struct strv){0};
    for (int k = 0; k < 2 && rc == 0; k++) {
        const struct reg_hosts *hs = k == 0 ? old->hosts : cur->hosts;
        for (size_t i = 0; hs != NULL && i < hs->nhosts && rc == 0; i++)
            if (!strv_has(&names, hs->hosts[i].name))
                rc = strv_pushf(&names, "%s", hs->hosts[i].name);
    }
    a->nhosts_seen = names.n;
    if (rc == 0 && (a->hosts = calloc(names.n + 1, sizeof(*a->hosts))) == NULL)
        rc = M3_ENOMEM;
    for (size_t i = 0; i < names.n && rc == 0; i++) {
        struct strv why = {0};
        if (find_host(cur->hosts, names.v[i]) == NULL)
            continue; /* a host that is gone deploys nothing */
        if ((rc = host_reasons(old, cur, names.v[i], ch, nch, &why)) != 0 || why.n == 0) {
            strv_free(why.v, why.n);
            continue;
        }
        struct secrets_affected_host *h = &a->hosts[a->nhosts++];
        h->name = names.v[i];
        names.v[i] = NULL;
        h->reasons = why.v;
        h->nreasons = why.n;
    }
    if (a->nhosts > 1)
        qsort(a->hosts, a->nhosts, sizeof(*a->hosts), host_name_cmp);
    if (rc == M3_ENOMEM)
        m3_diag_set(d, rc, "out of memory");
out:
    for (size_t i = 0; i < nch; i++)
        free(ch[i].reason);
    free(ch);
    strv_free(names.v, names.n);
    return rc;
}

int
secrets_affected_run(const struct secrets_affected_opts *o, struct secrets_affected **out,
                     struct m3_diag *d)
{
    struct side old = {.trust_fd = -1}, cur = {.trust_fd = -1};
    struct secrets_affected *a = NULL;
    struct secrets_revtree *t = NULL;
    char *tmp = NULL, *rdir = NULL, regreal[PATH_MAX];
    int rc;

    *out = NULL;
    if ((a = calloc(1, sizeof(*a))) == NULL || (tmp = strdup(o->registry)) == NULL ||
        (rdir = strdup(o->registry)) == NULL) {
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    if (realpath(dirname(rdir), regreal) == NULL) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", o->registry, strerror(errno));
        goto out;
    }
    /* the copy of the revision is removed however the run ends, SIGINT and SIGTERM
     * included: until it is, they only stop the run (interrupt.h) */
    secrets_interrupt_arm();
    if ((rc = secrets_revtree_open(&t, regreal, o->rev, o->tmp_base, d)) != 0 ||
        (rc = secrets_interrupt_check(d)) != 0)
        goto out;
    if (under(regreal, t->top) == NULL) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: outside the git repository %s", o->registry, t->top);
        goto out;
    }
    if ((a->rev = strdup(t->rev)) == NULL || (a->rev_desc = strdup(t->desc)) == NULL ||
        (cur.regpath = strdup(o->registry)) == NULL ||
        asprintf(&old.regpath, "%s%s/%s", t->tree, under(regreal, t->top), basename(tmp)) < 0) {
        old.regpath = NULL;
        rc = m3_diag_set(d, M3_ENOMEM, "out of memory");
        goto out;
    }
    if ((rc = side_load(&cur, NULL, t->top, t->tree, d)) != 0 ||
        (rc = secrets_interrupt_check(d)) != 0)
        goto out;
    if ((rc = side_load(&old, &cur, t->top, t->tree, d)) == 0 &&
        (rc = secrets_interrupt_check(d)) == 0)
        rc = collect(&old, &cur, a, d);
    if (rc != 0)
        secrets_revtree_relabel(t, d);
out:
    side_free(&old);
    side_free(&cur);
    secrets_revtree_free(t);
    secrets_interrupt_disarm();
    if (secrets_interrupted()) /* whatever else failed, or finished, meanwhile */
        rc = secrets_interrupt_check(d);
    free(tmp);
    free(rdir);
    if (rc != 0)
        secrets_affected_free(a);
    else
        *out = a;
    return rc;
}

void
secrets_affected_free(struct secrets_affected *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nhosts; i++) {
        free(a->hosts[i].name);
        strv_free(a->hosts[i].reasons, a->hosts[i].nreasons);
    }
    free(a->hosts);
    strv_free(a->changed, a->nchanged);
    free(a->rev);
    free(a->rev_desc);
    free(a);
}
