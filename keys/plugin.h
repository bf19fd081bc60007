/* plugin.h: the age plugin protocol's transport (c2sp.org/age-plugin): a started plugin
 * process and the stanza framing on its standard input and output. Internal to keys/. */
#ifndef M3_KEYS_PLUGIN_H
#define M3_KEYS_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "libage/error.h"

#define KEYS_PLUGIN_MAX_ARGS 16
#define KEYS_PLUGIN_MAX_LINE 4096        /* one stanza line (command line or body line) */
#define KEYS_PLUGIN_MAX_BODY (64u << 10) /* decoded body of one command */

/* A running plugin: its end of a socket pair (stdin and stdout of the plugin), the pid,
 * and the read buffer. `interactive` turns the timeout off once the plugin has asked the
 * user for something (a touch or a PIN may take any time). */
struct keys_pconn {
    pid_t pid;
    int fd;
    int timeout_ms; /* 0: none */
    bool interactive;
    char name[64]; /* "age-plugin-NAME" for messages */
    char rbuf[8192];
    size_t rlen, rpos;
};

/* One command: args[0] is the command, body is secret memory (may hold a file key or PIN). */
struct keys_pmsg {
    char *line; /* owns the argument strings */
    char *args[KEYS_PLUGIN_MAX_ARGS + 1];
    size_t nargs;
    unsigned char *body; /* age_secret_alloc'd, or NULL when empty */
    size_t body_len;
};

/* keys_pconn_start: starts age-plugin-NAME with --age-plugin=STATE_MACHINE, with the
 * environment less M3AGE_PASSPHRASE (a plugin is another program). */
int keys_pconn_start(struct keys_pconn *c, const char *name, const char *state_machine,
                     struct m3_diag *d);
/* keys_pconn_finish: closes the connection and reaps the plugin (killing it when it does not
 * exit within a second, or at once when kill is set). */
void keys_pconn_finish(struct keys_pconn *c, bool kill);

/* keys_pconn_send: one command (args: command then metadata) with an optional body. */
int keys_pconn_send(struct keys_pconn *c, const char *const *args, size_t nargs,
                    const unsigned char *body, size_t body_len, struct m3_diag *d);
/* keys_pconn_grease: a random unknown command the other side must ignore. */
int keys_pconn_grease(struct keys_pconn *c, struct m3_diag *d);
/* keys_pconn_recv: the next command. M3_EIO (plugin exited, timed out), M3_EHEADER (garbage:
 * not a stanza). Free with keys_pmsg_free. */
int keys_pconn_recv(struct keys_pconn *c, struct keys_pmsg *m, struct m3_diag *d);
void keys_pmsg_free(struct keys_pmsg *m);

#endif
