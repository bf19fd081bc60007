/* bcrypt_pbkdf.c: the key derivation OpenSSH uses for passphrase-protected openssh-key-v1
 * files (OpenBSD bcrypt_pbkdf(3): PBKDF2-like rounds over a Blowfish-based "bcrypt_hash").
 *
 * No library on the target systems exports it (libssh keeps its copy private, OpenSSL has no
 * EksBlowfish), so it is written here from the specification. Blowfish's initial state is the
 * fractional part of pi in hexadecimal; rather than carry a 4 KiB table, it is computed once
 * with OpenSSL's bignums (Machin's formula) and checked against the published first words.
 * Correctness is pinned by known-answer tests against keys made by ssh-keygen. */
#include "keys/openssh.h"
#include "libage/cryptolib.h" /* OpenSSL, opened on first use */

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <string.h>

#define BF_WORDS (18 + 4 * 256)
#define BCRYPT_WORDS 8
#define BCRYPT_HASHSIZE (BCRYPT_WORDS * 4)

struct blowfish {
    uint32_t p[18];
    uint32_t s[4][256];
};

static uint32_t pi_words[BF_WORDS];
static int pi_ok;
static pthread_once_t pi_once = PTHREAD_ONCE_INIT;

/* atan_inv_add: sum += sign * atan(1/x) * 2^bits, by the alternating Taylor series. */
static int
atan_inv_add(BIGNUM *sum, unsigned long x, int mult, int bits, BN_CTX *ctx)
{
    BIGNUM *term = BN_new(), *t = BN_new(), *acc = BN_new();
    BN_ULONG x2 = (BN_ULONG)x * x;
    int ok = 0;

    if (term == NULL || t == NULL || acc == NULL || !BN_set_word(term, 1) ||
        !BN_lshift(term, term, bits) || BN_div_word(term, x) == (BN_ULONG)-1 || !BN_copy(acc, term))
        goto out;
    for (unsigned long k = 1; !BN_is_zero(term); k++) {
        if (BN_div_word(term, x2) == (BN_ULONG)-1 || !BN_copy(t, term) ||
            BN_div_word(t, 2 * k + 1) == (BN_ULONG)-1)
            goto out;
        if (!(k & 1 ? BN_sub(acc, acc, t) : BN_add(acc, acc, t)))
            goto out;
    }
    if (!BN_mul_word(acc, (BN_ULONG)mult) || !BN_add(sum, sum, acc))
        goto out;
    ok = 1;
out:
    (void)ctx;
    BN_free(term);
    BN_free(t);
    BN_free(acc);
    return ok;
}

static void
compute_pi(void)
{
    /* 1042 words of fraction, plus guard bits for the truncation of ~15000 series terms. */
    const int frac_bits = BF_WORDS * 32, guard = 64, bits = frac_bits + guard;
    unsigned char buf[BF_WORDS * 4];
    BN_CTX *ctx = NULL;
    BIGNUM *pi = NULL, *three = NULL;

    if (m3_crypto_load(NULL) != 0) /* keys_bcrypt_pbkdf reports it */
        return;
    ctx = BN_CTX_new();
    pi = BN_new();
    three = BN_new();
    if (ctx == NULL || pi == NULL || three == NULL)
        goto out;
    /* pi = 16 atan(1/5) - 4 atan(1/239); the subtraction is done by adding the negation. */
    if (!atan_inv_add(pi, 5, 16, bits, ctx))
        goto out;
    BN_set_negative(pi, 1);
    if (!atan_inv_add(pi, 239, 4, bits, ctx))
        goto out;
    BN_set_negative(pi, 0);
    if (!BN_set_word(three, 3) || !BN_lshift(three, three, bits) || !BN_sub(pi, pi, three) ||
        !BN_rshift(pi, pi, guard) || BN_bn2binpad(pi, buf, sizeof(buf)) != (int)sizeof(buf))
        goto out;
    for (size_t i = 0; i < BF_WORDS; i++)
        pi_words[i] = (uint32_t)buf[4 * i] << 24 | (uint32_t)buf[4 * i + 1] << 16 |
                      (uint32_t)buf[4 * i + 2] << 8 | buf[4 * i + 3];
    /* The published Blowfish constants: first P entries, first and last S-box entries. */
    pi_ok = pi_words[0] == 0x243F6A88u && pi_words[1] == 0x85A308D3u &&
            pi_words[18] == 0xD1310BA6u && pi_words[BF_WORDS - 1] == 0x3AC372E6u;
out:
    BN_free(pi);
    BN_free(three);
    BN_CTX_free(ctx);
}

static uint32_t
bf_f(const struct blowfish *c, uint32_t x)
{
    return ((c->s[0][x >> 24] + c->s[1][(x >> 16) & 0xff]) ^ c->s[2][(x >> 8) & 0xff]) +
           c->s[3][x & 0xff];
}

static void
bf_encipher(const struct blowfish *c, uint32_t *xl, uint32_t *xr)
{
    uint32_t l = *xl ^ c->p[0], r = *xr;

    for (int i = 1; i <= 16; i += 2) {
        r ^= bf_f(c, l) ^ c->p[i];
        l ^= bf_f(c, r) ^ c->p[i + 1];
    }
    *xl = r ^ c->p[17];
    *xr = l;
}

/* stream_word: the next big-endian 32-bit word of data, wrapping around at its end. */
static uint32_t
stream_word(const unsigned char *data, size_t len, size_t *j)
{
    uint32_t w = 0;

    for (int i = 0; i < 4; i++) {
        w = w << 8 | data[*j];
        *j = (*j + 1) % len;
    }
    return w;
}

/* expand: the EksBlowfish key schedule step. With data == NULL it is Blowfish's own key
 * schedule on the current state ("expand0state"); with data, the salt is mixed in too. */
static void
bf_expand(struct blowfish *c, const unsigned char *data, size_t dlen, const unsigned char *key,
          size_t klen)
{
    uint32_t l = 0, r = 0, *all = &c->s[0][0];
    size_t j = 0, dj = 0;

    for (int i = 0; i < 18; i++)
        c->p[i] ^= stream_word(key, klen, &j);
    for (int i = 0; i < 18; i += 2) {
        if (data != NULL) {
            l ^= stream_word(data, dlen, &dj);
            r ^= stream_word(data, dlen, &dj);
        }
        bf_encipher(c, &l, &r);
        c->p[i] = l;
        c->p[i + 1] = r;
    }
    for (int i = 0; i < 4 * 256; i += 2) {
        if (data != NULL) {
            l ^= stream_word(data, dlen, &dj);
            r ^= stream_word(data, dlen, &dj);
        }
        bf_encipher(c, &l, &r);
        all[i] = l;
        all[i + 1] = r;
    }
}

static void
bcrypt_hash(struct blowfish *c, const unsigned char *sha2pass, const unsigned char *sha2salt,
            unsigned char out[BCRYPT_HASHSIZE])
{
    static const char magic[] = "OxychromaticBlowfishSwatDynamite";
    uint32_t cdata[BCRYPT_WORDS];
    size_t j = 0;

    memcpy(c->p, pi_words, sizeof(c->p));
    memcpy(c->s, pi_words + 18, sizeof(c->s));
    bf_expand(c, sha2salt, 64, sha2pass, 64);
    for (int i = 0; i < 64; i++) {
        bf_expand(c, NULL, 0, sha2salt, 64);
        bf_expand(c, NULL, 0, sha2pass, 64);
    }
    for (int i = 0; i < BCRYPT_WORDS; i++)
        cdata[i] = stream_word((const unsigned char *)magic, BCRYPT_HASHSIZE, &j);
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < BCRYPT_WORDS; k += 2)
            bf_encipher(c, &cdata[k], &cdata[k + 1]);
    /* bcrypt_pbkdf stores the words little-endian (unlike Blowfish itself). */
    for (int i = 0; i < BCRYPT_WORDS; i++) {
        out[4 * i] = (unsigned char)cdata[i];
        out[4 * i + 1] = (unsigned char)(cdata[i] >> 8);
        out[4 * i + 2] = (unsigned char)(cdata[i] >> 16);
        out[4 * i + 3] = (unsigned char)(cdata[i] >> 24);
    }
    sodium_memzero(cdata, sizeof(cdata));
}

int
keys_bcrypt_pbkdf(const char *pass, size_t pass_len, const unsigned char *salt, size_t salt_len,
                  unsigned rounds, unsigned char *key, size_t key_len)
{
    struct blowfish *c = NULL;
    unsigned char *sha2pass = NULL, *sha2salt, *tmp, *out, *countsalt = NULL;
    size_t stride, amt, orig = key_len;
    int rc = M3_ENOMEM;

    pthread_once(&pi_once, compute_pi);
    if (!pi_ok)
        return m3_crypto_load(NULL) != 0 ? M3_EUNSUPPORTED : M3_ENOMEM;
    if (rounds < 1 || key_len == 0 || key_len > BCRYPT_HASHSIZE * BCRYPT_HASHSIZE ||
        salt_len == 0 || salt_len > (1u << 20))
        return M3_EINVAL;
    /* Everything derived from the passphrase lives in one block of secret memory. */
    if ((c = age_secret_alloc(sizeof(*c))) == NULL ||
        (sha2pass = age_secret_alloc(3 * 64 + 2 * BCRYPT_HASHSIZE)) == NULL ||
        (countsalt = age_secret_alloc(salt_len + 4)) == NULL)
        goto out;
    sha2salt = sha2pass + 64;
    tmp = sha2salt + 64;
    out = tmp + BCRYPT_HASHSIZE;
    stride = (key_len + BCRYPT_HASHSIZE - 1) / BCRYPT_HASHSIZE;
    amt = (key_len + stride - 1) / stride;
    memcpy(countsalt, salt, salt_len);
    crypto_hash_sha512(sha2pass, (const unsigned char *)pass, pass_len);
    for (uint32_t count = 1; key_len > 0; count++) {
        size_t i;

        countsalt[salt_len] = (unsigned char)(count >> 24);
        countsalt[salt_len + 1] = (unsigned char)(count >> 16);
        countsalt[salt_len + 2] = (unsigned char)(count >> 8);
        countsalt[salt_len + 3] = (unsigned char)count;
        crypto_hash_sha512(sha2salt, countsalt, salt_len + 4);
        bcrypt_hash(c, sha2pass, sha2salt, tmp);
        memcpy(out, tmp, BCRYPT_HASHSIZE);
        for (unsigned r = 1; r < rounds; r++) {
            crypto_hash_sha512(sha2salt, tmp, BCRYPT_HASHSIZE);
            bcrypt_hash(c, sha2pass, sha2salt, tmp);
            for (size_t k = 0; k < BCRYPT_HASHSIZE; k++)
                out[k] ^= tmp[k];
        }
        /* Output bytes are spread with a stride so every block of rounds feeds all of the
         * key (the spec's defence against computing only part of it). */
        if (amt > key_len)
            amt = key_len;
        for (i = 0; i < amt; i++) {
            size_t dest = i * stride + (count - 1);
            if (dest >= orig)
                break;
            key[dest] = out[i];
        }
        key_len -= i;
    }
    rc = 0;
out:
    age_secret_free(c);
    age_secret_free(sha2pass);
    age_secret_free(countsalt);
    return rc;
}
