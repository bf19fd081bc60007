/* keys.h: what users hold, turned into libage recipients and identities: recipient strings
 * and files (-r/-R), identity files (-i): age key files (and, from keys/ssh*, OpenSSH keys).
 * Reads files; prints nothing. */
#ifndef M3_KEYS_H
#define M3_KEYS_H

#include <stddef.h>

#include "libage/age.h"

struct keys_recipients {
    struct age_recipient **v;
    size_t n, cap;
};

struct keys_identities {
    struct age_identity **v;
    size_t n, cap;
};

/* keys_recipient_parse: one recipient ("age1...", and ssh public key lines once supported).
 * M3_EINVAL / M3_EUNSUPPORTED with a diag naming the problem. */
int keys_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d);

/* keys_recipients_add: parses s and appends it to l. */
int keys_recipients_add(struct keys_recipients *l, const char *s, struct m3_diag *d);

/* keys_recipients_parse_buf: a recipients file (one per line, '#' comments, blank lines).
 * Errors carry the 1-based line number in d->line. */
int keys_recipients_parse_buf(struct keys_recipients *l, const char *buf, size_t len,
                              struct m3_diag *d);

/* keys_recipients_load_file: reads path ("-" is not handled here) and parses it. */
int keys_recipients_load_file(struct keys_recipients *l, const char *path, struct m3_diag *d);

/* keys_recipients_push: appends r (ownership passes to l). */
int keys_recipients_push(struct keys_recipients *l, struct age_recipient *r);

void keys_recipients_clear(struct keys_recipients *l);

/* keys_identities_parse_buf: an identity file's contents: age identity lines
 * (AGE-SECRET-KEY-1..., '#' comments, blank lines). `name` names the file in prompts.
 * cb (may be NULL) is asked for passphrases of protected keys when they are needed. */
int keys_identities_parse_buf(struct keys_identities *l, const char *buf, size_t len,
                              const char *name, age_passphrase_fn cb, void *cb_ctx,
                              struct m3_diag *d);

/* keys_identities_load_file: reads path into secret memory and parses it. */
int keys_identities_load_file(struct keys_identities *l, const char *path, age_passphrase_fn cb,
                              void *cb_ctx, struct m3_diag *d);

int keys_identities_push(struct keys_identities *l, struct age_identity *id);
void keys_identities_clear(struct keys_identities *l);

/* keys_read_file: reads a whole file (at most max bytes) into secret memory (NUL-terminated;
 * free with age_secret_free). M3_EIO with errno text in d. */
int keys_read_file(const char *path, size_t max, char **out, size_t *len, struct m3_diag *d);

#endif
