/* ssh_ed25519.c: the ssh-ed25519 recipient type (age/agessh): X25519 to the Curve25519 form of
 * an Ed25519 key, with the shared secret multiplied by a tweak bound to the SSH public key. */
#include "libage/internal.h"
#include "libage/ssh_internal.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct ed25519_recipient {
    struct age_ssh_common c; /* first: see ssh_internal.h */
    unsigned char point[32]; /* the recipient's Curve25519 public key */
    unsigned char tweaked_point[32]; /* X25519(tweak, point), see ed25519_wrap */
    bool low_order;                  /* tweaked_point is all zeros */
};

struct ed25519_identity {
    struct age_ssh_common c;
    unsigned char point[32];
    unsigned char tweak[32];
    unsigned char *scalar; /* secret memory: first 32 bytes of SHA-512(seed) */
    unsigned char pk[32];
};

static void
make_wire(const unsigned char pk[32], unsigned char wire[AGE_SSH_ED25519_WIRE_LEN])
{
    static const unsigned char prefix[] = {0,   0,   0,   11,  's', 's', 'h', '-', 'e', 'd',
                                           '2', '5', '5', '1', '9', 0,   0,   0,   32};

    memcpy(wire, prefix, sizeof(prefix));
    memcpy(wire + sizeof(prefix), pk, 32);
}

/* tweak = HKDF(ikm = empty, salt = wire key, info = label): binds the shared secret to the
 * SSH key, so the stanza is only for the holder of that exact key. */
static int
make_tweak(const unsigned char *wire, size_t len, unsigned char tweak[32])
{
    return age_hkdf(NULL, 0, wire, len, AGE_SSH_ED25519_LABEL, tweak, 32);
}

int
age_ssh_ed25519_to_x25519_public(const unsigned char ed_pk[32], unsigned char x_pk[32])
{
    if (age_init() != 0)
        return M3_ENOMEM;
    if (crypto_sign_ed25519_pk_to_curve25519(x_pk, ed_pk) != 0)
        return M3_EINVAL;
    return 0;
}

void
age_ssh_ed25519_to_x25519_scalar(const unsigned char seed[32], unsigned char out[32])
{
    unsigned char h[crypto_hash_sha512_BYTES];

    crypto_hash_sha512(h, seed, 32);
    memcpy(out, h, 32);
    sodium_memzero(h, sizeof(h));
}

/* ---- recipient ---------------------------------------------------------------------- */

static int
ed25519_wrap(const void *state, const unsigned char *file_key, struct age_stanza_list *out,
             struct m3_diag *d)
{
    const struct ed25519_recipient *r = state;
    unsigned char eph[32], share[32], tweaked[32], salt[64], wrap_key[32];
    unsigned char body[AGE_WRAPPED_SIZE];
    const char *args[2];
    char *share_b64 = NULL;
    int rc = M3_EINVAL;

    randombytes_buf(eph, sizeof(eph));
    age_x25519_base(share, eph);
    /* age computes X25519(tweak, X25519(eph, point)). Scalar multiplications commute (both
     * are multiples of the same point, on the curve or its twist), so that is
     * X25519(eph, X25519(tweak, point)), whose inner part depends on the recipient only and
     * was computed once with it: two multiplications per stanza instead of three, the same
     * value, and zero (refused) exactly when age's is. */
    if (r->low_order || crypto_scalarmult(tweaked, eph, r->tweaked_point) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "ssh-ed25519 recipient is a low-order point");
        goto out;
    }
    memcpy(salt, share, 32);
    memcpy(salt + 32, r->point, 32);
    if ((rc = age_hkdf(tweaked, 32, salt, 64, AGE_SSH_ED25519_LABEL, wrap_key, 32)) != 0)
        goto out;
    age_wrap_seal(wrap_key, file_key, body);
    if ((share_b64 = age_b64_encode(share, 32)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    args[0] = r->c.tag;
    args[1] = share_b64;
    rc = age_stanza_list_add(out, "ssh-ed25519", args, 2, body, sizeof(body));
out:
    free(share_b64);
    sodium_memzero(eph, sizeof(eph));
    sodium_memzero(tweaked, sizeof(tweaked));
    sodium_memzero(wrap_key, sizeof(wrap_key));
    return rc;
}

static char *
ed25519_encode(const void *state)
{
    const struct ed25519_recipient *r = state;

    return age_ssh_encode_line(r->c.wire, r->c.wire_len);
}

static void
ed25519_recipient_free(void *state)
{
    struct ed25519_recipient *r = state;

    if (r == NULL)
        return;
    age_ssh_common_clear(&r->c);
    free(r);
}

const struct age_recipient_ops age_ssh_ed25519_recipient_ops = {
    .type = "ssh-ed25519",
    .wrap = ed25519_wrap,
    .encode = ed25519_encode,
    .free = ed25519_recipient_free,
};

int
age_ssh_ed25519_recipient_new(struct age_recipient **out, const unsigned char pk[32],
                              struct m3_diag *d)
{
    unsigned char wire[AGE_SSH_ED25519_WIRE_LEN], tweak[32];
    struct ed25519_recipient *r;
    int rc;

    *out = NULL;
    if (age_init() != 0)
        return M3_ENOMEM;
    if ((r = calloc(1, sizeof(*r))) == NULL)
        return M3_ENOMEM;
    make_wire(pk, wire);
    if (age_ssh_ed25519_to_x25519_public(pk, r->point) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "ssh-ed25519 public key is not a valid curve point");
        goto fail;
    }
    if ((rc = make_tweak(wire, sizeof(wire), tweak)) != 0 ||
        (rc = age_ssh_common_set(&r->c, wire, sizeof(wire))) != 0)
        goto fail;
    /* the tweak and the point are public: so is their product */
    r->low_order = crypto_scalarmult(r->tweaked_point, tweak, r->point) != 0;
    if ((*out = age_recipient_new(&age_ssh_ed25519_recipient_ops, r)) == NULL)
        return M3_ENOMEM;
    return 0;
fail:
    ed25519_recipient_free(r);
    return rc;
}

/* ---- identity ----------------------------------------------------------------------- */

static int
ed25519_unwrap(void *state, const struct age_stanza *stanzas, size_t n, unsigned char *file_key,
               struct m3_diag *d)
{
    struct ed25519_identity *id = state;
    unsigned char share[32], shared[32], tweaked[32], salt[64], wrap_key[32];
    const struct age_stanza *s;
    size_t i;
    int rc;

    if ((rc = age_ssh_find_stanza(stanzas, n, id->c.wire, id->c.wire_len, &i, d)) != 0)
        return rc;
    s = &stanzas[i];
    if ((rc = age_b64_arg_decode(s->args[1], share, 32, "ssh-ed25519 share", d)) != 0)
        return rc;
    if (crypto_scalarmult(shared, id->scalar, share) != 0 ||
        crypto_scalarmult(tweaked, id->tweak, shared) != 0) {
        rc = m3_diag_set(d, M3_EHEADER, "ssh-ed25519 stanza has a low-order share");
        goto out;
    }
    memcpy(salt, share, 32);
    memcpy(salt + 32, id->point, 32);
    if ((rc = age_hkdf(tweaked, 32, salt, 64, AGE_SSH_ED25519_LABEL, wrap_key, 32)) != 0)
        goto out;
    if (s->body_len != AGE_WRAPPED_SIZE) {
        rc = m3_diag_set(d, M3_EHEADER, "ssh-ed25519 stanza body is %zu bytes, expected %d",
                         s->body_len, AGE_WRAPPED_SIZE);
        goto out;
    }
    /* The tag says the stanza is for this key: a body that does not open is tampering (or a
     * 32-bit tag collision), an error as in Go age rather than "not for me". */
    if (age_wrap_open(wrap_key, s->body, s->body_len, file_key) != 0)
        rc = m3_diag_set(d, M3_EHEADER,
                         "the ssh-ed25519 stanza for key %s does not decrypt (tampered header)",
                         id->c.tag);
out:
    sodium_memzero(shared, sizeof(shared));
    sodium_memzero(tweaked, sizeof(tweaked));
    sodium_memzero(wrap_key, sizeof(wrap_key));
    return rc;
}

static int
ed25519_identity_recipient(const void *state, struct age_recipient **out)
{
    const struct ed25519_identity *id = state;

    return age_ssh_ed25519_recipient_new(out, id->pk, NULL);
}

static void
ed25519_identity_free(void *state)
{
    struct ed25519_identity *id = state;

    if (id == NULL)
        return;
    age_ssh_common_clear(&id->c);
    age_secret_free(id->scalar);
    free(id);
}

const struct age_identity_ops age_ssh_ed25519_identity_ops = {
    .type = "ssh-ed25519",
    .unwrap = ed25519_unwrap,
    .recipient = ed25519_identity_recipient,
    .free = ed25519_identity_free,
};

int
age_ssh_ed25519_identity_new(struct age_identity **out, const unsigned char seed[32],
                             const unsigned char pk[32], struct m3_diag *d)
{
    unsigned char wire[AGE_SSH_ED25519_WIRE_LEN], derived[32], sk[crypto_sign_SECRETKEYBYTES];
    struct ed25519_identity *id;
    int rc = M3_ENOMEM;

    *out = NULL;
    if (age_init() != 0)
        return M3_ENOMEM;
    if ((id = calloc(1, sizeof(*id))) == NULL)
        return M3_ENOMEM;
    if ((id->scalar = age_secret_alloc(32)) == NULL)
        goto fail;
    /* A seed that does not give the stored public key means a corrupted key file. */
    crypto_sign_seed_keypair(derived, sk, seed);
    if (sodium_memcmp(derived, pk, 32) != 0) {
        rc =
            m3_diag_set(d, M3_EINVAL,
                        "corrupted key: the ssh-ed25519 private key does not match its public key");
        goto fail;
    }
    memcpy(id->pk, pk, 32);
    make_wire(pk, wire);
    if (age_ssh_ed25519_to_x25519_public(pk, id->point) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "ssh-ed25519 public key is not a valid curve point");
        goto fail;
    }
    age_ssh_ed25519_to_x25519_scalar(seed, id->scalar);
    if ((rc = make_tweak(wire, sizeof(wire), id->tweak)) != 0 ||
        (rc = age_ssh_common_set(&id->c, wire, sizeof(wire))) != 0)
        goto fail;
    sodium_memzero(sk, sizeof(sk));
    if ((*out = age_identity_new(&age_ssh_ed25519_identity_ops, id)) == NULL)
        return M3_ENOMEM;
    return 0;
fail:
    sodium_memzero(sk, sizeof(sk));
    ed25519_identity_free(id);
    return rc;
}
