/* crypt.h: the encrypt and decrypt runs shared by the native commands and age mode. */
#ifndef M3_CMD_CRYPT_H
#define M3_CMD_CRYPT_H

#include <stdbool.h>
#include <stddef.h>

struct m3_list {
    const char **v;
    size_t n, cap;
};
int m3_list_push(struct m3_list *l, const char *s);
void m3_list_free(struct m3_list *l);

struct m3_encrypt_args {
    struct m3_list recipients;       /* -r */
    struct m3_list recipients_files; /* -R */
    struct m3_list identity_files;   /* -i: encrypt to their recipients */
    struct m3_list plugins;          /* -j NAME: to the plugin's default identity */
    bool passphrase;                 /* -p */
    bool armor;                      /* -a */
    const char *output;              /* -o, NULL for stdout */
    const char *input;               /* NULL or "-" for stdin */
};

struct m3_decrypt_args {
    struct m3_list identity_files; /* -i */
    struct m3_list plugins;        /* -j NAME: the plugin's default identity */
    const char *output;
    const char *input;
    /* m3age decrypt (not age mode): "no identity" is m3_no_identity's message, status 2;
     * defaults_apply says the registry names the input, so the default keys were tried. */
    bool native;
    bool defaults_apply;
    const char *rules; /* --rules, for whom_hint: the registry names the recipients */
};

/* m3_run_encrypt / m3_run_decrypt: run and print errors. Return 0, 1 (bad input, failed
 * decryption) or 2 (usage, operational error: an identity or input file that cannot be
 * read, no identity at all in native mode). */
int m3_run_encrypt(const struct m3_encrypt_args *a);
int m3_run_decrypt(const struct m3_decrypt_args *a);

#endif
