/* hosts.h: what the host scan's two files share (internal to registry/): modscan.c walks
 * one module's syntax tree; hosts.c builds the graph of a host's modules from flake.nix,
 * the host folders and the imports the walk finds.
 *
 * Strings these functions return are malloc'd and the caller frees them; a walk that runs
 * out of memory sets s->rc to M3_ENOMEM and stops. */
#ifndef M3_REGISTRY_HOSTS_H
#define M3_REGISTRY_HOSTS_H

#include "registry/syntax.h"

#define MAX_PARAMS 8

struct reg_graph;

/* a name a lambda of flake.nix binds (a helper's host-name parameter) */
struct reg_scan_param {
    const char *s;
    size_t len;
};

struct reg_scan {
    const struct reg_file *f;
    const char *module_rel;
    const char *span_name; /* the name spans point to (owned by the caller) */
    struct reg_host *h;
    int rc;
    /* following imports (NULL for reg_scan_module alone) */
    struct reg_graph *g;
    unsigned depth;    /* imports between the host's roots and this module */
    bool flake;        /* reading flake.nix: collect its modules lists, record nothing */
    bool inline_walk;  /* a flake list for h: walk the inline modules in it */
    const char *subst; /* the host name that params stand for in paths */
    struct reg_scan_param params[MAX_PARAMS];
    size_t nparams;
    unsigned lambdas; /* lambdas around the node (flake.nix: outputs is the first) */
};

/* modscan.c */

/* reg_scan_walk: walks node n, whose enclosing attribute path is p[0..np): records the
 * secrets it defines in s->h, hands `imports` (when s->g is set) to reg_scan_imports and,
 * when s->flake, every binding to reg_scan_flake_binding. */
void reg_scan_walk(struct reg_scan *s, const struct reg_node *n, char **p, size_t np);
/* reg_scan_node_text: the source text of n (malloc'd), or NULL when out of memory. */
char *reg_scan_node_text(const struct reg_node *n);
/* reg_scan_strip: n without the parentheses around it. */
const struct reg_node *reg_scan_strip(const struct reg_node *n);
/* reg_scan_is_root_ref: `self`, `inputs.self`, `inputs.X` (a flake input taken as this
 * repository), optionally followed by `.outPath`. */
int reg_scan_is_root_ref(const struct reg_node *n);
/* reg_scan_resolve: the repository-relative file a value names (malloc'd), or NULL. */
char *reg_scan_resolve(const struct reg_scan *s, const struct reg_node *v);

/* hosts.c */

/* reg_scan_imports: the value of `imports` (or of a flake list): lists, ++, lib.optional(s);
 * each file it names is queued in s->g, each it cannot follow reported. */
void reg_scan_imports(struct reg_scan *s, const struct reg_node *v);
/* reg_scan_flake_binding: in flake.nix, the binding with full path p[0..n) and value v
 * (see hosts.c: which host a modules list belongs to). */
void reg_scan_flake_binding(struct reg_scan *s, char **p, size_t n, const struct reg_node *v);

/* hosts.c, for nixhosts.c: the interned copy of rel in hs->files (NULL: no memory); a host
 * named name added unless there is one (M3_ENOMEM); a host's secrets and unresolved values
 * freed and emptied (clear), or all it holds (free); the orders of hosts (by name) and of a
 * host's secrets (by file, then secret). */
const char *reg_hosts_intern(struct reg_hosts *hs, const char *rel);
int reg_hosts_add_host(struct reg_hosts *hs, const char *name);
void reg_hosts_clear_host(struct reg_host *h);
void reg_hosts_free_host(struct reg_host *h);
int reg_host_cmp(const void *x, const void *y);
int reg_host_secret_cmp(const void *x, const void *y);

#endif
