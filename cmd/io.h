/* io.h: files for the commands: inputs, atomic outputs, passphrases. */
#ifndef M3_CMD_IO_H
#define M3_CMD_IO_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* An output: standard output, a non-regular file written directly (/dev/null, a pipe), or
 * a regular file written to a temporary name in its folder and renamed on commit. */
struct m3_out {
    int fd;
    char *path;       /* NULL for standard output */
    char *tmp;        /* temporary path while writing, NULL when written directly */
    const char *name; /* for messages */
    bool no_clobber;  /* commit fails if the target exists (keygen) */
    bool unnamed;     /* fd is an O_TMPFILE file, named only at commit */
};

/* m3_out_open: path NULL or "-" is standard output. mode is passed to open() (the umask
 * applies). Returns 0, or -1 after printing an error. */
int m3_out_open(struct m3_out *o, const char *path, mode_t mode);
/* m3_out_commit: fsync, rename over the target, fsync the folder. 0 or -1 (printed). */
int m3_out_commit(struct m3_out *o);
/* m3_out_abort: removes the temporary file; safe to call twice or after commit. */
void m3_out_abort(struct m3_out *o);
/* m3_out_is_tty: whether the output is a terminal. */
bool m3_out_is_tty(const struct m3_out *o);

/* m3_fd_write: age_write_fn over a file descriptor (ctx points to an int). */
int m3_fd_write(void *ctx, const void *buf, size_t len);
/* m3_fd_read: age_read_fn over a file descriptor (ctx points to an int). */
ssize_t m3_fd_read(void *ctx, void *buf, size_t len);

/* m3_in_open: path NULL or "-" is standard input. Returns the fd or -1 (printed). */
int m3_in_open(const char *path);
/* m3_in_name: the name of an input for messages. */
const char *m3_in_name(const char *path);

/* m3_passphrase_cb: age_passphrase_fn reading from the terminal with echo off, or from the
 * M3AGE_PASSPHRASE environment variable when set. ctx is unused. */
int m3_passphrase_cb(void *ctx, const char *prompt, char *buf, size_t cap);

/* m3_threads: worker threads for payloads: M3AGE_THREADS, else the number of online CPUs. */
unsigned m3_threads(void);

/* m3_plugin_ui_install: age plugins' messages and prompts on this terminal, and their
 * timeout from M3AGE_PLUGIN_TIMEOUT (seconds, 0 for none; default 30). */
void m3_plugin_ui_install(void);

/* m3_install_cleanup_signals: on SIGINT/SIGTERM/SIGHUP remove the current temporary
 * output before exiting. */
void m3_install_cleanup_signals(void);

#endif
