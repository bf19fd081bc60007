/* convert.c: ssh-to-age: an ssh-ed25519 key's X25519 form as an age1 recipient and an
 * AGE-SECRET-KEY-1 identity, bit-exact with ssh-to-age (and so usable by sops/agenix tools). */
#include "keys/keys.h"
#include "keys/openssh.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int
keys_convert_public(const char *line, char *out, size_t cap, struct m3_diag *d)
{
    unsigned char *wire = NULL, x[32];
    char type[64];
    size_t len;
    int rc;

    if ((rc = keys_ssh_public_parse(line, &wire, &len, d)) != 0)
        return rc == M3_ENOMATCH ? m3_diag_set(d, M3_EINVAL, "not an SSH public key") : rc;
    if (age_ssh_wire_type(wire, len, type, sizeof(type)) != 0 || strcmp(type, "ssh-ed25519") ||
        len != AGE_SSH_ED25519_WIRE_LEN) {
        rc = m3_diag_set(d, M3_EUNSUPPORTED,
                         "only ssh-ed25519 keys have an age X25519 form (this is %s)", type);
        goto out;
    }
    /* The key bytes follow string "ssh-ed25519" and the key's length: 4 + 11 + 4. */
    if (age_ssh_ed25519_to_x25519_public(wire + 19, x) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "ssh-ed25519 public key is not a valid curve point");
        goto out;
    }
    rc = age_x25519_encode_recipient(x, out, cap);
out:
    free(wire);
    return rc;
}

struct convert_ctx {
    const struct keys_ssh_private *k;
    unsigned char *seed, *pk;
};

static int
try_seed(void *arg, const char *pass, struct m3_diag *d)
{
    struct convert_ctx *c = arg;

    return keys_ssh_private_ed25519_seed(c->k, pass, c->seed, c->pk, d);
}

int
keys_convert_private(const char *text, size_t len, const char *name, age_passphrase_fn cb,
                     void *cb_ctx, char *out, size_t cap, struct m3_diag *d)
{
    struct keys_ssh_private *k = NULL;
    struct convert_ctx c = {0};
    unsigned char *buf = age_secret_alloc(96);
    int rc;

    if (buf == NULL)
        return M3_ENOMEM;
    c.seed = buf;
    c.pk = buf + 32;
    if ((rc = keys_ssh_private_parse(&k, text, len, d)) != 0)
        goto out;
    c.k = k;
    if (strcmp(keys_ssh_private_type(k), "ssh-ed25519") != 0) {
        rc = m3_diag_set(d, M3_EUNSUPPORTED,
                         "only ssh-ed25519 keys have an age X25519 form (this is %s)",
                         keys_ssh_private_type(k));
        goto out;
    }
    if (keys_ssh_private_encrypted(k))
        rc = keys_ask_passphrase(name, cb, cb_ctx, try_seed, &c, d);
    else
        rc = try_seed(&c, NULL, d);
    if (rc != 0)
        goto out;
    age_ssh_ed25519_to_x25519_scalar(c.seed, buf + 64);
    rc = age_bech32_encode("AGE-SECRET-KEY-", buf + 64, 32, true, out, cap);
out:
    keys_ssh_private_free(k);
    age_secret_free(buf);
    return rc;
}
