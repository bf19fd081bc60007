/* util.c: library initialisation, secret memory, base64, HKDF and the wrap-key AEAD. */
#include "libage/internal.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static int init_result = M3_ENOMEM;
static EVP_KDF *hkdf_kdf;

static void
do_init(void)
{
    if (sodium_init() < 0)
        return;
    hkdf_kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
    if (hkdf_kdf == NULL)
        return;
    init_result = 0;
}

int
age_init(void)
{
    pthread_once(&init_once, do_init);
    return init_result;
}

void *
age_secret_alloc(size_t n)
{
    void *p;

    if (age_init() != 0)
        return NULL;
    p = sodium_malloc(n == 0 ? 1 : n);
    if (p != NULL)
        sodium_memzero(p, n == 0 ? 1 : n);
    return p;
}

void
age_secret_free(void *p)
{
    /* sodium_free wipes the whole region before unmapping it. */
    if (p != NULL)
        sodium_free(p);
}

char *
age_secret_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = age_secret_alloc(n);

    if (p != NULL)
        memcpy(p, s, n);
    return p;
}

char *
age_b64_encode(const unsigned char *in, size_t len)
{
    size_t cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    char *out = malloc(cap);

    if (out == NULL)
        return NULL;
    sodium_bin2base64(out, cap, in, len, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    return out;
}

int
age_b64_decode(const char *in, size_t in_len, unsigned char *out, size_t cap, size_t *len)
{
    const char *end = NULL;
    size_t n = 0;

    for (size_t i = 0; i < in_len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '+' || c == '/'))
            return M3_EINVAL;
    }
    /* libsodium's no-padding variant rejects '=' and non-zero trailing bits, which is
     * exactly the spec's "canonical base64" rule; stray characters stop it early, which
     * the end pointer reveals. */
    if (sodium_base642bin(out, cap, in, in_len, NULL, &n, &end,
                          sodium_base64_VARIANT_ORIGINAL_NO_PADDING) != 0)
        return M3_EINVAL;
    if (end != in + in_len)
        return M3_EINVAL;
    if (len != NULL)
        *len = n;
    return 0;
}

int
age_b64_arg_decode(const char *arg, unsigned char *out, size_t want, const char *what,
                   struct m3_diag *d)
{
    size_t n = 0;

    if (age_b64_decode(arg, strlen(arg), out, want, &n) != 0 || n != want)
        return m3_diag_set(d, M3_EHEADER, "%s is not canonical base64 of %zu bytes", what, want);
    return 0;
}

int
age_hkdf(const unsigned char *ikm, size_t ikm_len, const unsigned char *salt, size_t salt_len,
         const char *info, unsigned char *out, size_t out_len)
{
    EVP_KDF_CTX *kctx;
    OSSL_PARAM params[5], *p = params;
    static const unsigned char empty[1];
    int rc = M3_ENOMEM;

    if (age_init() != 0)
        return M3_ENOMEM;
    kctx = EVP_KDF_CTX_new(hkdf_kdf);
    if (kctx == NULL)
        return M3_ENOMEM;
    *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)(ikm_len ? ikm : empty),
                                             ikm_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)(salt_len ? salt : empty),
                                             salt_len);
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
    *p = OSSL_PARAM_construct_end();
    if (EVP_KDF_derive(kctx, out, out_len, params) == 1)
        rc = 0;
    EVP_KDF_CTX_free(kctx);
    return rc;
}

void
age_wrap_seal(const unsigned char *wrap_key, const unsigned char *file_key, unsigned char *body)
{
    static const unsigned char zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    crypto_aead_chacha20poly1305_ietf_encrypt(body, NULL, file_key, AGE_FILE_KEY_SIZE, NULL, 0,
                                              NULL, zero_nonce, wrap_key);
}

int
age_wrap_open(const unsigned char *wrap_key, const unsigned char *body, size_t body_len,
              unsigned char *file_key)
{
    static const unsigned char zero_nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];

    if (body_len != AGE_WRAPPED_SIZE)
        return M3_EHEADER;
    if (crypto_aead_chacha20poly1305_ietf_decrypt(file_key, NULL, NULL, body, body_len, NULL, 0,
                                                  zero_nonce, wrap_key) != 0)
        return M3_ENOMATCH;
    return 0;
}

int
age_stanza_arg_ok(const char *s)
{
    if (*s == '\0')
        return 0;
    for (; *s; s++)
        if ((unsigned char)*s < 33 || (unsigned char)*s > 126)
            return 0;
    return 1;
}
