/* repo.h: operations on a secrets repository: the registry (secrets.nix), the secret files
 * it names, the identities of the person running the command; edit, decrypt and rekey.
 *
 * The layer prints nothing and reads no environment: cmd/ passes the editor, the temp
 * base folder, $HOME and a passphrase callback in, and prints what comes back. Errors are
 * 0 or a negative M3_E* code with a one-line struct m3_diag. */
#ifndef M3_SECRETS_REPO_H
#define M3_SECRETS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "keys/keys.h"
#include "libage/age.h"
#include "registry/registry.h"

/* An open repository: the registry as located and loaded, and the folder it lives in. */
struct secrets_repo {
    char *rules;     /* the registry path as located (as given for --rules/RULES) */
    const char *how; /* how it was found: "--rules", "RULES", "./secrets.nix", "parent" */
    char *dir;       /* absolute folder of the registry */
    char *cwd;       /* absolute working directory at open */
    bool cwd_names;  /* agenix: entry names are paths relative to the working directory */
    struct reg_file *file;
    struct reg_registry *reg;
    int lock_fd; /* -1 until secrets_repo_lock */
    char *root;  /* the trusted root (reg_trust_root of dir): every secret file lies inside */
    int root_fd; /* root, opened O_PATH: secret files are opened beneath it */
};

/* secrets_repo_open: locates (reg_locate) and loads the registry. rules_opt is --rules,
 * rules_env the RULES value (either may be NULL). Free with secrets_repo_free. A registry
 * naming a file outside its root is refused (reg_load_path).
 * Errors: those of reg_locate and reg_load_path, M3_EIO, M3_ENOMEM. */
int secrets_repo_open(struct secrets_repo **out, const char *rules_opt, const char *rules_env,
                      struct m3_diag *d);
void secrets_repo_free(struct secrets_repo *r);

/* secrets_repo_lock: takes an exclusive lock (flock on the registry's folder) so that two
 * runs never write the same repository at once; released by secrets_repo_free.
 * Errors: M3_ESTATE (another run holds it; d says so), M3_EIO. */
int secrets_repo_lock(struct secrets_repo *r, struct m3_diag *d);

/* A secret chosen on the command line or from the registry. */
struct secrets_target {
    const struct reg_entry *entry; /* owned by the repo's registry */
    char *path;                    /* the file to read and write (malloc'd) */
    bool via_dir;                  /* matched relative to the registry's folder, not as given */
};

/* secrets_repo_find: the entry for arg, as agenix looks it up (the name as given, relative
 * to the working directory; a leading "./" is ignored), else arg taken relative to the
 * registry's folder (via_dir set). Free t with secrets_target_clear.
 * Errors: M3_ENOTFOUND ("there is no rule for ARG in RULES"), M3_ENOMEM. */
int secrets_repo_find(const struct secrets_repo *r, const char *arg, struct secrets_target *t,
                      struct m3_diag *d);
/* secrets_repo_entry_path: the file of entry e (registry folder or working directory per
 * cwd_names), malloc'd; NULL when out of memory. */
char *secrets_repo_entry_path(const struct secrets_repo *r, const struct reg_entry *e);
void secrets_target_clear(struct secrets_target *t);

/* ---- Secret files, confined to the repository --------------------------------------------
 * Every read and write of a secret file goes through these: the path (as secrets_repo_find
 * or secrets_repo_entry_path give it) must lie inside r->root by name (reg_path_within), and
 * is opened beneath r->root_fd without following any link, so that a committed link or a
 * name with ".." cannot reach a file of another repository. A link is refused with
 * "PATH: a symbolic link (refused: ...)" (M3_EINVAL). */

struct secrets_buf;

/* secrets_openat_beneath: opens rel (relative, no "." or "..") beneath the folder root_fd
 * with openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), or an O_NOFOLLOW walk one name at a
 * time where the kernel lacks openat2. Returns the fd, or -errno (ELOOP: a link). */
int secrets_openat_beneath(int root_fd, const char *rel, int flags, mode_t mode);
/* secrets_openat_walk: the walk secrets_openat_beneath falls back to (public for its tests):
 * each folder opened O_PATH | O_DIRECTORY | O_NOFOLLOW, the last name O_NOFOLLOW. rel must
 * hold no "." or ".." (reg_path_within's output). Returns the fd, or -errno (ELOOP: a link). */
int secrets_openat_walk(int root_fd, const char *rel, int flags, mode_t mode);

/* secrets_repo_open_file: opens the secret file path with flags (O_RDONLY, or O_PATH) into
 * *fd; a file that is not a regular file is refused. Errors: M3_ENOTFOUND (no such file),
 * M3_EINVAL (outside the root, a link, not a regular file), M3_EIO; d names path. */
int secrets_repo_open_file(const struct secrets_repo *r, const char *path, int flags, int *fd,
                           struct m3_diag *d);
/* secrets_repo_stat: stat of the secret file path, confined as secrets_repo_open_file.
 * Errors: as secrets_repo_open_file. */
int secrets_repo_stat(const struct secrets_repo *r, const char *path, struct stat *st,
                      struct m3_diag *d);
/* secrets_repo_decrypt: secrets_decrypt_file of the confined secret file path.
 * Errors: as secrets_repo_open_file and age_decrypt. */
int secrets_repo_decrypt(const struct secrets_repo *r, const char *path,
                         struct age_identity *const *ids, size_t nids, struct secrets_buf *out,
                         struct m3_diag *d);
/* secrets_repo_encrypt: secrets_encrypt_file_nosync of the confined secret file path: its
 * folder is opened beneath the root, the temp file created and renamed in that folder (a
 * link in the file's place is refused, not replaced). Errors: as secrets_repo_open_file,
 * secrets_encrypt_file. */
int secrets_repo_encrypt(const struct secrets_repo *r, const char *path,
                         struct age_recipient *const *rcpts, size_t n, bool armor,
                         const void *plaintext, size_t len, bool sync_dir, struct m3_diag *d);
/* secrets_repo_encrypt_key: as secrets_repo_encrypt with the file key given (secret memory,
 * random, one file only; NULL for a fresh one): the key keys_plugin_wrap_prefetch wrapped. */
int secrets_repo_encrypt_key(const struct secrets_repo *r, const char *path,
                             struct age_recipient *const *rcpts, size_t n, bool armor,
                             const void *plaintext, size_t len, bool sync_dir,
                             const unsigned char *file_key, struct m3_diag *d);
/* secrets_repo_open_dir / secrets_repo_encrypt_at: secrets_repo_encrypt in two steps, so
 * that a run writing many files opens each folder once: the folder of the secret file path,
 * opened beneath the root (*dfd, closed by the caller; *base, malloc'd, the file's name in
 * it), then the file base replaced in that folder (path names it in messages), with
 * file_key as secrets_repo_encrypt_key. Errors: as secrets_repo_encrypt. */
int secrets_repo_open_dir(const struct secrets_repo *r, const char *path, int *dfd, char **base,
                          struct m3_diag *d);
int secrets_repo_encrypt_at(int dfd, const char *base, const char *path,
                            struct age_recipient *const *rcpts, size_t n, bool armor,
                            const void *plaintext, size_t len, bool sync_dir,
                            const unsigned char *file_key, struct m3_diag *d);
/* secrets_repo_sync_dir: fsync of the folder of the secret file path (makes the renames of
 * a batch durable). Errors: as secrets_repo_open_file, M3_EIO. */
int secrets_repo_sync_dir(const struct secrets_repo *r, const char *path, struct m3_diag *d);
/* secrets_repo_clean_temps: removes the temp files a killed run left beside the secret file
 * path: only in its folder inside the root (reached without links), only regular files named
 * as m3age names them (".BASE.m3tmp." and 12 hex digits). Returns how many. */
size_t secrets_repo_clean_temps(const struct secrets_repo *r, const char *path);

/* secrets_key_name: the name of a key string in the registry (the top-level let binding
 * whose value is that key, compared on type and base64 only), or NULL. */
const char *secrets_key_name(const struct secrets_repo *r, const char *key);

/* secrets_host_key: the key of host HOST: the let binding named HOST, else the first line
 * of hosts/HOST/ssh_host_ed25519_key.pub in the registry's folder. *key is malloc'd.
 * Errors: M3_ENOTFOUND. */
int secrets_host_key(const struct secrets_repo *r, const char *host, char **key, struct m3_diag *d);
/* secrets_keys_equal: two recipient strings name the same key (type and base64 equal for
 * SSH keys, the whole string for age1 recipients). */
bool secrets_keys_equal(const char *a, const char *b);

/* secrets_entry_recipients: parses the entry's publicKeys into l (appended).
 * Errors: as keys_recipient_parse, d names the key's position in the registry. */
int secrets_entry_recipients(const struct reg_entry *e, struct keys_recipients *l,
                             struct m3_diag *d);

/* ---- Identities ------------------------------------------------------------------------ */

/* secrets_identities_load: the identity files given (-i), or when n == 0 the defaults that
 * exist: HOME/.ssh/id_ed25519 and HOME/.ssh/id_rsa (home may be NULL: no defaults).
 * Protected keys ask cb once per run, only when a file needs them. *loaded (optional)
 * gets how many files were read. On error d names the file. */
int secrets_identities_load(struct keys_identities *ids, const char *const *files, size_t n,
                            const char *home, age_passphrase_fn cb, void *cb_ctx, size_t *loaded,
                            struct m3_diag *d);

/* ---- Plaintext in memory --------------------------------------------------------------- */

/* A growable buffer in secret memory (sodium_malloc), wiped when freed. */
struct secrets_buf {
    unsigned char *p;
    size_t len, cap;
};
int secrets_buf_append(struct secrets_buf *b, const void *p, size_t len);
void secrets_buf_free(struct secrets_buf *b);
/* secrets_buf_write: age_write_fn appending to a struct secrets_buf. */
int secrets_buf_write(void *ctx, const void *buf, size_t len);

/* secrets_decrypt_file: decrypts path with ids into out (secret memory).
 * Errors: as age_decrypt, M3_EIO (d has errno's text). */
int secrets_decrypt_file(const char *path, struct age_identity *const *ids, size_t nids,
                         struct secrets_buf *out, struct m3_diag *d);

/* secrets_encrypt_file: encrypts plaintext to rcpts (armored or not) and replaces path
 * atomically: a temp file ".BASE.m3tmp.RANDOM" in its folder, fsync, rename, fsync of the
 * folder. The mode of an existing file is kept; a new file gets 0666 minus the umask. On
 * failure path is untouched and the temp file removed. Errors: M3_EIO, the recipients'. */
int secrets_encrypt_file(const char *path, struct age_recipient *const *rcpts, size_t n, bool armor,
                         const void *plaintext, size_t len, struct m3_diag *d);
/* secrets_encrypt_file_nosync: as secrets_encrypt_file, but with sync_dir false the folder
 * is not synced: for a batch, whose caller syncs each folder once (secrets_repo_sync_dir)
 * after its last rename and before it reports any file of the batch written. */
int secrets_encrypt_file_nosync(const char *path, struct age_recipient *const *rcpts, size_t n,
                                bool armor, const void *plaintext, size_t len, bool sync_dir,
                                struct m3_diag *d);
/* ---- Edit ------------------------------------------------------------------------------ */

enum secrets_edit_result {
    SECRETS_EDIT_WRITTEN,     /* encrypted and replaced (or created) */
    SECRETS_EDIT_UNCHANGED,   /* content unchanged: the file was left byte-identical */
    SECRETS_EDIT_NOT_CREATED, /* there was no file and the editor made none */
    /* written, to the recipients the registry has now: it changed them during the edit */
    SECRETS_EDIT_WRITTEN_REGISTRY_CHANGED,
    /* not written (secrets_edit returned an error): the edit is kept encrypted elsewhere,
     * d names that file */
    SECRETS_EDIT_KEPT,
    /* not written (M3_EINVAL): input_fd gave 0 bytes for an existing secret and allow_empty
     * was not set */
    SECRETS_EDIT_EMPTY_INPUT,
};

struct secrets_edit_opts {
    char *const *editor;  /* the editor command, word-split (NULL-terminated), or NULL */
    int input_fd;         /* >= 0: read the new plaintext from this fd instead of an editor */
    bool no_edit;         /* EDITOR=":": keep the content as it is */
    bool force;           /* re-encrypt even when unchanged (agenix's EDITOR=:) */
    const char *tmp_base; /* $XDG_RUNTIME_DIR or NULL (then /dev/shm) */
    bool unsafe_tmp;      /* accept a disk-backed tmp_base */
    bool allow_empty;     /* input_fd may give 0 bytes as the new content of an existing file */
};

/* secrets_edit: decrypts t (when it exists) into a fresh 0700 folder on tmpfs under its base
 * name, runs the editor on that path (for vim and nvim with swap, undo, backup and viminfo
 * off), and encrypts the result to exactly the entry's publicKeys (armored when the entry
 * says so), replacing the file atomically. The plaintext file is overwritten and removed on
 * every path, including SIGINT, SIGTERM and SIGHUP during the edit.
 *
 * Before the editor starts (or input_fd is read) it checks that the result can be written:
 * the file's folder, or the nearest one above it that exists, must be writable (missing
 * folders are made, as agenix does, only when the result is written). When the write still
 * fails, the edit is encrypted to "NAME.kept-XXXXXX.age" beside the file, else in the
 * working directory, else in the registry's folder (*res = SECRETS_EDIT_KEPT, M3_EIO, d
 * names the kept file); plaintext never reaches those folders. An existing file is not
 * replaced by 0 bytes read from input_fd unless allow_empty (M3_EINVAL, *res =
 * SECRETS_EDIT_EMPTY_INPUT, nothing changed).
 *
 * Errors: M3_EINVAL (a disk-backed temp folder without unsafe_tmp; empty input), M3_EIO (the
 * folder cannot be written: checked before the editor), M3_ECANCELED (the editor failed or
 * was killed; the file is untouched), decryption and encryption errors. */
int secrets_edit(const struct secrets_repo *r, const struct secrets_target *t,
                 struct keys_identities *ids, const struct secrets_edit_opts *o,
                 enum secrets_edit_result *res, struct m3_diag *d);
/* Before writing, secrets_edit reads the registry again: when the entry's recipients (or
 * armor) changed during the edit it encrypts to the current ones (SECRETS_EDIT_WRITTEN_
 * REGISTRY_CHANGED). When the registry no longer loads, the entry is gone, or the secret file
 * was replaced or changed by another program meanwhile, the file is left alone and the edit
 * is encrypted to "NAME.kept-XXXXXX.age" beside it instead: M3_ESTATE, *res =
 * SECRETS_EDIT_KEPT, d names that file. */

/* secrets_edit_clean_stale: removes (wiping every file) the private edit folders under
 * tmp_base (NULL: /dev/shm) that belong to this user and to a process that no longer exists:
 * those of a run killed by SIGKILL. Returns how many were removed. */
size_t secrets_edit_clean_stale(const char *tmp_base);

/* secrets_child_environ: the environment for a child process (editor, diff, git, nix):
 * environ without M3AGE_PASSPHRASE. A malloc'd NULL-terminated array of pointers into
 * environ (free the array only); NULL when out of memory. */
char **secrets_child_environ(void);

/* ---- Rekey ----------------------------------------------------------------------------- */

enum secrets_item_state {
    SECRETS_ITEM_MISSING,    /* no file: nothing to rekey */
    SECRETS_ITEM_UP_TO_DATE, /* header already matches the registry */
    SECRETS_ITEM_PLANNED,    /* to be rewritten (dry run stops here) */
    SECRETS_ITEM_REKEYED,    /* rewritten */
    SECRETS_ITEM_FAILED,     /* could not be read, decrypted or written (msg says why) */
    SECRETS_ITEM_HELD,       /* not written because another file failed (all or nothing) */
};

struct secrets_rekey_item {
    const struct reg_entry *entry;
    char *path;
    enum secrets_item_state state;
    char **added; /* recipients the registry has and the file lacks, by registry name */
    size_t nadded;
    char **removed; /* recipients the file has and the registry lacks */
    size_t nremoved;
    char **kept; /* stanzas no key can be told from ("1 piv-p256 stanza"), kept: the file is
                    not rewritten (refused when it differs) unless forced */
    size_t nkept;
    char msg[384];            /* failure: one line; otherwise empty */
    struct secrets_buf plain; /* internal: the decrypted plaintext */
    bool locked_first;        /* internal: needs a passphrase-protected identity */
};

struct secrets_rekey {
    struct secrets_rekey_item *items;
    size_t n;
    size_t rekeyed, up_to_date, failed, missing, planned, held;
    size_t temps_cleaned; /* temp files of an earlier, killed run that were removed */
};

struct secrets_rekey_opts {
    bool force;         /* rewrite every chosen file */
    bool dry_run;       /* plan only */
    bool partial;       /* write the files that could be decrypted even if others failed */
    bool allow_lockout; /* write files none of ids can open */
    unsigned jobs;      /* worker threads (0: 1) */
    /* load_ids (may be NULL): called once, only when some file needs rewriting and before
     * any is decrypted, to load the identities into the ids given to secrets_rekey_run: an
     * up-to-date repository then costs no key parsing. Nonzero ends the run with that
     * return value (d as the callback left it). */
    int (*load_ids)(void *ctx, struct keys_identities *ids, struct m3_diag *d);
    void *load_ids_ctx;
    /* progress (may be NULL): called from the main thread as files complete. */
    void (*progress)(void *ctx, const char *phase, size_t done, size_t total);
    void *progress_ctx;
};

/* secrets_rekey_run: rekeys the entries es[0..n) of r (all when n == 0): reads each header,
 * compares it with the registry (lazily, without decrypting), decrypts every file that needs
 * rewriting, and only when all succeeded (or opts->partial) encrypts each to the registry's
 * recipients and replaces it atomically. Temp files of a killed earlier run are removed first.
 * *out gets the per-file report (free with secrets_rekey_free) even on error.
 * Returns 0 when nothing failed, M3_EPAYLOAD when some file failed (see items), or an
 * operational error (M3_ENOMEM, ...). */
int secrets_rekey_run(struct secrets_repo *r, const struct reg_entry *const *es, size_t n,
                      struct keys_identities *ids, const struct secrets_rekey_opts *opts,
                      struct secrets_rekey **out, struct m3_diag *d);
void secrets_rekey_free(struct secrets_rekey *k);

/* secrets_entries_for_host: the entries whose publicKeys hold key (secrets_keys_equal),
 * appended to *v (malloc'd array). Errors: M3_ENOMEM. */
int secrets_entries_for_key(const struct secrets_repo *r, const char *key,
                            const struct reg_entry ***v, size_t *n);

#endif
