/* nixload.c: a registry evaluated by another evaluator (nix-instantiate, through the
 * fallback cmd/ installs) and loaded from the JSON it printed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "registry/registry.h"
#include "registry/syntax.h"

static struct reg_fallback fallback;

void
reg_set_fallback(const struct reg_fallback *fb)
{
    if (fb == NULL)
        memset(&fallback, 0, sizeof(fallback));
    else
        fallback = *fb;
}

const struct reg_fallback *
reg_get_fallback(void)
{
    return fallback.eval != NULL ? &fallback : NULL;
}

/* from_json: the registry of JSON text, loaded from a source that is f's text with its body
 * (reg_top_body) replaced by `(builtins.fromJSON "JSON")`: the top-level `let` bindings
 * are then still read from the file, with their places (the keys bound by name, which
 * audit and inspect use), while the entries are Nix's. Without f, the JSON alone. */
static int
from_json(const struct reg_file *f, const char *name, const struct reg_eval_opts *opts,
          const char *json, size_t len, struct reg_registry **out, struct m3_diag *d)
{
    static const char head[] = "(builtins.fromJSON \"", tail[] = "\")";
    const char *text = "";
    size_t tlen = 0, off = 0, end = 0, i;
    struct reg_file *g = NULL;
    char *src, *p;
    int rc;

    *out = NULL;
    if (f != NULL) {
        const struct reg_node *body = reg_top_body(f);
        text = reg_file_text(f, &tlen);
        off = reg_node_off(body);
        end = reg_node_end(body);
    }
    /* the JSON as a Nix string: \ " and $ escaped (${ would interpolate) */
    if (len > ((size_t)-1 - sizeof(head) - sizeof(tail) - tlen) / 2 ||
        (src = malloc(tlen + sizeof(head) + 2 * len + sizeof(tail))) == NULL)
        return m3_diag_set(d, M3_ENOMEM, "out of memory");
    memcpy(src, text, off);
    p = src + off;
    memcpy(p, head, sizeof(head) - 1);
    p += sizeof(head) - 1;
    for (i = 0; i < len; i++) {
        if (json[i] == '\\' || json[i] == '"' || json[i] == '$')
            *p++ = '\\';
        *p++ = json[i];
    }
    memcpy(p, tail, sizeof(tail) - 1);
    p += sizeof(tail) - 1;
    memcpy(p, text + end, tlen - end);
    p += tlen - end;
    if ((rc = reg_parse(name, src, (size_t)(p - src), &g, d)) == 0)
        rc = reg_registry_load(g, opts, out, d);
    if (rc != 0 && d != NULL && strncmp(d->msg, name, strlen(name)) != 0) {
        /* no position to give: the value came from Nix, not from the file's text */
        char msg[sizeof(d->msg)];
        snprintf(msg, sizeof(msg), "%s", d->msg);
        m3_diag_set(d, rc, "%s (evaluated by nix-instantiate): %s", name, msg);
    }
    reg_file_free(g);
    free(src);
    return rc;
}

int
reg_registry_from_json(const char *name, const char *json, size_t len, struct reg_registry **out,
                       struct m3_diag *d)
{
    struct reg_eval_opts opts = {0};

    return from_json(NULL, name, &opts, json, len, out, d);
}

int
reg_fallback_load(const char *path, const struct m3_diag *why, struct reg_registry **out,
                  struct m3_diag *d)
{
    struct m3_diag why_copy, *w = NULL, ignored = {0};
    struct reg_reader reader = {0};
    struct reg_eval_opts opts = {0};
    struct reg_file *f = NULL;
    struct stat st;
    char *json = NULL, *dir = NULL;
    size_t len = 0;
    int rc;

    if (fallback.eval == NULL)
        return m3_diag_set(d, M3_ESTATE, "no fallback evaluator");
    if (why != NULL) {
        why_copy = *why;
        w = &why_copy;
    }
    if ((rc = fallback.eval(fallback.ctx, path, w, &json, &len, d)) != 0)
        goto out;
    /* the file as m3age parses it, for its let bindings (a file it cannot parse: none; a
     * named pipe is not read twice) */
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || reg_parse_path(path, &f, &ignored) != 0 ||
        reg_file_dir(path, &dir, &ignored) != 0 || reg_reader_repo(dir, &reader) != 0) {
        reg_file_free(f);
        f = NULL;
    } else {
        opts.reader = &reader;
        opts.base_dir = dir;
    }
    rc = from_json(f, path, &opts, json, len, out, d);
out:
    reg_reader_fs_free(&reader);
    reg_file_free(f);
    free(dir);
    free(json);
    return rc;
}
