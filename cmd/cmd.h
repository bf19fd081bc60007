/* cmd.h: the command table and the output helpers every command uses.
 *
 * cmd/ is the only layer that prints, prompts, reads the environment or exits. One file per
 * command (cmd/encrypt.c, cmd/registry.c, ...); each exports `int cmd_NAME(int argc, char
 * **argv)` returning the process exit status, and has one line in the table in cmd/main.c. */
#ifndef M3_CMD_H
#define M3_CMD_H

#include <stdbool.h>
#include <stdio.h>

#include "libage/error.h"

/* Exit statuses of the native commands (design.md). */
enum {
    M3_EXIT_OK = 0,
    M3_EXIT_NEGATIVE = 1, /* findings, differences, no identity matched, decryption failed */
    M3_EXIT_USAGE = 2,    /* usage or operational error */
};

struct m3_cmd {
    /* In the table itself, not a pointer: the names then share the table's page instead of
     * lying wherever the linker merged them into other strings ("decrypt" into "cannot
     * decrypt"), each a page the lookup of a command would fault in. */
    char name[16]; /* the longest, "git-setup", and its NUL with room to spare */
    int (*fn)(int argc, char **argv);
    const char *summary;
};

/* The program name used in messages: "m3age", or "age"/"agenix" in compatibility modes. */
extern const char *m3_progname;

/* m3_error/m3_warn/m3_hint/m3_info: one line on stderr, "m3age: error: ...". */
void m3_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void m3_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void m3_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void m3_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* m3_error_diag: "m3age: error: WHAT: <diag message or m3_strerror(rc)>", then the diag's
 * hint, if it has one, as "m3age: hint: ...". */
void m3_error_diag(const char *what, int rc, const struct m3_diag *d);

/* m3_diag_error: "m3age: error: <diag message or m3_strerror(rc)>" for a message that names
 * its input, then the diag's hint, if any. d may be NULL. */
void m3_diag_error(int rc, const struct m3_diag *d);

/* m3_diag_hint_print: "m3age: hint: <d's hint>" when d (may be NULL) has one; for callers
 * that print d's message their own way. */
void m3_diag_hint_print(const struct m3_diag *d);

/* m3_shown: s as it may be printed for a reader: control characters and DEL as \xNN, as
 * messages show them (stdout reports print names, keys and paths that anyone with push
 * access to the repository chooses: none may carry a terminal escape sequence or start a
 * forged line). s itself when it has none; else a copy that lives until the 8th call after
 * this one (so one printf may show several), cut with "..." past 1 KiB. */
const char *m3_shown(const char *s);

/* m3_use_color: whether to color output to stream: --color=always/never when given (see
 * m3_set_color), else (auto) when stream is a terminal, NO_COLOR is unset or empty
 * (no-color.org) and TERM is not "dumb". */
bool m3_use_color(FILE *stream);

/* m3_set_color: the --color[=WHEN] option: arg "always" (or NULL: --color alone), "never",
 * "auto". 0, or -1 after printing the error. */
int m3_set_color(const char *arg);

/* m3_crypto_init: initialises the crypto library (age_init), once; -1 with the error
 * printed when it cannot. main does it for every command but `registry`. */
int m3_crypto_init(void);

/* m3_is_help: true when arg is -h or --help. */
bool m3_is_help(const char *arg);

struct option;

/* m3_getopt: getopt_long as every native command parses its options: options may come
 * before or after the operands (GNU permutation), "--" ends the options. optstring has no
 * leading '+' or ':'. An unknown option or a missing value prints one line, "m3age: error:
 * CMD: unknown option '--x'" (or "option '-i' needs a value"), and a hint naming
 * 'm3age CMD --help', and returns '?'; the caller then exits M3_EXIT_USAGE without its
 * usage text. Set optind = 1 before the first call, as for getopt_long. */
int m3_getopt(int argc, char **argv, const char *optstring, const struct option *longopts,
              const char *cmd);
/* Evaluating the registry with nix-instantiate (cmd/nix.c). m3_nix_mode is what --nix
 * (M3_NIX_ALWAYS) and --no-nix (M3_NIX_NEVER) set, as getopt_long flags; by default
 * (M3_NIX_AUTO) a registry the built-in evaluator refuses as outside its subset is
 * evaluated by Nix when Nix is installed, with one note saying so. m3_nix_install makes
 * reg_load_path do that (main calls it once). m3_nix_eval runs nix-instantiate, pure and
 * read-only, on the registry at path: 0 and its JSON (*json malloc'd, *len bytes), or
 * M3_ENOTFOUND (no Nix) / M3_EEVAL (Nix failed: d holds its message as one line). */
enum { M3_NIX_AUTO = 0, M3_NIX_ALWAYS = 1, M3_NIX_NEVER = 2 };
extern int m3_nix_mode;
void m3_nix_install(void);
bool m3_nix_installed(void);
/* m3_nix_may_fall_back: whether a registry at path that m3age refused may go to Nix: the
 * default mode, Nix installed, and a regular file (a named pipe cannot be read twice). */
bool m3_nix_may_fall_back(const char *path);
int m3_nix_eval(const char *path, char **json, size_t *len, struct m3_diag *d);
/* m3_nix_run: runs the Nix program argv[0] (from PATH) with exactly the environment envp,
 * stdin from /dev/null, in a process group of its own, for at most m3_nix_timeout seconds;
 * a signal that ends m3age kills that group first. 0 with its stdout in *out (malloc'd,
 * NUL-terminated, *olen bytes without the NUL) when it exits 0. Errors: M3_ENOTFOUND (it
 * cannot be run), M3_EEVAL (it failed: *err, when err is non-NULL, holds its stderr,
 * malloc'd), M3_EIO (the time limit: d says "WHAT: Nix did not finish within N s ..."; or a
 * pipe, fork or output too large), M3_ECANCELED (SIGINT, SIGTERM or SIGHUP came: call
 * m3_nix_raise_pending after cleaning up), M3_EINVAL (a bad M3AGE_NIX_TIMEOUT), M3_ENOMEM. what
 * names the input in messages. */
int m3_nix_run(const char *what, char *const argv[], char *const envp[], char **out, size_t *olen,
               char **err, struct m3_diag *d);
/* m3_nix_raise_pending: a signal that came during m3_nix_run (which then killed Nix and
 * returned M3_ECANCELED) raised again, now that the caller has removed what it made: the
 * handler from before the run, or the default action, takes it. A no-op when none came. */
void m3_nix_raise_pending(void);
/* m3_nix_timeout: the limit of one Nix run in seconds: M3AGE_NIX_TIMEOUT when set (1 to
 * 86400), else M3_NIX_TIMEOUT_DEFAULT; -1 with d filled when the variable is not a number. */
enum { M3_NIX_TIMEOUT_DEFAULT = 60 };
long m3_nix_timeout(struct m3_diag *d);
/* m3_nix_hosts_install: with --nix, makes reg_hosts_scan take each host's secrets from the
 * flake's nixosConfigurations as Nix evaluates them (cmd/nixhosts.c); notes say when and why
 * the static scan answers instead. Commands that read hosts call it after their options. */
void m3_nix_hosts_install(void);
/* m3_nix_note: the one line saying that the registry at path, refused by the built-in
 * evaluator (why), is evaluated with nix-instantiate. */
void m3_nix_note(const char *path, const struct m3_diag *why);

/* Commands. */
int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_keygen(int argc, char **argv);
int cmd_keys(int argc, char **argv);
int cmd_age_compat(int argc, char **argv);
int cmd_version(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_rekey(int argc, char **argv);
int cmd_agenix(int argc, char **argv);
int cmd_audit(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_diff(int argc, char **argv);
int cmd_git_setup(int argc, char **argv);
int cmd_git(int argc, char **argv);
int cmd_registry(int argc, char **argv);
int cmd_hosts(int argc, char **argv);
int cmd_affected(int argc, char **argv);

#endif
