/* fuzz_paths.c: the registry name -> confined path rule (reg_check_name over reg_path_within,
 * registry/fsio.c), the way every command maps a secrets.nix entry name to the file it opens
 * beneath the repository root. The first input byte picks the root and the registry's
 * folder; the rest, up to a NUL (a C string ends there, as the registry's names do), is the
 * name. The invariant: an accepted name resolves strictly inside the root, to a clean
 * root-relative path that an independent fold of base/name agrees with; a refused one is
 * absolute or does lead outside (or to the root itself). */
#include "registry/registry.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>

/* clean_rel: p is root-relative: not empty, not absolute, no empty, "." or ".." part. */
static int
clean_rel(const char *p)
{
    if (*p == '\0' || *p == '/')
        return 0;
    for (const char *c = p;;) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += n;
        if (*c == '\0')
            return 1;
        c++;
    }
}

/* fold: base/name (name absolute: name alone) with "." and ".." applied part by part, as a
 * stack of parts: a second implementation to compare with, written apart from fsio.c's.
 * Returns the malloc'd absolute path ("/" for the top). */
static char *
fold(const char *base, const char *name)
{
    size_t cap = strlen(base) + strlen(name) + 2, depth = 0;
    char *in = malloc(cap), *out = malloc(cap + 1);
    size_t *starts = malloc(cap * sizeof(*starts)), o = 0;

    if (in == NULL || out == NULL || starts == NULL)
        abort();
    snprintf(in, cap, "%s/%s", name[0] == '/' ? "" : base, name);
    for (size_t i = 0; in[i] != '\0';) {
        size_t n = strcspn(in + i, "/");
        if (n == 2 && in[i] == '.' && in[i + 1] == '.') {
            if (depth > 0)
                o = starts[--depth];
        } else if (n > 0 && !(n == 1 && in[i] == '.')) {
            starts[depth++] = o;
            out[o++] = '/';
            memcpy(out + o, in + i, n);
            o += n;
        }
        i += n;
        if (in[i] == '/')
            i++;
    }
    if (o == 0)
        out[o++] = '/';
    out[o] = '\0';
    free(in);
    free(starts);
    return out;
}

/* strictly_inside: p is below root (not root itself). */
static int
strictly_inside(const char *root, const char *p)
{
    size_t rl = strlen(root);

    if (strcmp(root, "/") == 0)
        return p[0] == '/' && p[1] != '\0';
    return strncmp(p, root, rl) == 0 && p[rl] == '/' && p[rl + 1] != '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const roots[][2] = {
        {"/", "/"},
        {"/", "/etc"},
        {"/home/m3tam3re/nixos-config", "/home/m3tam3re/nixos-config"},
        {"/home/m3tam3re/nixos-config", "/home/m3tam3re/nixos-config/secrets"},
        {"/home/m3tam3re/nixos-config", "/home/m3tam3re/nixos-config/hosts/m3-atlas/secrets"},
        {"/r", "/r/s"},
        {"/r/s", "/r/s"},
        {"/srv/m3-helios/repo", "/srv/m3-helios/repo/a/b/c/d/e/f"},
    };
    const size_t nroots = sizeof(roots) / sizeof(roots[0]);
    struct reg_entry e;
    struct m3_diag d;
    char *name, *rel = NULL, *want;
    const char *root, *base;
    int rc;

    if (size < 1)
        return 0;
    root = roots[data[0] % nroots][0];
    base = roots[data[0] % nroots][1];
    name = fuzz_strndup(data + 1, size - 1);
    memset(&e, 0, sizeof(e));
    e.name = name;
    e.name_span.file = "secrets.nix";
    e.name_span.line = 3;
    e.name_span.col = 3;
    m3_diag_clear(&d);
    rc = reg_check_name(root, base, &e, &rel, &d);
    want = fold(base, name);
    if (rc == 0) {
        char *full;
        size_t cap;
        /* accepted: relative, clean, strictly inside the root, where the fold says */
        if (rel == NULL || name[0] == '/' || !clean_rel(rel) || !strictly_inside(root, want))
            abort();
        cap = strlen(root) + strlen(rel) + 2;
        if ((full = malloc(cap)) == NULL)
            abort();
        snprintf(full, cap, "%s/%s", strcmp(root, "/") == 0 ? "" : root, rel);
        if (strcmp(full, want) != 0)
            abort();
        free(full);
    } else {
        /* refused: only for what is absolute or does not lie strictly inside, with a
         * message naming the entry's position */
        if (rc != M3_EINVAL || rel != NULL)
            abort();
        if (name[0] != '/' && strictly_inside(root, want))
            abort();
        if (strncmp(d.msg, "secrets.nix:3:3: secret name '", 30) != 0)
            abort();
    }
    free(want);
    free(rel);
    free(name);
    return 0;
}
