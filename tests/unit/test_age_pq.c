/* The mlkem768x25519 recipient type (libage/mlkem768x25519.c) at library level: the spec's
 * own example identity and recipient, round trips through the identity and recipient
 * interfaces, malformed recipients, identities and stanzas, and the refusal to mix
 * post-quantum and classical recipients. The conformance vectors (test_age_testkit.c) cover
 * decryption of files made by the reference implementation. */
#include <criterion/criterion.h>
#include <sodium.h>

#include "libage/age.h"

TestSuite(pq, .init = (void (*)(void))age_init);

/* c2sp.org/age's example identity and recipient. */
static const char spec_recipient[] =
    "age1pq1x34nzsvr0rxjsgdn8zgyhfe8j7ceq5r9rdelkjuh3y235jzxshfg87pzf5zrqtzdxz95paef6"
    "caq5aapdmwjjqpjfdyxnzr2zampc3uxy0dg4z2n2gm9su72p0pc3u0jvev55l694v78snxg3yzvcl7yd"
    "a0eyytqj6a0ec477lnhcy5hzpz4zq3pxanve4cn62gqj3pjy5lqj9c6kyj4v2z8alktn8zh99970x79g"
    "jkv7522hv9kfz35zsnxhsx8wwtmu9cy3ftzjgwcp4sshn3llnylnpdsyz5jm72vefv4x5vfwytrefxg4"
    "wq3mv42wcrvkj742479zrxzpvp2p3e9fed9f0739vcu80r7ma28qfhnvlv4gfzel9q654dj3zmuvvz89"
    "3azhxdvs9fxd0r7jzchzcfcs5mkyyjxhw0n2z6dvp9yn9qfdp29h0azxqyjw6v7fhyuzj7zel0uq6j9r"
    "d7wgrpz7mf5dnj43jwsgvrc8qcnhy7tu6dkdujuxzkp9xj43xe8h92ktre2a3u3s8mm5mrp9nr9pwkgt"
    "z4mdlq9hgn4fps4k57ff6wddn2fy23t47sm20r8km8sd2pcyyafnet8f0dajsrlyjeah4n3mssr6asee"
    "vuuskdvq5lzguyvpgwpta742c6698vgutzqgny8usfg0w2he7kq5vyxjd0f9hqg8xk26y9e4th0gezq9"
    "2q4cpp5p2y9hf5f2cje5l0c3sa3a2qxmm38pxxvhxh99yzmfz0zk7r2s64nnwjhkfgfr3gf8xnmppcgm"
    "aykvh5sh6g7vk9790rf8ws0axmr2t7z8aae5fq2029uvcn2ghgt4fu4wgwdc0k0cz52qkvwmuzj8p8k5"
    "jgf3xzk5zmrkavjekjrpeq408xz3zxazwkc6tyfmhayrkfpjhwtz5mp8j8guqe43k2q6m2kte03vrw27"
    "y3wmqyu5etmt9dnkwcnnpmu9gz9dekfhdevf42ucshphnrk38ra6hx8w5f8q5ru0xdhrjxmwqf6cused"
    "7zc5xvq43r0zscjglpwlptpwydhqw64xz7ptjdyeyzpq2zkxtmzg29gzjpvzva4d3l0cenn9xs297wf4"
    "y4ukwrunf57xj6pm7nvrkwvtrt8hwcmgv8x7ajw7258ugf9wvkmk4052ekg87tw5vnx8nq2swyzv77v8"
    "yqlwsenvamr0zssknwts8rrhfuwj7ykysnq9jxy0uv3kuyt22djszjdtvpz6d0s0kwh8ryynddzud92e"
    "meyvvyqktd0jtj7rvvg5gch25v8smlvny3kvn5gagyz475ze2y6q466xqmz2n3hs77lddeqyta2nch5k"
    "2u5yacuk9ywnwfdzvyejnucz724hj77hrrmakm7pr3kxsrxq22ejexlud9fy2kdqmkg5yncz7jm5wv2q"
    "jk5w5kvcpqsry2yqffh2la52dxfjkjq5rzhjzeyn6dupn0qwtyv7s4lwg3xdarsdlwe2y3tujy480y7z"
    "39q259fzx6jhd2j0f5hagqpcpees7hzc2yrk5cy788uk3s7qvp5cpepx24gvws3m2g433exgwppnkjsc"
    "ec8qu4y9z9r7vccexjcjaen42245lmgmxmuavg9alej92322gvvyy2t6267v09ch64y0m53jff0vjj96"
    "s0ypk60hr3jw4myd6m5hpn3xjstx7tl2szhpr5qe8jj08ydjc4wy2rch2fhuy3pdfjax5awe9j99ly5h"
    "kntzz9fe5zatgjvzdd0kgtxs25njnajyf6ssekp7gelxquusn4pt25czh3scj68kq79wdn5tgm6yvm9n"
    "zavrg043x3msnygf8dweknw5jmqd0uvny6ttsn09508k0c55zfnegrm9efhxpfqdkmhh6gjtqmwze9py"
    "yzk3tlhl53k2ykx3qheyty7saeq0d3fzv49zc0k";

Test(pq, spec_example_identity)
{
    static const char sk[] =
        "AGE-SECRET-KEY-PQ-1XX76JRALNLXDMEW0CRK45QMCCH4X06SE84UN3VPM33W6HWDX0H3SK3ZQFR";
    struct age_identity *id;
    struct age_recipient *r;
    char *s, back[AGE_PQ_IDENTITY_LEN + 1];

    cr_assert_eq(age_pq_identity_parse(&id, sk, NULL), 0);
    cr_assert(age_identity_is_pq(id));
    cr_assert_eq(id->ops->recipient(id->state, &r), 0);
    cr_assert(age_recipient_is_pq(r));
    cr_assert_not_null(s = age_recipient_string(r));
    cr_assert_eq(strlen(s), AGE_PQ_RECIPIENT_LEN);
    cr_assert_str_eq(s, spec_recipient);
    cr_assert_eq(age_pq_identity_encode(id, back, sizeof(back)), 0);
    cr_assert_str_eq(back, sk);
    free(s);
    age_recipient_free(r);
    age_identity_free(id);
}

struct buf {
    unsigned char *p;
    size_t len, cap, pos;
};

static int
buf_write(void *ctx, const void *p, size_t len)
{
    struct buf *b = ctx;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        cr_assert_not_null(b->p = realloc(b->p, b->cap));
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
    return 0;
}

static ssize_t
buf_read(void *ctx, void *p, size_t len)
{
    struct buf *b = ctx;
    size_t n = b->len - b->pos < len ? b->len - b->pos : len;
    memcpy(p, b->p + b->pos, n);
    b->pos += n;
    return (ssize_t)n;
}

/* encrypt "hello" to rs, return the file */
static struct buf
encrypt_to(struct age_recipient *const *rs, size_t n, int *rc, struct m3_diag *d)
{
    struct buf in = {(unsigned char *)"hello", 5, 5, 0}, out = {0};
    *rc = age_encrypt(rs, n, NULL, buf_read, &in, buf_write, &out, d);
    return out;
}

static int
decrypt_with(struct age_identity *id, struct buf *f, struct m3_diag *d)
{
    struct buf out = {0};
    int rc;
    f->pos = 0;
    rc = age_decrypt(&id, 1, buf_read, f, buf_write, &out, 1, d);
    if (rc == 0)
        cr_assert(out.len == 5 && memcmp(out.p, "hello", 5) == 0);
    free(out.p);
    return rc;
}

Test(pq, round_trip_and_other_identity)
{
    struct age_identity *a, *b;
    struct age_recipient *ra;
    struct m3_diag d;
    struct buf f;
    int rc;

    cr_assert_eq(age_pq_identity_generate(&a), 0);
    cr_assert_eq(age_pq_identity_generate(&b), 0);
    cr_assert_eq(a->ops->recipient(a->state, &ra), 0);
    f = encrypt_to(&ra, 1, &rc, &d);
    cr_assert_eq(rc, 0, "%s", d.msg);
    cr_assert_eq(decrypt_with(a, &f, &d), 0, "%s", d.msg);
    cr_assert_eq(decrypt_with(b, &f, &d), M3_ENOMATCH);
    free(f.p);
    age_recipient_free(ra);
    age_identity_free(a);
    age_identity_free(b);
}

/* rewrite_stanza: the file with its mlkem768x25519 stanza's argument line replaced by
 * `args` and body line by `body` (both without newline). */
static struct buf
rewrite_stanza(const struct buf *f, const char *args, const char *body)
{
    struct buf out = {0};
    const unsigned char *p = f->p, *s = memmem(p, f->len, "-> mlkem768x25519 ", 18);
    const unsigned char *argend, *bodyend;

    cr_assert_not_null(s);
    argend = memchr(s, '\n', f->len - (size_t)(s - p));
    bodyend = memchr(argend + 1, '\n', f->len - (size_t)(argend + 1 - p));
    buf_write(&out, p, (size_t)(s - p));
    buf_write(&out, args, strlen(args));
    buf_write(&out, "\n", 1);
    buf_write(&out, body, strlen(body));
    buf_write(&out, bodyend, f->len - (size_t)(bodyend - p));
    return out;
}

Test(pq, malformed_stanzas_are_header_errors)
{
    struct age_identity *a;
    struct age_recipient *ra;
    struct m3_diag d;
    struct buf f, g;
    char *line, *body, *arg;
    const unsigned char *s, *e;
    int rc;

    cr_assert_eq(age_pq_identity_generate(&a), 0);
    cr_assert_eq(a->ops->recipient(a->state, &ra), 0);
    f = encrypt_to(&ra, 1, &rc, &d);
    cr_assert_eq(rc, 0);
    s = memmem(f.p, f.len, "-> mlkem768x25519 ", 18);
    e = memchr(s, '\n', f.len - (size_t)(s - f.p));
    line = strndup((const char *)s, (size_t)(e - s));
    arg = line + 18;
    body = strndup((const char *)e + 1, strcspn((const char *)e + 1, "\n"));

    /* two arguments */
    {
        char *l2 = NULL;
        cr_assert(asprintf(&l2, "%s extra", line) > 0);
        g = rewrite_stanza(&f, l2, body);
        cr_assert_eq(decrypt_with(a, &g, &d), M3_EHEADER);
        cr_assert(strstr(d.msg, "mlkem768x25519") != NULL, "%s", d.msg);
        free(g.p), free(l2);
    }
    /* enc one byte short: 1119 bytes (canonical base64 of the shorter value) */
    {
        unsigned char raw[1120];
        size_t n;
        char *l2 = NULL, *b64;
        cr_assert_eq(age_b64_decode(arg, strlen(arg), raw, sizeof(raw), &n), 0);
        cr_assert_eq(n, 1120);
        b64 = age_b64_encode(raw, 1119);
        cr_assert(asprintf(&l2, "-> mlkem768x25519 %s", b64) > 0);
        g = rewrite_stanza(&f, l2, body);
        cr_assert_eq(decrypt_with(a, &g, &d), M3_EHEADER);
        free(g.p), free(l2), free(b64);
    }
    /* body of 31 bytes: checked before decrypting */
    {
        unsigned char raw[32];
        size_t n;
        char *b64;
        cr_assert_eq(age_b64_decode(body, strlen(body), raw, sizeof(raw), &n), 0);
        b64 = age_b64_encode(raw, 31);
        g = rewrite_stanza(&f, line, b64);
        cr_assert_eq(decrypt_with(a, &g, &d), M3_EHEADER);
        cr_assert(strstr(d.msg, "body") != NULL, "%s", d.msg);
        free(g.p), free(b64);
    }
    /* upper-case type: another type, ignored: no match */
    {
        char *l2 = strdup(line);
        memcpy(l2 + 3, "MLKEM768X25519", 14);
        g = rewrite_stanza(&f, l2, body);
        cr_assert_eq(decrypt_with(a, &g, &d), M3_ENOMATCH);
        free(g.p), free(l2);
    }
    free(line), free(body), free(f.p);
    age_recipient_free(ra);
    age_identity_free(a);
}

Test(pq, malformed_recipients_and_identities)
{
    struct age_identity *a, *x;
    struct age_recipient *ra, *r;
    struct m3_diag d;
    unsigned char pk[AGE_PQ_PUBLIC_KEY_SIZE + 8];
    char hrp[16], *s, bad[AGE_PQ_RECIPIENT_LEN + 1];
    size_t n;

    cr_assert_eq(age_pq_identity_generate(&a), 0);
    cr_assert_eq(a->ops->recipient(a->state, &ra), 0);
    s = age_recipient_string(ra);
    cr_assert_eq(age_pq_recipient_parse(&r, s, &d), 0);
    age_recipient_free(r);
    cr_assert_eq(age_bech32_decode(s, hrp, sizeof(hrp), pk, sizeof(pk), &n), 0);
    /* a coefficient >= q: the ML-KEM modulus check */
    pk[0] = 0xff, pk[1] |= 0x0f;
    cr_assert_eq(age_bech32_encode("age1pq", pk, AGE_PQ_PUBLIC_KEY_SIZE, false, bad, sizeof(bad)),
                 0);
    cr_assert_eq(age_pq_recipient_parse(&r, bad, &d), M3_EINVAL);
    cr_assert(strstr(d.msg, "ML-KEM") != NULL, "%s", d.msg);
    /* an X25519 part of low order (zero) */
    cr_assert_eq(age_bech32_decode(s, hrp, sizeof(hrp), pk, sizeof(pk), &n), 0);
    memset(pk + 1184, 0, 32);
    cr_assert_eq(age_bech32_encode("age1pq", pk, AGE_PQ_PUBLIC_KEY_SIZE, false, bad, sizeof(bad)),
                 0);
    cr_assert_eq(age_pq_recipient_parse(&r, bad, &d), M3_EINVAL);
    cr_assert(strstr(d.msg, "low-order") != NULL, "%s", d.msg);
    /* the wrong length, and an X25519 recipient */
    cr_assert_eq(age_bech32_encode("age1pq", pk, 100, false, bad, sizeof(bad)), 0);
    cr_assert_eq(age_pq_recipient_parse(&r, bad, &d), M3_EINVAL);
    cr_assert_eq(age_pq_recipient_parse(
                     &r, "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj", &d),
                 M3_EINVAL);
    /* an X25519 secret key is not a PQ identity, nor the reverse */
    cr_assert_eq(
        age_pq_identity_parse(
            &x, "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX", &d),
        M3_EINVAL);
    cr_assert(strstr(d.msg, "GFPYY") == NULL, "the message echoes the key");
    free(s);
    age_recipient_free(ra);
    age_identity_free(a);
}

Test(pq, classical_and_pq_recipients_do_not_mix)
{
    struct age_identity *a, *xi;
    struct age_recipient *rs[2];
    struct m3_diag d;
    struct buf f;
    int rc;

    cr_assert_eq(age_pq_identity_generate(&a), 0);
    cr_assert_eq(age_x25519_identity_generate(&xi), 0);
    cr_assert_eq(a->ops->recipient(a->state, &rs[0]), 0);
    cr_assert_eq(xi->ops->recipient(xi->state, &rs[1]), 0);
    m3_diag_clear(&d);
    f = encrypt_to(rs, 2, &rc, &d);
    cr_assert_eq(rc, M3_EINVAL);
    cr_assert_eq(f.len, 0, "nothing written");
    cr_assert(strstr(d.msg, "classical: age1") != NULL, "%s", d.msg);
    /* two PQ recipients, or two classical ones, are fine */
    rs[1] = rs[0];
    f = encrypt_to(rs, 2, &rc, &d);
    cr_assert_eq(rc, 0);
    free(f.p);
    age_recipient_free(rs[0]);
    age_identity_free(a);
    age_identity_free(xi);
}
