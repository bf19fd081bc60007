/* tagid: a software identity for the tagged recipient types (p256tag, mlkem768p256tag), whose
 * real identities live in hardware, so that tests can prove a file encrypted to an age1tag1 or
 * age1tagpq1 recipient opens. It follows c2sp.org/age on its own (the tag is recomputed here
 * with libsodium's HMAC, not with libage's age_tag_compute) and uses libage's HPKE OpenBase.
 *   tagid recipient tag|tagpq SEEDHEX      the recipient of the key derived from SEED
 *   tagid decrypt tag|tagpq SEEDHEX        stdin (binary age file) decrypted to stdout
 * Exit 0 on success, 1 when no stanza is for the key or decryption fails, 2 on usage. */
#include "libage/hpke.h"
#include "libage/internal.h"
#include "libage/p256.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct tag_id {
    uint16_t kem;
    const char *type, *info;
    size_t enc_len;
    unsigned char sk[AGE_HPKE_SK_SIZE];
    unsigned char hash[4];
};

static int
hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* setup: the key derived from seed, its recipient string (malloc'd) and the tag hash. */
static int
setup(struct tag_id *t, const char *kind, const char *seedhex, char **rcpt)
{
    unsigned char seed[32], pk[AGE_HPKE_MAX_PK], comp[AGE_P256_COMPRESSED_SIZE];
    bool pq = strcmp(kind, "tagpq") == 0;
    size_t cap = 4096;

    if (!pq && strcmp(kind, "tag") != 0)
        return -1;
    if (strlen(seedhex) != 64)
        return -1;
    for (int i = 0; i < 32; i++) {
        int hi = hexval(seedhex[2 * i]), lo = hexval(seedhex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        seed[i] = (unsigned char)(hi << 4 | lo);
    }
    t->kem = pq ? AGE_HPKE_KEM_MLKEM768_P256 : AGE_HPKE_KEM_P256_SHA256;
    t->type = pq ? "mlkem768p256tag" : "p256tag";
    t->info = pq ? "age-encryption.org/mlkem768p256tag" : "age-encryption.org/p256tag";
    t->enc_len = pq ? 1153 : 65;
    if (age_hpke_derive_key_pair(t->kem, t->sk, seed, sizeof(seed)) != 0 ||
        age_hpke_public_key(t->kem, pk, t->sk) != 0 || (*rcpt = malloc(cap)) == NULL)
        return -1;
    if (pq) {
        /* tag hash: SHA-256 of the uncompressed P-256 point, after the ML-KEM key */
        crypto_hash_sha256(seed, pk + 1184, 65);
        memcpy(t->hash, seed, 4);
        return age_bech32_encode("age1tagpq", pk, 1249, false, *rcpt, cap);
    }
    comp[0] = (unsigned char)(2 | (pk[64] & 1));
    memcpy(comp + 1, pk + 1, 32);
    crypto_hash_sha256(seed, comp, sizeof(comp));
    memcpy(t->hash, seed, 4);
    return age_bech32_encode("age1tag", comp, sizeof(comp), false, *rcpt, cap);
}

static int
tag_unwrap(void *state, const struct age_stanza *s, size_t n, unsigned char *file_key,
           struct m3_diag *d)
{
    const struct tag_id *t = state;
    unsigned char enc[1153], tag[4], mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    size_t len;

    (void)d;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s[i].type, t->type) != 0)
            continue;
        if (s[i].nargs != 2 ||
            age_b64_decode(s[i].args[0], strlen(s[i].args[0]), tag, sizeof(tag), &len) != 0 ||
            len != 4 ||
            age_b64_decode(s[i].args[1], strlen(s[i].args[1]), enc, sizeof(enc), &len) != 0 ||
            len != t->enc_len || s[i].body_len != 32)
            return M3_EHEADER;
        crypto_auth_hmacsha256_init(&st, (const unsigned char *)t->info, strlen(t->info));
        crypto_auth_hmacsha256_update(&st, enc, len);
        crypto_auth_hmacsha256_update(&st, t->hash, 4);
        crypto_auth_hmacsha256_final(&st, mac);
        if (memcmp(mac, tag, 4) != 0)
            continue; /* another key's stanza */
        if (age_hpke_open_base(t->kem, t->sk, enc, (const unsigned char *)t->info, strlen(t->info),
                               NULL, 0, s[i].body, 32, file_key) == 0)
            return 0;
    }
    return M3_ENOMATCH;
}

static const struct age_identity_ops tag_id_ops = {
    .type = "tagid",
    .unwrap = tag_unwrap,
};

struct mem {
    unsigned char *p;
    size_t len, off;
};

static ssize_t
mem_read(void *ctx, void *buf, size_t len)
{
    struct mem *m = ctx;
    size_t n = m->len - m->off < len ? m->len - m->off : len;

    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (ssize_t)n;
}

static int
out_write(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    return fwrite(buf, 1, len, stdout) == len ? 0 : M3_EIO;
}

int
main(int argc, char **argv)
{
    static struct tag_id t;
    struct age_identity id = {&tag_id_ops, &t};
    struct age_identity *ids[1] = {&id};
    struct mem m = {0};
    struct m3_diag d;
    char *rcpt = NULL;
    size_t cap = 0;
    ssize_t r;

    if (argc != 4 || age_init() != 0 || setup(&t, argv[2], argv[3], &rcpt) != 0) {
        fprintf(stderr, "usage: tagid recipient|decrypt tag|tagpq SEEDHEX\n");
        free(rcpt);
        return 2;
    }
    if (strcmp(argv[1], "recipient") == 0) {
        printf("%s\n", rcpt);
        free(rcpt);
        return 0;
    }
    for (;;) {
        if (m.len == cap && (m.p = realloc(m.p, cap = cap ? 2 * cap : 65536)) == NULL)
            return 2;
        if ((r = read(0, m.p + m.len, cap - m.len)) <= 0)
            break;
        m.len += (size_t)r;
    }
    m3_diag_clear(&d);
    if (age_decrypt(ids, 1, mem_read, &m, out_write, NULL, 1, &d) != 0) {
        fprintf(stderr, "tagid: %s\n", d.msg[0] ? d.msg : "cannot decrypt");
        free(m.p);
        free(rcpt);
        return 1;
    }
    free(m.p);
    free(rcpt);
    return fflush(stdout) == 0 ? 0 : 1;
}
