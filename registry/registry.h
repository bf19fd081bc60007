/* registry.h: secrets.nix without Nix. The public API of the registry layer.
 *
 * Four parts, each usable alone:
 *   1. Syntax: reg_parse() turns a buffer of Nix source into a syntax tree whose nodes carry
 *      byte spans; comments and whitespace are kept, so reg_print() gives the input back
 *      byte for byte. Every syntactically valid Nix file parses.
 *   2. Evaluation: reg_eval_json() evaluates a parsed file like `nix-instantiate --eval
 *      --strict --json` (for the subset registries use) and reg_registry_load() turns it
 *      into the agenix model: entries {name, publicKeys[], armor} with the source span each
 *      value came from, plus the top-level `let` bindings (key names).
 *   3. Edits: reg_edit_*() compute a new text for the file that changes only the bytes they
 *      must; the result is re-parsed and re-evaluated before it is returned.
 *   4. Hosts: reg_hosts_scan() reads hosts/<host>/ modules syntactically and reports which
 *      secret files each host uses.
 *
 * The layer is pure: buffers in, values out. The only file access is through a
 * struct reg_reader (import, builtins.readFile, host modules), whose default
 * implementation (reg_reader_fs) refuses any path outside the repository root, and the two
 * clearly named filesystem helpers reg_locate() and reg_write_atomic().
 *
 * Errors: every function returns 0 or a negative M3_E* code (libage/error.h) and, when d is
 * non-NULL, fills it with one line of the form
 *     secrets.nix:12:7: unexpected '}', expected ';'
 * with d->line and d->col set (1-based) for errors that have a position. Evaluation errors
 * outside the supported subset end with "(use --nix to evaluate with nix-instantiate)". */
#ifndef M3_REGISTRY_H
#define M3_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>

#include "libage/error.h"

/* ---------------------------------------------------------------------------------------
 * Positions */

/* A range of bytes in one source file. file points to a path owned by the object the span
 * came from (reg_file or reg_registry) and lives as long as it. line/col are 1-based and
 * describe the first byte; len may be 0 (an insertion point). */
struct reg_span {
    const char *file;
    size_t off;
    size_t len;
    unsigned line;
    unsigned col;
};

/* ---------------------------------------------------------------------------------------
 * 1. Syntax */

/* A parsed Nix source file: its name, a private copy of its bytes, its tokens (each with
 * the whitespace and comments before it) and the syntax tree. Opaque; free with
 * reg_file_free(). */
struct reg_file;

/* reg_parse: lexes and parses len bytes of src (need not be NUL-terminated; copied). name is
 * the path used in spans and messages (copied). On success *out owns a new reg_file.
 * Errors: M3_ESYNTAX (d: "NAME:L:C: unexpected 'TOK', expected 'X'"), M3_ENOMEM. */
int reg_parse(const char *name, const char *src, size_t len, struct reg_file **out,
              struct m3_diag *d);

/* reg_file_free: frees f and everything it owns. NULL is a no-op. */
void reg_file_free(struct reg_file *f);

/* reg_file_name / reg_file_text: the name and source bytes kept in f (owned by f). */
const char *reg_file_name(const struct reg_file *f);
const char *reg_file_text(const struct reg_file *f, size_t *len);

/* reg_print: walks the syntax tree and writes every token with its leading trivia, giving a
 * malloc'd buffer (NUL-terminated, *len excludes the NUL) equal to the parsed input. The
 * caller frees *out. Errors: M3_ENOMEM. */
int reg_print(const struct reg_file *f, char **out, size_t *len);

/* reg_span_at: fills sp with the span [off, off+len) of f, computing line and column. */
void reg_span_at(const struct reg_file *f, size_t off, size_t len, struct reg_span *sp);

/* ---------------------------------------------------------------------------------------
 * File access for import and builtins.readFile */

/* A reader gives the evaluator the bytes of other files. path is the absolute, normalised
 * path the Nix expression names (relative paths are resolved against the importing file's
 * folder before the call). On success *buf is malloc'd (caller frees) and *len its size.
 * Return 0, M3_ENOTFOUND, M3_EIO or M3_EINVAL (outside the allowed tree), filling d. */
enum reg_ftype { REG_FT_REGULAR, REG_FT_DIRECTORY, REG_FT_SYMLINK, REG_FT_UNKNOWN };

struct reg_reader {
    int (*read)(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d);
    void *ctx;
    /* is_dir: whether path is a folder (`import ./keys` then reads ./keys/default.nix, as
     * Nix does); NULL where there are no folders. */
    bool (*is_dir)(void *ctx, const char *path);
    /* kind: the type of path, a final symlink not followed (pathExists, readFileType);
     * M3_ENOTFOUND when nothing is there. list: the entries of the folder path (readDir) as
     * records of one byte (enum reg_ftype), the name and a NUL, in a malloc'd *buf of *len
     * bytes. Both refuse paths outside the allowed tree as read does; NULL where there are
     * no folders (builtins needing them are then evaluation errors). */
    int (*kind)(void *ctx, const char *path, enum reg_ftype *type, struct m3_diag *d);
    int (*list)(void *ctx, const char *path, char **buf, size_t *len, struct m3_diag *d);
};

/* reg_reader_fs: a reader over the real filesystem that refuses any path which, after
 * resolving symlinks, is not inside root (an absolute path; copied into the reader's
 * context). Its read refuses a file still encrypted by git-crypt with M3_ESTATE and a
 * message naming it from root and saying to run 'git-crypt unlock'. Free the context with
 * reg_reader_fs_free(). Errors: M3_ENOMEM, M3_EINVAL. */
int reg_reader_fs(const char *root, struct reg_reader *out);
/* reg_reader_repo: reg_reader_fs for the trusted root of the folder dir (reg_trust_root),
 * found when the first file is read: evaluating a registry that reads no file does not walk
 * the folders. Errors (of the first read too): those of reg_trust_root. */
int reg_reader_repo(const char *dir, struct reg_reader *out);
void reg_reader_fs_free(struct reg_reader *r);

/* ---------------------------------------------------------------------------------------
 * 2. Evaluation */

struct reg_eval_opts {
    /* Reads imported files; NULL means import and readFile are evaluation errors. */
    const struct reg_reader *reader;
    /* Absolute path of the folder holding the file being evaluated (for relative paths);
     * NULL means paths are relative to "/". */
    const char *base_dir;
};

/* reg_eval_json: evaluates f fully (as --strict) and prints the value as JSON, byte for
 * byte what `nix-instantiate --eval --strict --json` prints (without the trailing newline).
 * *json is malloc'd and NUL-terminated; the caller frees it. Laziness is observable as in
 * Nix: a binding that is never used is never evaluated.
 * Errors: M3_EEVAL (d names the construct and "file:line:col"), M3_EUNSUPPORTED (outside
 * the subset: <nixpkgs>, lib.*, getEnv, fetchers, a top-level function,
 * a path in the output; d suggests --nix), M3_ESYNTAX (an imported file), M3_ENOMEM. */
int reg_eval_json(const struct reg_file *f, const struct reg_eval_opts *opts, char **json,
                  size_t *len, struct m3_diag *d);

/* reg_eval_json_fd: reg_eval_json written to fd instead of returned: the value is forced
 * and checked whole before the first byte is written, so an error writes nothing (a write
 * that fails is M3_EIO). The output never sits in memory whole (a large registry's JSON is
 * ~15 times its source). */
int reg_eval_json_fd(const struct reg_file *f, const struct reg_eval_opts *opts, int fd,
                     struct m3_diag *d);

/* One secret of the registry: `"NAME".publicKeys = [ ... ];` or `"NAME" = { ... };`. */
struct reg_entry {
    char *name;                 /* the attribute name, e.g. "secrets/wifi.age" */
    struct reg_span name_span;  /* where the name is written (its first attribute path) */
    struct reg_span span;       /* the whole binding, for rm */
    char **keys;                /* publicKeys, in list order, NUL-terminated strings */
    struct reg_span *key_spans; /* for each key, the literal it came from */
    size_t nkeys;
    struct reg_span keys_span; /* the publicKeys list expression (for add/rm-key) */
    bool armor;                /* armor = true */
    bool has_armor;            /* armor was given */
    /* for each key, the text of a `#` comment on the same line after its literal (where
     * the string was written, maybe in an imported file), else NULL: what names an inline
     * key that no binding names */
    char **key_comments;
};

/* A top-level `let` binding of secrets.nix whose value is a string (a key) or a list of
 * strings (a group such as `users = [ m3tam3re ];`). Other bindings are left out. */
struct reg_keybind {
    char *name;
    char **values; /* one string for a key, the list for a group */
    size_t nvalues;
    bool is_list;
    struct reg_span span;       /* the whole `name = value;` binding */
    struct reg_span value_span; /* the value expression */
};

/* A key string reached from a top-level `let` binding through attribute sets: the path
 * names it as the registry does (`keys.alice` for `keys = import ./keys.nix;`,
 * `systems.web-1`). Top-level strings are keybinds, not paths. */
struct reg_keypath {
    char *path;  /* "keys.alice"; an attribute that is not an identifier is quoted */
    char *value; /* the key string */
};

/* A problem that does not stop the registry from being used (unknown attribute, ...). */
struct reg_warning {
    char msg[256]; /* "secrets.nix:4:5: 'secrets/a.age': unknown attribute 'owner'" */
    struct reg_span span;
};

/* The evaluated and validated registry. Owns every string and span file name in it. */
struct reg_registry {
    char *path;                /* the file it came from (as given to reg_registry_load) */
    struct reg_entry *entries; /* sorted by name (Nix attribute order) */
    size_t nentries;
    struct reg_keybind *keybinds; /* in source order */
    size_t nkeybinds;
    struct reg_warning *warnings;
    size_t nwarnings;
    bool computed; /* the top value is not a plain attribute set literal: edits refuse */
    char **files;  /* the names spans point to (the registry and what it imports) */
    size_t nfiles;
    struct reg_keypath *keypaths; /* sorted by path; at most 4 attributes deep */
    size_t nkeypaths;
    void *priv; /* private: the allocator holding the strings above */
};

/* reg_registry_load: evaluates f and validates it like ragenix's schema: the value is a set
 * of sets, each with `publicKeys` (a non-empty list of strings) and optional `armor` (a
 * bool); other attributes become warnings. Recipient syntax is not checked here (that is
 * keys/); callers check each key and report with key_spans. On success *out is a new
 * registry (free with reg_registry_free). Errors: as reg_eval_json, and M3_EINVAL for a
 * schema violation (d names the entry, attribute and position). */
int reg_registry_load(const struct reg_file *f, const struct reg_eval_opts *opts,
                      struct reg_registry **out, struct m3_diag *d);

/* reg_registry_free: frees r and everything it owns. NULL is a no-op. */
void reg_registry_free(struct reg_registry *r);

/* reg_registry_find: the entry named name (exactly, e.g. "secrets/wifi.age"), or NULL. */
const struct reg_entry *reg_registry_find(const struct reg_registry *r, const char *name);

/* reg_registry_keybind: the top-level let binding named name, or NULL. */
const struct reg_keybind *reg_registry_keybind(const struct reg_registry *r, const char *name);

/* ---------------------------------------------------------------------------------------
 * Locating the registry (filesystem helper) */

/* reg_locate: picks the registry file agenix would use:
 *   rules_opt (--rules FILE) if non-NULL, else rules_env (the RULES value, read by cmd/) if
 *   non-NULL and non-empty, else cwd/secrets.nix if it exists, else the first secrets.nix
 *   found walking up from cwd, stopping at the repository root (a folder holding .git or
 *   flake.nix).
 * *path is malloc'd (caller frees); an explicit rules_opt/rules_env is returned as given.
 * *how (optional) is set to a static word: "--rules", "RULES", "./secrets.nix", "parent".
 * Errors: M3_ENOTFOUND (d says where it looked), M3_ENOMEM. */
int reg_locate(const char *rules_opt, const char *rules_env, const char *cwd, char **path,
               const char **how, struct m3_diag *d);

/* reg_repo_root: the repository root for a file or folder path: the nearest ancestor
 * holding .git or flake.nix, else the folder of path itself. *root is malloc'd and
 * absolute. Errors: M3_EIO, M3_ENOMEM. */
int reg_repo_root(const char *path, char **root, struct m3_diag *d);

/* reg_trust_root: the root that confines what a registry in the folder path (or the folder
 * of the file path) may read and name, for a repository that may be hostile (a clone, an
 * unpacked tarball): the work tree of the nearest enclosing git repository when that one
 * tracks files in the folder (its index lists one; the work tree's top counts as tracked),
 * else the nearest folder holding flake.nix below that work tree (or anywhere up when
 * there is no .git), else the folder itself. An untracked folder under a dotfiles $HOME
 * with a .git is thus its own root. *root is malloc'd, absolute, links resolved. git is not
 * run (a hostile .git/config could make it run commands): its index is read directly.
 * Errors: M3_EIO, M3_ENOMEM. */
int reg_trust_root(const char *path, char **root, struct m3_diag *d);

/* reg_confine: the one rule for the files the registry layer reads (import,
 * builtins.readFile and every builtin that looks at the filesystem): path, links resolved,
 * must be root or inside it. *real (malloc'd) is the resolved path to open.
 * Errors: M3_ENOTFOUND, M3_EIO ("cannot read 'PATH': ..."), M3_EINVAL ("'PATH' is outside
 * the repository 'ROOT'"), M3_ENOMEM. */
int reg_confine(const char *root, const char *path, char **real, struct m3_diag *d);

/* reg_path_within: the one rule for the files of secrets: path (absolute, or relative to the
 * absolute folder base) with "." and ".." folded by name, links not resolved, must lie
 * strictly inside root. *rel (malloc'd) is it relative to root; open it beneath root without
 * following links (secrets_repo_openat) so that the two agree.
 * Errors: M3_EINVAL ("'PATH' is outside the repository 'ROOT'"), M3_ENOMEM. */
int reg_path_within(const char *root, const char *base, const char *path, char **rel,
                    struct m3_diag *d);

/* reg_check_name: entry e's name as a secret file: refused when absolute or when it leads
 * outside root (reg_path_within from base, the registry's folder), with d naming the entry
 * and its position ("secrets.nix:3:3: secret name '../x.age' leads outside the repository
 * 'ROOT'"). *rel (optional, malloc'd) as reg_path_within. Errors: M3_EINVAL, M3_ENOMEM. */
int reg_check_name(const char *root, const char *base, const struct reg_entry *e, char **rel,
                   struct m3_diag *d);

/* reg_check_names: reg_check_name of every entry of r, whose registry lives in the absolute
 * folder dir (its root: reg_trust_root of dir); the first refusal is the error. Every path
 * that loads a registry for a command calls it (reg_load_path does). */
int reg_check_names(const struct reg_registry *r, const char *dir, struct m3_diag *d);

/* reg_file_dir: the absolute folder holding the file path (symbolic links resolved), the
 * base of the file's relative paths. *dir is malloc'd. Errors: M3_EIO, M3_ENOMEM. */
int reg_file_dir(const char *path, char **dir, struct m3_diag *d);

/* reg_layout_file: when the registry at path could not be opened or parsed (rc), whether
 * its repository's layout says why: a file encrypted by git-crypt (a locked repository),
 * a symlink to nothing, a path in a git submodule that is not checked out. Returns a new
 * code with d rewritten as one line saying what was found and what to do, or rc with d as
 * it was. reg_layout_search: the same when reg_locate found no secrets.nix from cwd up to
 * root: a dangling secrets.nix symlink on the way, a submodule not checked out, or
 * agenix-rekey's layout (its flake.nix, no secrets.nix). */
int reg_layout_file(const char *path, int rc, struct m3_diag *d);
int reg_layout_search(const char *cwd, const char *root, int rc, struct m3_diag *d);
/* reg_layout_entries: M3_ESTATE (d says so, and what to do) when a file of r (the registry
 * at path) is missing because it lies in a git submodule that is not checked out: a
 * command would otherwise plan to create it there; else 0. */
int reg_layout_entries(const char *path, const struct reg_registry *r, struct m3_diag *d);

/* reg_load_path: convenience for cmd/ and secrets/: reads path, parses it, and loads the
 * registry with a reader confined to the trusted root of its folder (reg_trust_root); a
 * secret name that is absolute or leads outside that root fails the load (reg_check_name),
 * so no command ever sees it. *file (optional) receives the parsed file, which the caller
 * frees. Errors: as reg_parse, reg_registry_load and reg_check_name, M3_ENOTFOUND/M3_EIO for
 * the file itself. */
int reg_load_path(const char *path, struct reg_file **file, struct reg_registry **out,
                  struct m3_diag *d);
/* reg_load_path_lax: reg_load_path that keeps the entries whose names leave the root, for
 * the one caller that reports them (audit) and must not open them. */
int reg_load_path_lax(const char *path, struct reg_file **file, struct reg_registry **out,
                      struct m3_diag *d);

/* A registry outside the built-in evaluator's subset can be evaluated by another evaluator
 * (cmd/ installs one that runs nix-instantiate). eval gets the registry's path and why the
 * built-in evaluator refused it (NULL when it was not asked: always), and returns 0 with
 * the value as JSON in a malloc'd *json, or an error with d filled. While always() is true,
 * eval is used first and the built-in evaluator not at all. */
struct reg_fallback {
    int (*eval)(void *ctx, const char *path, const struct m3_diag *why, char **json, size_t *len,
                struct m3_diag *d);
    void *ctx;
    bool (*always)(void *ctx); /* NULL: never */
};
/* reg_set_fallback: the fallback reg_load_path uses from now on (copied; NULL: none). */
void reg_set_fallback(const struct reg_fallback *fb);
const struct reg_fallback *reg_get_fallback(void);
/* reg_fallback_load: the registry at path evaluated by the fallback (why: as for eval).
 * Errors: the fallback's, those of reg_registry_from_json; M3_ESTATE when there is none. */
int reg_fallback_load(const char *path, const struct m3_diag *why, struct reg_registry **out,
                      struct m3_diag *d);

/* reg_registry_from_json: the registry whose value is the JSON text json (as nix-instantiate
 * --eval --strict --json prints it), named name in messages. Its entries have no spans (no
 * positions: line 0) and it is `computed`: the writers refuse to edit it.
 * Errors: as reg_registry_load, M3_EEVAL for text that is not JSON. */
int reg_registry_from_json(const char *name, const char *json, size_t len,
                           struct reg_registry **out, struct m3_diag *d);

/* reg_parse_path: reg_parse of the file at path, read straight into the parsed file's own
 * memory (no second copy). Errors: as reg_parse and reg_read_file. */
int reg_parse_path(const char *path, struct reg_file **out, struct m3_diag *d);

/* reg_read_file: reads a whole file into a malloc'd NUL-terminated buffer. */
int reg_read_file(const char *path, char **buf, size_t *len, struct m3_diag *d);

/* reg_write_atomic: writes buf to path through a temp file in the same folder (same mode
 * as the file it replaces, else 0644), fsync, rename, fsync of the folder. On failure the
 * old file is untouched and no temp file is left. Errors: M3_EIO (d has errno's text). */
int reg_write_atomic(const char *path, const char *buf, size_t len, struct m3_diag *d);

/* ---------------------------------------------------------------------------------------
 * 3. Edits (format-preserving)
 *
 * Each takes the parsed file f and its loaded registry r, and produces in *out (malloc'd,
 * NUL-terminated, *len its size) the new text. Only the bytes the edit needs change; new
 * lines copy the indentation and list style of their neighbours. Before returning, the new
 * text is parsed and loaded with opts, and the result checked to be exactly the intended
 * registry; any difference is M3_EEVAL. A registry whose structure is computed (helper
 * functions, listToAttrs, ...) so that the edit cannot be made textually gives
 * M3_EUNSUPPORTED ("read-only: ..."), never a wrong rewrite. */

/* reg_edit_add: adds entry name whose publicKeys is the list of the let-bound names
 * keynames[0..n). M3_EINVAL if name exists or a key name is not bound in the top let. */
int reg_edit_add(const struct reg_file *f, const struct reg_registry *r,
                 const struct reg_eval_opts *opts, const char *name, const char *const *keynames,
                 size_t n, char **out, size_t *len, struct m3_diag *d);

/* reg_edit_set_key: binds keyname to the string key in the top let, replacing the string
 * literal of an existing binding or adding a binding after the last key binding. */
int reg_edit_set_key(const struct reg_file *f, const struct reg_registry *r,
                     const struct reg_eval_opts *opts, const char *keyname, const char *key,
                     char **out, size_t *len, struct m3_diag *d);

/* reg_edit_rm: removes the entry name (with its own lines, comments before it kept).
 * M3_ENOTFOUND if absent. */
int reg_edit_rm(const struct reg_file *f, const struct reg_registry *r,
                const struct reg_eval_opts *opts, const char *name, char **out, size_t *len,
                struct m3_diag *d);

/* reg_edit_rename_ref: every bare reference to the let binding `from` in list literals
 * becomes a reference to `to` (another key bound in the top let): the entries that listed
 * from's key list to's. The binding `from` stays. M3_ENOTFOUND if either is not a key bound in
 * the top let; M3_EUNSUPPORTED if `from` has a use outside a list literal. */
int reg_edit_rename_ref(const struct reg_file *f, const struct reg_registry *r,
                        const struct reg_eval_opts *opts, const char *from, const char *to,
                        char **out, size_t *len, struct m3_diag *d);

/* reg_edit_rm_key: removes the let binding keyname and every bare reference to it in list
 * literals. M3_ENOTFOUND if not bound; M3_EUNSUPPORTED if another use remains. */
int reg_edit_rm_key(const struct reg_file *f, const struct reg_registry *r,
                    const struct reg_eval_opts *opts, const char *keyname, char **out, size_t *len,
                    struct m3_diag *d);

/* ---------------------------------------------------------------------------------------
 * 4. Host modules */

/* A secret file a host module refers to: `age.secrets.NAME.file = ../../secrets/x.age;`. */
struct reg_host_secret {
    char *secret;         /* NAME (the age.secrets attribute) */
    char *file;           /* repository-relative path, e.g. "secrets/x.age" */
    struct reg_span span; /* the file value in its module (span.file names the module) */
    bool from_input;      /* written "${inputs.X}/x.age" or inputs.X + "/x.age" (X not self):
                             file is relative to that input, taken as this repository */
};

/* A file value the scan could not turn into a repository path (a variable, a function...). */
struct reg_host_unresolved {
    char *secret;
    char *text; /* the expression as written */
    struct reg_span span;
};

struct reg_host {
    char *name;                      /* its folder under hosts/, or a name flake.nix's
                                        nixosConfigurations gives a host without one */
    struct reg_host_secret *secrets; /* sorted by file, then secret */
    size_t nsecrets;
    struct reg_host_unresolved *unresolved;
    size_t nunresolved;
    /* its secrets are Nix's answer (reg_set_host_eval), not the static scan's: each span has
     * line 0 and names the module that defines the secret, or "" when Nix cannot say */
    bool from_nix;
};

/* An import the scan could not follow without evaluating Nix: a computed path, a module
 * that does not parse or is not in the repository, a bound reached. */
struct reg_host_unfollowed {
    char *host; /* the host whose modules import it, or NULL when several do */
    char *text; /* the expression as written */
    char *why;  /* "a computed import", "no such file", ... */
    struct reg_span span;
};

struct reg_hosts {
    struct reg_host *hosts; /* sorted by name */
    size_t nhosts;
    char **files; /* every module file read; spans point into these strings */
    size_t nfiles;
    struct reg_host_unfollowed *unfollowed; /* in the order met */
    size_t nunfollowed;
};

/* reg_scan_module: scans one parsed module syntactically for age.secrets definitions and
 * appends what it finds to h. module_rel is the module's path relative to the repository
 * root (e.g. "hosts/m3-ares/default.nix"), used to resolve relative paths. Recognised file
 * values: relative paths, "${self}/x", self + "/x", inputs.X + "/x", "${inputs.X}/x" (all
 * taken as relative to the repository root). Errors: M3_ENOMEM. */
int reg_scan_module(const struct reg_file *f, const char *module_rel, struct reg_host *h,
                    struct m3_diag *d);

/* reg_hosts_scan: the secrets each host folder under root/hosts/ uses, as the flake wires
 * them, read statically: every root/hosts/<host>/ ** / *.nix (symlinks not followed), the
 * modules flake.nix gives the host (`nixosConfigurations.<host>.modules` lists, and those of
 * a helper such as `mkHost = name: ... { modules = [ ./hosts/${name} ... ]; }` for the hosts
 * without a list of their own), and every module their `imports` reach (paths, folders as
 * their default.nix, "${self}/x", self + "/x", `import ./x.nix args`, lib.optionals lists),
 * each module read once per host (cycles end there), at most 32 imports deep and 4096
 * modules in all, never outside root (real paths checked). Imports of other flakes
 * (inputs.X.nixosModules.Y) are skipped; what cannot be followed is listed in unfollowed. A
 * folder under hosts/ that another host imports (hosts/common) is not a host unless flake.nix
 * names it in nixosConfigurations; a host nixosConfigurations names (statically) without a
 * folder is a host too, with the modules flake.nix gives it. A file of a host folder that
 * does not parse fails the scan with M3_ESYNTAX (d says which); an imported one that does
 * not parse is unfollowed. Folders nested more than 64 deep under hosts/<host>/ fail the
 * scan with M3_EINVAL.
 * When an evaluator is set (reg_set_host_eval: --nix), the hosts it answers for take its
 * answer (reg_hosts_apply_nix), and a repository without hosts/ has the hosts it names.
 * *out is freed with reg_hosts_free.
 * Errors: M3_ENOTFOUND (no hosts/ folder, and no host named in flake.nix), M3_ESYNTAX,
 * M3_EINVAL, M3_EIO, M3_ENOMEM. */
int reg_hosts_scan(const char *root, struct reg_hosts **out, struct m3_diag *d);
void reg_hosts_free(struct reg_hosts *h);

/* What Nix says a flake's hosts use, as another evaluator (cmd/, which runs Nix; this layer
 * never runs programs) gives it: for each host of nixosConfigurations, the secrets of
 * config.age.secrets with `toString file` and the module file that defines the secret. */
struct reg_nix_secret {
    char *secret; /* NAME of age.secrets.NAME */
    char *value;  /* toString of its file: "/nix/store/HASH-source/secrets/x.age", a string */
    char *module; /* the file of the module defining it ("/nix/store/HASH-source/m.nix"), or
                     NULL when the module system does not say (plain attribute sets) */
};
struct reg_nix_host {
    char *name;
    bool ok; /* false: Nix failed on this host alone; the static scan answers for it */
    struct reg_nix_secret *v;
    size_t n;
};
struct reg_nix_hosts {
    char *source; /* the flake's own source path in the store ("/nix/store/HASH-source") */
    struct reg_nix_host *hosts;
    size_t nhosts;
};
/* reg_nix_hosts_clear: frees what h holds (every string and array, with free) and zeroes it. */
void reg_nix_hosts_clear(struct reg_nix_hosts *h);

/* eval: the hosts of the flake at the repository root as Nix evaluates them. 0 with *out
 * filled (malloc'd); M3_ENOTFOUND when Nix gives no answer (no flake.nix, no
 * nixosConfigurations, an evaluation error: eval has said why, and the static scan
 * answers); another error fails reg_hosts_scan (a time limit reached). */
struct reg_host_eval {
    int (*eval)(void *ctx, const char *root, struct reg_nix_hosts *out, struct m3_diag *d);
    void *ctx;
};
/* reg_set_host_eval: the evaluator reg_hosts_scan asks from now on (copied; NULL: none). */
void reg_set_host_eval(const struct reg_host_eval *he);

/* reg_hosts_apply_nix: puts Nix's answer nx into the static scan hs: every host nx answers
 * (ok) gets exactly the secrets Nix lists (from_nix set, its unresolved values and its
 * unfollowed imports dropped), added when the scan has no such host. A value under
 * nx->source becomes repository-relative; one in another store path (another input) is
 * relative to that input, from_input set, as the static scan takes "${inputs.X}/x"; any
 * other string is kept as it is. Hosts nx does not answer keep the static answer.
 * Errors: M3_ENOMEM. */
int reg_hosts_apply_nix(struct reg_hosts *hs, const struct reg_nix_hosts *nx, struct m3_diag *d);

#endif
