/* test_age_ssh.c: the ssh-ed25519 and ssh-rsa recipient types against Go age's files, tags,
 * malformed stanzas and small RSA keys. Keys come from tests/data/keys (made by ssh-keygen). */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/openssh.h"
#include "libage/age.h"
#include "libage/ssh.h"

#define DATA "tests/data/keys/"

static char *
slurp(const char *name, size_t *len)
{
    char path[256];
    FILE *f;
    char *buf = malloc(1 << 16);

    snprintf(path, sizeof(path), DATA "%s", name);
    f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s (run from the source root)", path);
    *len = fread(buf, 1, (1 << 16) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

static void
pub_wire(const char *name, unsigned char **wire, size_t *len)
{
    size_t n;
    char *text = slurp(name, &n);

    cr_assert_eq(keys_ssh_public_parse(text, wire, len, NULL), 0);
    free(text);
}

static struct age_identity *
identity(const char *name, const char *pass)
{
    struct keys_ssh_private *k;
    struct age_identity *id;
    struct m3_diag d = {0};
    size_t n;
    char *text = slurp(name, &n);

    cr_assert_eq(keys_ssh_private_parse(&k, text, n, &d), 0, "%s: %s", name, d.msg);
    cr_assert_eq(keys_ssh_private_identity(k, pass, &id, &d), 0, "%s: %s", name, d.msg);
    keys_ssh_private_free(k);
    free(text);
    return id;
}

struct mem {
    unsigned char *p;
    size_t len, pos;
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len)
{
    struct mem *m = ctx;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;

    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

static int
mem_write(void *ctx, const void *buf, size_t len)
{
    struct mem *m = ctx;

    m->p = realloc(m->p, m->len + len + 1);
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static int
decrypt_buf(struct age_identity *id, const void *in, size_t len, struct mem *out, struct m3_diag *d)
{
    struct mem src = {(unsigned char *)in, len, 0};

    memset(out, 0, sizeof(*out));
    return age_decrypt(&id, 1, mem_read, &src, mem_write, out, 1, d);
}

static void
encrypt_buf(struct age_recipient **r, size_t n, const char *msg, struct mem *out)
{
    struct mem src = {(unsigned char *)msg, strlen(msg), 0};
    struct age_encrypt_opts o = {0};

    memset(out, 0, sizeof(*out));
    cr_assert_eq(age_encrypt(r, n, &o, mem_read, &src, mem_write, out, NULL), 0);
}

TestSuite(age_ssh, .init = (void (*)(void))age_init);

Test(age_ssh, go_age_file_opens_with_each_ssh_key)
{
    const char *keys[] = {"ed25519",       "rsa2048",       "ed25519_pw",  "rsa2048_pw",
                          "rsa2048_pkcs1", "rsa2048_pkcs8", "ed25519_gcm", "rsa2048_pkcs8_pw"};
    size_t glen, plen;
    char *golden = slurp("golden.age", &glen), *plain = slurp("plain.txt", &plen);

    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        struct age_identity *id = identity(
            keys[i], strstr(keys[i], "pw") || strstr(keys[i], "gcm") ? "correct horse" : NULL);
        struct m3_diag d = {0};
        struct mem out;
        cr_assert_eq(decrypt_buf(id, golden, glen, &out, &d), 0, "%s: %s", keys[i], d.msg);
        cr_assert_eq(out.len, plen);
        cr_assert_arr_eq(out.p, plain, plen);
        free(out.p);
        age_identity_free(id);
    }
    free(golden);
    free(plain);
}

Test(age_ssh, tags_match_the_ones_go_age_writes)
{
    unsigned char *wire;
    size_t len;
    char tag[AGE_SSH_TAG_LEN + 1];

    /* golden.age's stanzas: "-> ssh-ed25519 NBjtEg ..." and "-> ssh-rsa EkF/7g". */
    pub_wire("ed25519.pub", &wire, &len);
    age_ssh_tag_string(wire, len, tag);
    cr_assert_str_eq(tag, "NBjtEg");
    free(wire);
    pub_wire("rsa2048.pub", &wire, &len);
    age_ssh_tag_string(wire, len, tag);
    cr_assert_str_eq(tag, "EkF/7g");
    free(wire);
}

Test(age_ssh, header_is_matched_without_private_keys)
{
    struct age_header *h;
    unsigned char *ed, *rsa, *ec;
    size_t glen, edl, rsal, ecl, idx;
    char *golden = slurp("golden.age", &glen);

    pub_wire("ed25519.pub", &ed, &edl);
    pub_wire("rsa2048.pub", &rsa, &rsal);
    pub_wire("ecdsa.pub", &ec, &ecl);
    cr_assert_eq(age_header_parse(&h, (unsigned char *)golden, glen, NULL, NULL), 0);
    cr_assert_eq(h->nstanzas, 3);
    cr_assert(age_stanza_matches_key(&h->stanzas[0], ed, edl));
    cr_assert_not(age_stanza_matches_key(&h->stanzas[0], rsa, rsal));
    cr_assert(age_stanza_matches_key(&h->stanzas[1], rsa, rsal));
    cr_assert_not(age_stanza_matches_key(&h->stanzas[2], ed, edl)); /* X25519 */
    cr_assert_not(age_stanza_matches_key(&h->stanzas[0], ec, ecl));
    cr_assert_eq(age_ssh_find_stanza(h->stanzas, h->nstanzas, rsa, rsal, &idx, NULL), 0);
    cr_assert_eq(idx, 1);
    cr_assert_eq(age_ssh_find_stanza(h->stanzas, h->nstanzas, ec, ecl, &idx, NULL), M3_ENOMATCH);
    age_header_free(h);
    free(ed);
    free(rsa);
    free(ec);
    free(golden);
}

Test(age_ssh, round_trip_mixed_recipients)
{
    struct age_recipient *r[3];
    struct age_identity *ids[2];
    unsigned char *w;
    size_t len;
    struct mem enc, dec;

    pub_wire("ed25519.pub", &w, &len);
    cr_assert_eq(age_ssh_recipient_from_wire(&r[0], w, len, NULL), 0);
    free(w);
    pub_wire("rsa2048.pub", &w, &len);
    cr_assert_eq(age_ssh_recipient_from_wire(&r[1], w, len, NULL), 0);
    free(w);
    cr_assert_eq(age_x25519_identity_generate(&ids[0]), 0);
    cr_assert_eq(ids[0]->ops->recipient(ids[0]->state, &r[2]), 0);
    encrypt_buf(r, 3, "three kinds", &enc);
    ids[1] = identity("rsa2048", NULL);
    cr_assert_eq(decrypt_buf(ids[1], enc.p, enc.len, &dec, NULL), 0);
    cr_assert_eq(dec.len, 11);
    free(dec.p);
    age_identity_free(ids[1]);
    ids[1] = identity("ed25519", NULL);
    cr_assert_eq(decrypt_buf(ids[1], enc.p, enc.len, &dec, NULL), 0);
    cr_assert_eq(memcmp(dec.p, "three kinds", 11), 0);
    free(dec.p);
    free(enc.p);
    for (int i = 0; i < 3; i++)
        age_recipient_free(r[i]);
    age_identity_free(ids[0]);
    age_identity_free(ids[1]);
}

Test(age_ssh, recipient_encodes_as_authorized_keys_line)
{
    struct age_recipient *r;
    unsigned char *w;
    size_t len, n;
    char *s, *pub = slurp("ed25519.pub", &n);

    pub_wire("ed25519.pub", &w, &len);
    cr_assert_eq(age_ssh_recipient_from_wire(&r, w, len, NULL), 0);
    s = age_recipient_string(r);
    cr_assert_not_null(s);
    cr_assert_eq(strncmp(pub, s, strlen(s)), 0, "%s", s);
    free(s);
    free(w);
    free(pub);
    age_recipient_free(r);
}

Test(age_ssh, small_rsa_and_other_types_are_refused)
{
    struct age_recipient *r;
    struct m3_diag d = {0};
    unsigned char *w;
    size_t len;

    pub_wire("rsa1024.pub", &w, &len);
    cr_assert_eq(age_ssh_recipient_from_wire(&r, w, len, &d), M3_EUNSUPPORTED);
    cr_assert(strstr(d.msg, "1024 bits") != NULL, "%s", d.msg);
    free(w);
    pub_wire("ecdsa.pub", &w, &len);
    cr_assert_eq(age_ssh_recipient_from_wire(&r, w, len, &d), M3_EUNSUPPORTED);
    cr_assert(strstr(d.msg, "ecdsa-sha2-nistp256") != NULL, "%s", d.msg);
    free(w);
}

/* Each case edits golden.age's ssh-ed25519 or ssh-rsa stanza line into a malformed one. */
static const struct {
    const char *from, *to;
    int want;
} bad_stanzas[] = {
    {"-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA", "-> ssh-ed25519 NBjtEg",
     M3_EHEADER},
    {"-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA",
     "-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLB", M3_EHEADER},
    {"-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA",
     "-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBB", M3_EHEADER},
    {"-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA",
     "-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA x", M3_EHEADER},
    /* another key's tag: not for us, so the X25519 stanza is the only other chance */
    {"-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA",
     "-> ssh-ed25519 AAAAAA yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA", M3_ENOMATCH},
    /* right tag, share of a different point: the body does not open */
    {"-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLBA",
     "-> ssh-ed25519 NBjtEg yiNy2htwI1A2iVrfzGVCmVPjq3b1iJZ2D4QGm7inLEA", M3_EHEADER},
    {"-> ssh-rsa EkF/7g", "-> ssh-rsa EkF/7g extra", M3_EHEADER},
    {"-> ssh-rsa EkF/7g", "-> ssh-rsa", M3_EHEADER},
};

ParameterizedTestParameters(age_ssh, malformed_stanzas)
{
    static int idx[sizeof(bad_stanzas) / sizeof(bad_stanzas[0])];
    for (size_t i = 0; i < sizeof(idx) / sizeof(idx[0]); i++)
        idx[i] = (int)i;
    return cr_make_param_array(int, idx, sizeof(idx) / sizeof(idx[0]));
}

ParameterizedTest(int *i, age_ssh, malformed_stanzas)
{
    size_t glen;
    char *golden = slurp("golden.age", &glen), *hit, *edited;
    const char *key = strstr(bad_stanzas[*i].from, "ssh-rsa") ? "rsa2048" : "ed25519";
    struct age_identity *id = identity(key, NULL);
    struct m3_diag d = {0};
    struct mem out;
    size_t fl = strlen(bad_stanzas[*i].from), tl = strlen(bad_stanzas[*i].to);

    hit = strstr(golden, bad_stanzas[*i].from);
    cr_assert_not_null(hit);
    edited = malloc(glen + tl + 1);
    memcpy(edited, golden, (size_t)(hit - golden));
    memcpy(edited + (hit - golden), bad_stanzas[*i].to, tl);
    memcpy(edited + (hit - golden) + tl, hit + fl, glen - (size_t)(hit - golden) - fl);
    cr_assert_eq(decrypt_buf(id, edited, glen - fl + tl, &out, &d), bad_stanzas[*i].want,
                 "case %d: %s", *i, d.msg);
    free(out.p);
    free(edited);
    free(golden);
    age_identity_free(id);
}

Test(age_ssh, ed25519_conversion_agrees_with_the_scalar)
{
    unsigned char pk[32], sk[64], seed[32], x_pk[32], scalar[32], from_scalar[32];

    for (int i = 0; i < 32; i++) {
        randombytes_buf(seed, sizeof(seed));
        crypto_sign_seed_keypair(pk, sk, seed);
        cr_assert_eq(age_ssh_ed25519_to_x25519_public(pk, x_pk), 0);
        age_ssh_ed25519_to_x25519_scalar(seed, scalar);
        crypto_scalarmult_base(from_scalar, scalar);
        cr_assert_arr_eq(x_pk, from_scalar, 32);
    }
}
