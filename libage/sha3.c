/* sha3.c: SHA-3 and SHAKE through libcrypto (see sha3.h). */
#include "libage/sha3.h"

#include <openssl/evp.h>
#include <pthread.h>

#include "libage/cryptolib.h"

static const char *const alg_names[] = {"SHA3-256", "SHA3-512", "SHAKE128", "SHAKE256"};
/* Fetched once: an implicit fetch at every EVP_DigestInit costs a lock and a lookup in the
 * provider's method store, and ML-KEM hashes some thirty times per operation. */
static EVP_MD *mds[4];
static int fetch_rc = M3_EUNSUPPORTED;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void
fetch(void)
{
    if (m3_crypto_load(NULL) != 0)
        return;
    for (size_t i = 0; i < 4; i++)
        if ((mds[i] = EVP_MD_fetch(NULL, alg_names[i], NULL)) == NULL)
            return;
    fetch_rc = 0;
}

int
age_sha3(enum age_sha3_alg alg, const struct age_bytes *in, size_t n, unsigned char *out,
         size_t out_len)
{
    EVP_MD_CTX *ctx;
    int ok;

    pthread_once(&fetch_once, fetch);
    if (fetch_rc != 0)
        return fetch_rc;
    if ((unsigned)alg > AGE_SHAKE256)
        return M3_EINVAL;
    if ((ctx = EVP_MD_CTX_new()) == NULL)
        return M3_ENOMEM;
    ok = EVP_DigestInit_ex2(ctx, mds[alg], NULL);
    for (size_t i = 0; ok && i < n; i++)
        ok = in[i].len == 0 || EVP_DigestUpdate(ctx, in[i].p, in[i].len);
    if (ok && alg >= AGE_SHAKE128)
        ok = EVP_DigestFinalXOF(ctx, out, out_len);
    else if (ok)
        ok = out_len == (alg == AGE_SHA3_256 ? 32u : 64u) && EVP_DigestFinal_ex(ctx, out, NULL);
    EVP_MD_CTX_free(ctx);
    return ok ? 0 : M3_ENOMEM;
}
