/* test_keys_openssh.c: OpenSSH/PEM private keys and SSH public key lines: both decryption
 * paths agree (libssh and bcrypt_pbkdf here), wrong passphrases, corrupted and truncated
 * files, unsupported types, and the lazy unlock asking only when a stanza is for the key. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/keys.h"
#include "keys/openssh.h"
#include "libage/age.h"
#include "libage/ssh.h"

#define DATA "tests/data/keys/"
#define PASS "correct horse"

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

static int
parse(const char *name, struct keys_ssh_private **k, struct m3_diag *d)
{
    size_t n;
    char *text = slurp(name, &n);
    int rc = keys_ssh_private_parse(k, text, n, d);

    free(text);
    return rc;
}

static void
same_wire(struct age_identity *a, struct age_identity *b)
{
    const unsigned char *wa, *wb;
    size_t la, lb;

    cr_assert_eq(age_identity_ssh_wire(a, &wa, &la), 0);
    cr_assert_eq(age_identity_ssh_wire(b, &wb, &lb), 0);
    cr_assert_eq(la, lb);
    cr_assert_arr_eq(wa, wb, la);
}

TestSuite(keys_openssh, .init = (void (*)(void))age_init);

/* The passphrase-protected copies are the plain keys re-encrypted by ssh-keygen -p: the same
 * identity must come out of every path. This pins bcrypt_pbkdf to OpenSSH's. */
Test(keys_openssh, protected_keys_open_to_their_plain_twins)
{
    const char *pairs[][2] = {{"ed25519", "ed25519_pw"},    {"ed25519", "ed25519_gcm"},
                              {"rsa2048", "rsa2048_pw"},    {"rsa2048", "rsa2048_pkcs1"},
                              {"rsa2048", "rsa2048_pkcs8"}, {"rsa2048", "rsa2048_pkcs8_pw"}};

    for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
        struct keys_ssh_private *plain, *prot;
        struct age_identity *a, *b, *c;
        struct m3_diag d = {0};
        cr_assert_eq(parse(pairs[i][0], &plain, &d), 0, "%s", d.msg);
        cr_assert_eq(parse(pairs[i][1], &prot, &d), 0, "%s: %s", pairs[i][1], d.msg);
        cr_assert_eq(keys_ssh_private_identity(plain, NULL, &a, &d), 0, "%s", d.msg);
        cr_assert_eq(keys_ssh_private_identity(prot, PASS, &b, &d), 0, "%s: %s", pairs[i][1],
                     d.msg);
        same_wire(a, b);
        if (strstr(pairs[i][1], "pkcs") == NULL) {
            cr_assert_eq(keys_ssh_private_identity_native(prot, PASS, &c, &d), 0, "%s", d.msg);
            same_wire(a, c);
            age_identity_free(c);
        }
        age_identity_free(a);
        age_identity_free(b);
        keys_ssh_private_free(plain);
        keys_ssh_private_free(prot);
    }
}

Test(keys_openssh, ed25519_seed_is_the_same_through_libssh_and_natively)
{
    struct keys_ssh_private *plain, *prot;
    unsigned char s1[32], s2[32], p1[32], p2[32];

    cr_assert_eq(parse("ed25519", &plain, NULL), 0);
    cr_assert_eq(parse("ed25519_pw", &prot, NULL), 0);
    cr_assert_eq(keys_ssh_private_ed25519_seed(plain, NULL, s1, p1, NULL), 0);
    cr_assert_eq(keys_ssh_private_ed25519_seed(prot, PASS, s2, p2, NULL), 0);
    cr_assert_arr_eq(s1, s2, 32);
    cr_assert_arr_eq(p1, p2, 32);
    keys_ssh_private_free(plain);
    keys_ssh_private_free(prot);
}

Test(keys_openssh, public_key_is_known_before_unlocking)
{
    struct keys_ssh_private *k;
    const unsigned char *wire;
    size_t len, n;
    unsigned char *pw;
    size_t pl;
    char *pub = slurp("rsa2048.pub", &n);

    cr_assert_eq(parse("rsa2048_pw", &k, NULL), 0);
    cr_assert(keys_ssh_private_encrypted(k));
    cr_assert_str_eq(keys_ssh_private_type(k), "ssh-rsa");
    cr_assert_eq(keys_ssh_private_wire(k, &wire, &len), 0);
    cr_assert_eq(keys_ssh_public_parse(pub, &pw, &pl, NULL), 0);
    cr_assert_eq(len, pl);
    cr_assert_arr_eq(wire, pw, pl);
    free(pw);
    free(pub);
    keys_ssh_private_free(k);
    cr_assert_eq(parse("rsa2048_pkcs8_pw", &k, NULL), 0);
    cr_assert_eq(keys_ssh_private_wire(k, &wire, &len), M3_ENOTFOUND);
    keys_ssh_private_free(k);
}

Test(keys_openssh, wrong_or_missing_passphrase)
{
    const char *names[] = {"ed25519_pw", "ed25519_gcm", "rsa2048_pw", "rsa2048_pkcs8_pw"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        struct keys_ssh_private *k;
        struct age_identity *id;
        struct m3_diag d = {0};
        cr_assert_eq(parse(names[i], &k, NULL), 0);
        cr_assert_eq(keys_ssh_private_identity(k, "wrong horse", &id, &d), M3_EPASSPHRASE, "%s: %s",
                     names[i], d.msg);
        cr_assert_null(id);
        cr_assert_eq(keys_ssh_private_identity(k, NULL, &id, &d), M3_EPASSPHRASE);
        keys_ssh_private_free(k);
    }
}

/* Truncations and single-byte corruptions of a plain key are errors, never a wrong key. */
Test(keys_openssh, corrupted_and_truncated_keys)
{
    const char *names[] = {"ed25519", "rsa2048", "rsa2048_pkcs8"};

    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t n;
        char *text = slurp(names[i], &n);
        struct keys_ssh_private *gk;
        struct age_identity *good;
        cr_assert_eq(keys_ssh_private_parse(&gk, text, n, NULL), 0);
        cr_assert_eq(keys_ssh_private_identity(gk, NULL, &good, NULL), 0);
        keys_ssh_private_free(gk);
        for (size_t cut = 0; cut < n - 40; cut += 37) {
            struct keys_ssh_private *k = NULL;
            struct age_identity *id = NULL;
            struct m3_diag d = {0};
            int rc = keys_ssh_private_parse(&k, text, cut, &d);
            if (rc == 0)
                rc = keys_ssh_private_identity(k, NULL, &id, &d);
            cr_assert_eq(rc, M3_EINVAL, "%s cut at %zu: rc %d %s", names[i], cut, rc, d.msg);
            keys_ssh_private_free(k);
        }
        /* Flip one base64 character in the middle of the private part. */
        for (size_t at = n / 2; at < n / 2 + 200; at += 13) {
            struct keys_ssh_private *k = NULL;
            struct age_identity *id = NULL;
            struct m3_diag d = {0};
            char *bad = strdup(text);
            int rc;
            if (bad[at] == '\n' || bad[at] == '-')
                continue;
            bad[at] = bad[at] == 'A' ? 'B' : 'A';
            rc = keys_ssh_private_parse(&k, bad, n, &d);
            if (rc == 0)
                rc = keys_ssh_private_identity(k, NULL, &id, &d);
            /* A flip in the comment is harmless; anything else must be caught. */
            if (rc == 0)
                same_wire(id, good);
            else
                cr_assert_eq(rc, M3_EINVAL, "%s flipped at %zu: rc %d", names[i], at, rc);
            age_identity_free(id);
            keys_ssh_private_free(k);
            free(bad);
        }
        age_identity_free(good);
        free(text);
    }
}

Test(keys_openssh, public_key_where_private_expected)
{
    struct keys_ssh_private *k;
    struct m3_diag d = {0};

    cr_assert_eq(parse("ed25519.pub", &k, &d), M3_EINVAL);
}

Test(keys_openssh, public_lines)
{
    size_t n;
    char *pub = slurp("ed25519.pub", &n), line[600];
    unsigned char *w1, *w2;
    size_t l1, l2;
    struct m3_diag d = {0};

    cr_assert_eq(keys_ssh_public_parse(pub, &w1, &l1, NULL), 0);
    cr_assert_eq(l1, AGE_SSH_ED25519_WIRE_LEN);
    snprintf(line, sizeof(line), "no-pty,command=\"echo a b\",from=\"10.0.0.1\" %s", pub);
    cr_assert_eq(keys_ssh_public_parse(line, &w2, &l2, NULL), 0);
    cr_assert_arr_eq(w1, w2, l1);
    free(w2);
    /* A type word that does not match the key inside is a corrupted line. */
    snprintf(line, sizeof(line), "ssh-rsa %s", strchr(pub, ' ') + 1);
    cr_assert_eq(keys_ssh_public_parse(line, &w2, &l2, &d), M3_EINVAL);
    cr_assert_eq(keys_ssh_public_parse("ssh-ed25519", &w2, &l2, &d), M3_EINVAL);
    cr_assert_eq(keys_ssh_public_parse("ssh-ed25519 AAAA@@@", &w2, &l2, &d), M3_EINVAL);
    cr_assert_eq(keys_ssh_public_parse("hello world", &w2, &l2, &d), M3_ENOMATCH);
    cr_assert_not_null(keys_ssh_type_unsupported("ecdsa-sha2-nistp384"));
    cr_assert_not_null(keys_ssh_type_unsupported("sk-ssh-ed25519@openssh.com"));
    cr_assert_not_null(keys_ssh_type_unsupported("ssh-dss"));
    cr_assert_null(keys_ssh_type_unsupported("ssh-ed25519"));
    free(w1);
    free(pub);
}

struct asked {
    int count;
    bool vary; /* a different answer each time */
    const char *answer;
    char last_prompt[256];
};

static int
ask(void *ctx, const char *prompt, char *buf, size_t cap)
{
    struct asked *a = ctx;

    a->count++;
    snprintf(a->last_prompt, sizeof(a->last_prompt), "%s", prompt);
    if (a->vary)
        snprintf(buf, cap, "%s%d", a->answer, a->count);
    else
        snprintf(buf, cap, "%s", a->answer);
    return 0;
}

static unsigned char hdr_buf[4096];
static size_t hdr_len;

int wr(void *c, const void *b, size_t l);
int
wr(void *c, const void *b, size_t l)
{
    (void)c;
    memcpy(hdr_buf + hdr_len, b, l);
    hdr_len += l;
    return 0;
}

static struct age_header *
make_header(const char *pubname)
{
    struct age_recipient *r;
    struct age_encryptor *e;
    struct age_header *h;
    unsigned char *w;
    size_t wl, n;
    char *pub = slurp(pubname, &n);

    hdr_len = 0;
    cr_assert_eq(keys_ssh_public_parse(pub, &w, &wl, NULL), 0);
    cr_assert_eq(age_ssh_recipient_from_wire(&r, w, wl, NULL), 0);
    cr_assert_eq(age_encryptor_new(&e, &r, 1, &(struct age_encrypt_opts){0}, wr, NULL, NULL), 0);
    age_encryptor_free(e);
    cr_assert_eq(age_header_parse(&h, hdr_buf, hdr_len, NULL, NULL), 0);
    age_recipient_free(r);
    free(w);
    free(pub);
    return h;
}

Test(keys_openssh, lazy_unlock_asks_only_for_matching_files_and_once)
{
    struct asked a = {0, false, PASS, ""};
    struct age_identity *id;
    struct age_header *mine = make_header("ed25519.pub"), *other = make_header("rsa2048.pub");
    unsigned char fk[16];
    struct m3_diag d = {0};
    size_t n;
    char *text = slurp("ed25519_pw", &n);

    cr_assert_eq(keys_ssh_identity_parse(&id, text, n, "~/.ssh/id_ed25519", ask, &a, &d), 0);
    cr_assert(keys_identity_is_locked(id));
    cr_assert_eq(id->ops->unwrap(id->state, other->stanzas, other->nstanzas, fk, &d), M3_ENOMATCH);
    cr_assert_eq(a.count, 0, "asked for a file that is not for this key");
    cr_assert_eq(id->ops->unwrap(id->state, mine->stanzas, mine->nstanzas, fk, &d), 0, "%s", d.msg);
    cr_assert_eq(a.count, 1);
    cr_assert_str_eq(a.last_prompt, "~/.ssh/id_ed25519");
    cr_assert_not(keys_identity_is_locked(id));
    cr_assert_eq(id->ops->unwrap(id->state, mine->stanzas, mine->nstanzas, fk, &d), 0);
    cr_assert_eq(a.count, 1, "asked twice in one run");
    age_identity_free(id);
    age_header_free(mine);
    age_header_free(other);
    free(text);
}

Test(keys_openssh, lazy_unlock_gives_up_after_three_wrong_answers)
{
    struct asked a = {0, true, "wrong", ""};
    struct age_identity *id;
    struct age_header *mine = make_header("rsa2048.pub");
    unsigned char fk[16];
    struct m3_diag d = {0};
    size_t n;
    char *text = slurp("rsa2048_pw", &n);

    cr_assert_eq(keys_ssh_identity_parse(&id, text, n, "host_key", ask, &a, &d), 0);
    cr_assert_eq(id->ops->unwrap(id->state, mine->stanzas, mine->nstanzas, fk, &d), M3_EPASSPHRASE);
    cr_assert_eq(a.count, KEYS_PASSPHRASE_TRIES);
    cr_assert_str_eq(d.msg, "host_key: incorrect passphrase");
    /* The failure is remembered: no more questions in this run. */
    cr_assert_eq(id->ops->unwrap(id->state, mine->stanzas, mine->nstanzas, fk, &d), M3_EPASSPHRASE);
    cr_assert_eq(a.count, KEYS_PASSPHRASE_TRIES);
    age_identity_free(id);
    age_header_free(mine);
    free(text);
}

Test(keys_openssh, unsupported_private_key_types)
{
    struct keys_ssh_private *k;
    struct m3_diag d = {0};

    cr_assert_eq(parse("ecdsa", &k, &d), M3_EUNSUPPORTED);
    cr_assert(strstr(d.msg, "ecdsa-sha2-nistp256") != NULL, "%s", d.msg);
}

Test(keys_openssh, the_same_wrong_answer_is_not_tried_again)
{
    struct asked a = {0, false, "from the environment", ""};
    struct age_identity *id;
    struct age_header *mine = make_header("ed25519.pub");
    unsigned char fk[16];
    struct m3_diag d = {0};
    size_t n;
    char *text = slurp("ed25519_pw", &n);

    cr_assert_eq(keys_ssh_identity_parse(&id, text, n, "id", ask, &a, &d), 0);
    cr_assert_eq(id->ops->unwrap(id->state, mine->stanzas, mine->nstanzas, fk, &d), M3_EPASSPHRASE);
    cr_assert_eq(a.count, 2);
    age_identity_free(id);
    age_header_free(mine);
    free(text);
}

/* Known answers for the fixture key, computed independently of m3age (the field formula
 * u = (1 + y) / (1 - y) and SHA-512 of the seed, bech32 by hand) and checked with age-keygen. */
Test(keys_openssh, convert_known_answers)
{
    size_t n;
    char *pub = slurp("ed25519.pub", &n), out[AGE_X25519_IDENTITY_LEN + 1];
    char *priv;

    cr_assert_eq(keys_convert_public(pub, out, sizeof(out), NULL), 0);
    cr_assert_str_eq(out, "age1ey9f2p9ugfawnsrqvmezrfu3utnv2tpqn9pg2yv5peg26tfcxvaqa879s2");
    free(pub);
    priv = slurp("ed25519", &n);
    cr_assert_eq(keys_convert_private(priv, n, "ed25519", NULL, NULL, out, sizeof(out), NULL), 0);
    cr_assert_str_eq(out,
                     "AGE-SECRET-KEY-1J4VCH3228UCQ627Q0TNW29QS5CTNXG4MPPQP6U3TFKGFY23WSCGQSJTRGV");
    free(priv);
    priv = slurp("ed25519_pw", &n);
    struct asked a = {0, false, PASS, ""};
    cr_assert_eq(keys_convert_private(priv, n, "ed25519_pw", ask, &a, out, sizeof(out), NULL), 0);
    cr_assert_str_eq(out,
                     "AGE-SECRET-KEY-1J4VCH3228UCQ627Q0TNW29QS5CTNXG4MPPQP6U3TFKGFY23WSCGQSJTRGV");
    cr_assert_eq(a.count, 1);
    free(priv);
    pub = slurp("rsa2048.pub", &n);
    cr_assert_eq(keys_convert_public(pub, out, sizeof(out), NULL), M3_EUNSUPPORTED);
    free(pub);
}
