/* test_age_x25519.c: the fixed-base X25519 (age_x25519_base, from Ed25519's tables) against
 * libsodium's ladder, and the ssh-ed25519 and X25519 stanzas wrapped with it (and, for
 * ssh-ed25519, with the tweak applied to the recipient's point once) against the spec's
 * computation done here by hand. */
#include <criterion/criterion.h>
#include <sodium.h>
#include <string.h>

#include "libage/age.h"
#include "libage/internal.h"
#include "libage/ssh.h"

static void
init(void)
{
    cr_assert_eq(age_init(), 0);
}

static void
check_base(const unsigned char scalar[32])
{
    unsigned char want[32], got[32];

    crypto_scalarmult_base(want, scalar);
    age_x25519_base(got, scalar);
    cr_assert_arr_eq(got, want, 32, "age_x25519_base differs from the ladder");
}

Test(age_x25519, base_agrees_with_the_ladder, .init = init)
{
    unsigned char s[32];

    /* edges: zero, all ones, one byte set, the clamped bits alone */
    for (int v = 0; v < 256; v += 15) {
        memset(s, v, sizeof(s));
        check_base(s);
        for (int i = 0; i < 32; i++) {
            memset(s, 0, sizeof(s));
            s[i] = (unsigned char)v;
            check_base(s);
        }
    }
    for (int i = 0; i < 20000; i++) {
        randombytes_buf(s, sizeof(s));
        check_base(s);
    }
}

/* open_by_the_spec: the file key of an ssh-ed25519 stanza, computed as age's spec does (three
 * multiplications: shared secret, then the tweak over it), with the recipient's seed. */
static void
open_by_the_spec(const unsigned char seed[32], const unsigned char pk[32],
                 const struct age_stanza *s, unsigned char file_key[16])
{
    static const unsigned char prefix[] = {0,   0,   0,   11,  's', 's', 'h', '-', 'e', 'd',
                                           '2', '5', '5', '1', '9', 0,   0,   0,   32};
    unsigned char wire[sizeof(prefix) + 32], tweak[32], scalar[32], point[32], share[32];
    unsigned char shared[32], tweaked[32], salt[64], key[32];
    size_t n = 0;

    memcpy(wire, prefix, sizeof(prefix));
    memcpy(wire + sizeof(prefix), pk, 32);
    cr_assert_eq(
        age_hkdf(NULL, 0, wire, sizeof(wire), "age-encryption.org/v1/ssh-ed25519", tweak, 32), 0);
    age_ssh_ed25519_to_x25519_scalar(seed, scalar);
    cr_assert_eq(age_ssh_ed25519_to_x25519_public(pk, point), 0);
    cr_assert_eq(s->nargs, 2);
    cr_assert_eq(sodium_base642bin(share, sizeof(share), s->args[1], strlen(s->args[1]), NULL, &n,
                                   NULL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING),
                 0);
    cr_assert_eq(n, 32);
    cr_assert_eq(crypto_scalarmult(shared, scalar, share), 0);
    cr_assert_eq(crypto_scalarmult(tweaked, tweak, shared), 0);
    memcpy(salt, share, 32);
    memcpy(salt + 32, point, 32);
    cr_assert_eq(age_hkdf(tweaked, 32, salt, 64, "age-encryption.org/v1/ssh-ed25519", key, 32), 0);
    cr_assert_eq(age_wrap_open(key, s->body, s->body_len, file_key), 0,
                 "the stanza does not open by the spec's computation");
}

Test(age_x25519, ssh_ed25519_stanzas_open_by_the_spec, .init = init)
{
    for (int k = 0; k < 8; k++) {
        unsigned char seed[32], pk[32], sk[64], fk[16], got[16];
        struct age_recipient *r = NULL;
        struct age_identity *id = NULL;

        randombytes_buf(seed, sizeof(seed));
        crypto_sign_seed_keypair(pk, sk, seed);
        cr_assert_eq(age_ssh_ed25519_recipient_new(&r, pk, NULL), 0);
        cr_assert_eq(age_ssh_ed25519_identity_new(&id, seed, pk, NULL), 0);
        for (int i = 0; i < 64; i++) {
            struct age_stanza_list l = {0};
            randombytes_buf(fk, sizeof(fk));
            cr_assert_eq(r->ops->wrap(r->state, fk, &l, NULL), 0);
            cr_assert_eq(l.n, 1);
            open_by_the_spec(seed, pk, &l.v[0], got);
            cr_assert_arr_eq(got, fk, 16);
            memset(got, 0, sizeof(got));
            cr_assert_eq(id->ops->unwrap(id->state, l.v, l.n, got, NULL), 0);
            cr_assert_arr_eq(got, fk, 16);
            age_stanza_list_clear(&l);
        }
        age_recipient_free(r);
        age_identity_free(id);
    }
}

Test(age_x25519, x25519_stanzas_open, .init = init)
{
    struct age_identity *id = NULL;
    struct age_recipient *r = NULL;
    unsigned char fk[16], got[16];

    cr_assert_eq(age_x25519_identity_generate(&id), 0);
    cr_assert_eq(id->ops->recipient(id->state, &r), 0);
    for (int i = 0; i < 256; i++) {
        struct age_stanza_list l = {0};
        randombytes_buf(fk, sizeof(fk));
        cr_assert_eq(r->ops->wrap(r->state, fk, &l, NULL), 0);
        cr_assert_eq(id->ops->unwrap(id->state, l.v, l.n, got, NULL), 0);
        cr_assert_arr_eq(got, fk, 16);
        age_stanza_list_clear(&l);
    }
    age_recipient_free(r);
    age_identity_free(id);
}
