/* fuzz_hosts.c: the host-module scanner (reg_scan_module) over one parsed module, the way
 * `m3age registry hosts` reads hosts/<host>/default.nix. The first input byte picks the
 * module's path (so relative file values resolve from different depths). */
#include "registry/registry.h"
#include "tests/fuzz/fuzz.h"

/* clean_rel: p is a repository-relative path: not absolute, no empty, "." or ".." part. */
static int
clean_rel(const char *p)
{
    if (p == NULL || *p == '\0' || *p == '/')
        return 0;
    for (const char *c = p; *c != '\0';) {
        size_t n = strcspn(c, "/");
        if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c += n;
        if (*c == '/')
            c++;
        if (*c == '\0' && c[-1] == '/')
            return 0;
    }
    return 1;
}

static void
host_clear(struct reg_host *h)
{
    for (size_t i = 0; i < h->nsecrets; i++) {
        /* Every resolved file is a repository-relative path without "..". */
        if (!clean_rel(h->secrets[i].file))
            abort();
        free(h->secrets[i].secret);
        free(h->secrets[i].file);
    }
    for (size_t i = 0; i < h->nunresolved; i++) {
        free(h->unresolved[i].secret);
        free(h->unresolved[i].text);
    }
    free(h->secrets);
    free(h->unresolved);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const rels[] = {"hosts/m3-ares/default.nix",
                                       "hosts/m3-atlas/services/nginx.nix", "hosts/x.nix",
                                       "hosts/m3-aether/a/b/c/d.nix"};
    struct reg_file *f = NULL;
    struct reg_host h = {0};
    struct m3_diag d;
    const char *rel;

    if (size < 1 || size > 65536)
        return 0;
    rel = rels[data[0] % 4];
    m3_diag_clear(&d);
    if (reg_parse(rel, (const char *)data + 1, size - 1, &f, &d) != 0) {
        if (d.msg[0] == '\0')
            abort();
        return 0;
    }
    m3_diag_clear(&d);
    if (reg_scan_module(f, rel, &h, &d) != 0 && d.msg[0] == '\0')
        abort();
    host_clear(&h);
    reg_file_free(f);
    return 0;
}
