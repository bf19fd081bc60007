/* ssh_identity.c: OpenSSH/PEM private key files as age identities, unlocked lazily.
 *
 * A passphrase-protected key announces its public key in the clear (openssh-key-v1), so the
 * identity can tell from a stanza's tag whether a file is for it before asking anything: the
 * passphrase is asked only for files that need this key, and at most once per run (the
 * unlocked identity, or the failure, is kept). */
#include "keys/keys.h"
#include "keys/openssh.h"

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASSPHRASE_MAX 1024

struct lazy {
    char *name; /* the key file, for prompts and messages */
    struct keys_ssh_private *k;
    age_passphrase_fn cb;
    void *cb_ctx;
    struct age_identity *real; /* once unlocked */
    int failed;                /* the error of a failed unlock, reported again without asking */
    char failed_msg[sizeof(((struct m3_diag *)0)->msg)];
};

/* prefix_diag: "NAME: " before the diag's message, truncating the end if needed. */
static void
prefix_diag(struct m3_diag *d, const char *name)
{
    size_t cap = sizeof(d->msg), nl = strlen(name), ml;

    if (d == NULL || nl + 3 >= cap)
        return;
    ml = strnlen(d->msg, cap - 1);
    if (nl + 2 + ml >= cap)
        ml = cap - 1 - nl - 2;
    memmove(d->msg + nl + 2, d->msg, ml);
    memcpy(d->msg, name, nl);
    memcpy(d->msg + nl, ": ", 2);
    d->msg[nl + 2 + ml] = '\0';
}

int
keys_ask_passphrase(const char *name, age_passphrase_fn cb, void *cb_ctx, keys_try_fn try_fn,
                    void *arg, struct m3_diag *d)
{
    char prompt[4400];
    char *pass = NULL, *prev = NULL;
    int rc = M3_EPASSPHRASE;

    if (cb == NULL) {
        rc = m3_diag_set(d, M3_EPASSPHRASE, "the key is protected by a passphrase");
        goto out;
    }
    if ((pass = age_secret_alloc(PASSPHRASE_MAX)) == NULL ||
        (prev = age_secret_alloc(PASSPHRASE_MAX)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    for (int attempt = 1; attempt <= KEYS_PASSPHRASE_TRIES; attempt++) {
        if (attempt == 1)
            snprintf(prompt, sizeof(prompt), "%s", name);
        else
            snprintf(prompt, sizeof(prompt), "%s (incorrect passphrase, try %d of %d)", name,
                     attempt, KEYS_PASSPHRASE_TRIES);
        if ((rc = cb(cb_ctx, prompt, pass, PASSPHRASE_MAX)) != 0) {
            rc = attempt > 1 ? m3_diag_set(d, M3_EPASSPHRASE, "incorrect passphrase")
                             : m3_diag_set(d, rc,
                                           "the key is protected by a passphrase and "
                                           "none was given");
            goto out;
        }
        /* The same answer again (a passphrase from the environment) cannot do better. */
        if (attempt > 1 && strcmp(pass, prev) == 0) {
            rc = m3_diag_set(d, M3_EPASSPHRASE, "incorrect passphrase");
            goto out;
        }
        rc = try_fn(arg, pass, d);
        memcpy(prev, pass, PASSPHRASE_MAX);
        sodium_memzero(pass, PASSPHRASE_MAX);
        if (rc != M3_EPASSPHRASE)
            break;
    }
out:
    if (rc != 0)
        prefix_diag(d, name);
    age_secret_free(pass);
    age_secret_free(prev);
    return rc;
}

static int
try_unlock(void *arg, const char *pass, struct m3_diag *d)
{
    struct lazy *z = arg;

    return keys_ssh_private_identity(z->k, pass, &z->real, d);
}

static int
lazy_unlock(struct lazy *z, struct m3_diag *d)
{
    int rc = keys_ask_passphrase(z->name, z->cb, z->cb_ctx, try_unlock, z, d);

    if (rc != 0) {
        z->failed = rc;
        if (d != NULL)
            memcpy(z->failed_msg, d->msg, sizeof(z->failed_msg));
    }
    return rc;
}

static int
lazy_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
            struct m3_diag *d)
{
    struct lazy *z = state;
    const unsigned char *wire;
    size_t wlen, i;
    int rc;

    if (z->real != NULL)
        return z->real->ops->unwrap(z->real->state, stanzas, n, file_key, d);
    if (keys_ssh_private_wire(z->k, &wire, &wlen) == 0) {
        if ((rc = age_ssh_find_stanza(stanzas, n, wire, wlen, &i, d)) != 0)
            return rc;
    } else {
        /* Encrypted PEM: the public key is unknown; any ssh-rsa stanza may be ours. */
        for (i = 0; i < n && strcmp(stanzas[i].type, "ssh-rsa") != 0; i++)
            ;
        if (i == n)
            return M3_ENOMATCH;
    }
    if (z->failed != 0)
        return m3_diag_set(d, z->failed, "%s", z->failed_msg);
    if ((rc = lazy_unlock(z, d)) != 0)
        return rc;
    return z->real->ops->unwrap(z->real->state, stanzas, n, file_key, d);
}

static int
lazy_recipient(const void *state, struct age_recipient **out)
{
    const struct lazy *z = state;
    const unsigned char *wire;
    size_t len;

    if (keys_ssh_private_wire(z->k, &wire, &len) != 0)
        return M3_ENOTFOUND;
    return age_ssh_recipient_from_wire(out, wire, len, NULL);
}

static void
lazy_free(void *state)
{
    struct lazy *z = state;

    if (z == NULL)
        return;
    free(z->name);
    keys_ssh_private_free(z->k);
    age_identity_free(z->real);
    free(z);
}

static const struct age_identity_ops lazy_ops = {
    .type = "ssh (passphrase-protected)",
    .unwrap = lazy_unwrap,
    .recipient = lazy_recipient,
    .free = lazy_free,
};

int
keys_ssh_identity_parse(struct age_identity **out, const char *text, size_t len, const char *name,
                        age_passphrase_fn cb, void *cb_ctx, struct m3_diag *d)
{
    struct keys_ssh_private *k = NULL;
    struct lazy *z;
    int rc;

    *out = NULL;
    if ((rc = keys_ssh_private_parse(&k, text, len, d)) != 0)
        return rc;
    if (!keys_ssh_private_encrypted(k)) {
        rc = keys_ssh_private_identity(k, NULL, out, d);
        keys_ssh_private_free(k);
        return rc;
    }
    if ((z = calloc(1, sizeof(*z))) == NULL || (z->name = strdup(name)) == NULL) {
        free(z);
        keys_ssh_private_free(k);
        return M3_ENOMEM;
    }
    z->k = k;
    z->cb = cb;
    z->cb_ctx = cb_ctx;
    if ((*out = age_identity_new(&lazy_ops, z)) == NULL)
        return M3_ENOMEM;
    return 0;
}

int
keys_identity_ssh_wire(const struct age_identity *id, const unsigned char **wire, size_t *len)
{
    if (id != NULL && id->ops == &lazy_ops)
        return keys_ssh_private_wire(((const struct lazy *)id->state)->k, wire, len);
    return age_identity_ssh_wire(id, wire, len);
}

bool
keys_identity_is_locked(const struct age_identity *id)
{
    return id != NULL && id->ops == &lazy_ops && ((const struct lazy *)id->state)->real == NULL;
}

int
keys_identity_file_exposed(const char *path, struct m3_diag *d)
{
    struct stat st;
    char head[4096];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK), rc = 0;

    if (fd < 0)
        return 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) == 0)
        goto out;
    if ((n = read(fd, head, sizeof(head) - 1)) <= 0)
        goto out;
    head[n] = '\0';
    /* Only private keys in the SSH and PEM formats: ssh itself refuses these when exposed. */
    if (strstr(head, "PRIVATE KEY-----") != NULL && strstr(head, "PUBLIC KEY") == NULL) {
        m3_diag_set(d, 0, "%s: private key file is accessible by others (mode %04o)", path,
                    (unsigned)(st.st_mode & 07777));
        rc = 1;
    }
out:
    sodium_memzero(head, sizeof(head));
    close(fd);
    return rc;
}
