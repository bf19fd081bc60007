/* fuzz_nix.c: the Nix lexer, parser, printer and evaluator (registry/). The input is the
 * main file, optionally followed by a NUL byte and the text every import and readFile gets:
 * the reader serves that text for any path under /fuzz and nothing else, so the evaluator
 * never reaches the real filesystem. Checks that the printer gives the input back byte for
 * byte, then evaluates it to JSON (returned, and streamed to a file: the two must agree,
 * and a failure streams nothing), loads it as a registry and, when that works, runs the
 * textual edits (each re-parses and re-checks its own result). */
#include "registry/registry.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct mem_files {
    const char *text;
    size_t len;
};

static int
mem_read(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    const struct mem_files *m = ctx;

    if (strncmp(path, "/fuzz/", 6) != 0 || m->text == NULL)
        return m3_diag_set(d, M3_ENOTFOUND, "%s: no such file", path);
    if ((*buf = malloc(m->len + 1)) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    memcpy(*buf, m->text, m->len);
    (*buf)[m->len] = '\0';
    *len = m->len;
    return 0;
}

static void
check_diag(int rc, const struct m3_diag *d)
{
    /* Every failure explains itself (cmd/ escapes control characters when printing). */
    if (rc != 0 && d->msg[0] == '\0')
        abort();
}

/* streamed_same: reg_eval_json_fd (into a memory file) fails as reg_eval_json did, having
 * written nothing, or writes exactly its JSON. */
static void
streamed_same(struct reg_file *f, const struct reg_eval_opts *opts, int rc, const char *json,
              size_t jlen)
{
    struct m3_diag d;
    struct stat st;
    char *back;
    int fd = memfd_create("fuzz_nix", MFD_CLOEXEC), rc2;

    if (fd < 0)
        abort();
    m3_diag_clear(&d);
    rc2 = reg_eval_json_fd(f, opts, fd, &d);
    check_diag(rc2, &d);
    if (rc2 != rc || fstat(fd, &st) != 0 || (size_t)st.st_size != (rc == 0 ? jlen : 0))
        abort();
    if (rc == 0 && jlen > 0) {
        if ((back = malloc(jlen)) == NULL || pread(fd, back, jlen, 0) != (ssize_t)jlen ||
            memcmp(back, json, jlen) != 0)
            abort();
        free(back);
    }
    close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t mlen = nul ? (size_t)(nul - data) : size;
    struct mem_files files = {0};
    struct reg_reader reader = {.read = mem_read, .ctx = &files};
    struct reg_eval_opts opts = {&reader, "/fuzz"};
    struct reg_file *f = NULL;
    struct reg_registry *r = NULL;
    struct m3_diag d;
    char *printed = NULL, *json = NULL, *out = NULL;
    size_t plen, jlen, olen;
    int rc;

    if (size > 65536)
        return 0;
    if (nul != NULL) {
        files.text = (const char *)nul + 1;
        files.len = size - mlen - 1;
    }
    m3_diag_clear(&d);
    rc = reg_parse("/fuzz/secrets.nix", (const char *)data, mlen, &f, &d);
    check_diag(rc, &d);
    if (rc != 0)
        return 0;
    if (reg_print(f, &printed, &plen) != 0 || plen != mlen || memcmp(printed, data, mlen) != 0)
        abort();
    free(printed);
    m3_diag_clear(&d);
    rc = reg_eval_json(f, &opts, &json, &jlen, &d);
    check_diag(rc, &d);
    if (rc == 0 && strlen(json) != jlen)
        abort();
    streamed_same(f, &opts, rc, json, jlen);
    free(json);
    m3_diag_clear(&d);
    rc = reg_registry_load(f, &opts, &r, &d);
    check_diag(rc, &d);
    if (rc == 0 && r->nentries > 0) {
        const char *names[] = {r->nkeybinds > 0 ? r->keybinds[0].name : "nobody"};
        m3_diag_clear(&d);
        rc = reg_edit_rm(f, r, &opts, r->entries[0].name, &out, &olen, &d);
        check_diag(rc, &d);
        free(out);
        out = NULL;
        m3_diag_clear(&d);
        rc = reg_edit_add(f, r, &opts, "secrets/fuzz.age", names, 1, &out, &olen, &d);
        check_diag(rc, &d);
        free(out);
        out = NULL;
        m3_diag_clear(&d);
        rc = reg_edit_set_key(f, r, &opts, names[0],
                              "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
                              &out, &olen, &d);
        check_diag(rc, &d);
        free(out);
        out = NULL;
        if (r->nkeybinds > 0) {
            m3_diag_clear(&d);
            rc = reg_edit_rm_key(f, r, &opts, r->keybinds[0].name, &out, &olen, &d);
            check_diag(rc, &d);
            free(out);
        }
    }
    reg_registry_free(r);
    reg_file_free(f);
    return 0;
}
