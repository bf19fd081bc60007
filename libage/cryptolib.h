/* cryptolib.h: OpenSSL's libcrypto, loaded the first time it is needed.
 *
 * libcrypto is used for what libsodium does not do (RSA-OAEP for ssh-rsa, the ciphers of
 * protected OpenSSH and PEM keys, the bignums behind bcrypt_pbkdf's constants, HMAC-SHA-1 of
 * hashed known_hosts lines, P-256 for HPKE's tagged types) and for the payload
 * chunks of large files (libage/stream.c).
 * Linked normally, the dynamic loader binds its ~4,100 symbol relocations when every m3age
 * process starts (it is linked with BIND_NOW): about 3.3 million instructions, three
 * quarters of the whole cost of decrypting a small file with an X25519 or ssh-ed25519 key,
 * and of `m3age --version`. So it is opened with dlopen on first use and the functions
 * m3age uses are called through pointers. A file that includes this header after the
 * OpenSSL headers calls them by their usual names (the macros below), once
 * m3_crypto_load() succeeded. Programs that also call OpenSSL themselves (the tests) link
 * libcrypto as usual; dlopen then finds the copy already loaded. */
#ifndef M3_LIBAGE_CRYPTOLIB_H
#define M3_LIBAGE_CRYPTOLIB_H

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "libage/error.h"

/* The libcrypto functions m3age uses, with their own prototypes. */
#define M3_CRYPTO_FUNCS(X)                                                                         \
    X(BIO_free)                                                                                    \
    X(BIO_new_mem_buf)                                                                             \
    X(BN_CTX_free)                                                                                 \
    X(BN_CTX_new)                                                                                  \
    X(BN_CTX_secure_new)                                                                           \
    X(BN_add)                                                                                      \
    X(BN_bin2bn)                                                                                   \
    X(BN_bn2bin)                                                                                   \
    X(BN_bn2binpad)                                                                                \
    X(BN_clear_free)                                                                               \
    X(BN_cmp)                                                                                      \
    X(BN_copy)                                                                                     \
    X(BN_div)                                                                                      \
    X(BN_div_word)                                                                                 \
    X(BN_free)                                                                                     \
    X(BN_is_one)                                                                                   \
    X(BN_is_zero)                                                                                  \
    X(BN_lshift)                                                                                   \
    X(BN_mod_mul)                                                                                  \
    X(BN_mul)                                                                                      \
    X(BN_mul_word)                                                                                 \
    X(BN_new)                                                                                      \
    X(BN_num_bits)                                                                                 \
    X(BN_rshift)                                                                                   \
    X(BN_secure_new)                                                                               \
    X(BN_set_negative)                                                                             \
    X(BN_set_word)                                                                                 \
    X(BN_sub)                                                                                      \
    X(BN_value_one)                                                                                \
    X(CRYPTO_free)                                                                                 \
    X(CRYPTO_memdup)                                                                               \
    X(EC_GROUP_free)                                                                               \
    X(EC_GROUP_new_by_curve_name)                                                                  \
    X(EC_POINT_clear_free)                                                                         \
    X(EC_POINT_is_at_infinity)                                                                     \
    X(EC_POINT_mul)                                                                                \
    X(EC_POINT_new)                                                                                \
    X(EC_POINT_oct2point)                                                                          \
    X(EC_POINT_point2oct)                                                                          \
    X(EVP_CIPHER_CTX_ctrl)                                                                         \
    X(EVP_CIPHER_CTX_free)                                                                         \
    X(EVP_CIPHER_CTX_new)                                                                          \
    X(EVP_CIPHER_CTX_set_padding)                                                                  \
    X(EVP_CIPHER_fetch)                                                                            \
    X(EVP_CIPHER_free)                                                                             \
    X(EVP_CipherFinal_ex)                                                                          \
    X(EVP_CipherInit_ex)                                                                           \
    X(EVP_CipherUpdate)                                                                            \
    X(EVP_DecryptFinal_ex)                                                                         \
    X(EVP_DecryptInit_ex2)                                                                         \
    X(EVP_DecryptUpdate)                                                                           \
    X(EVP_DigestFinalXOF)                                                                          \
    X(EVP_DigestFinal_ex)                                                                          \
    X(EVP_DigestInit_ex2)                                                                          \
    X(EVP_DigestUpdate)                                                                            \
    X(EVP_MD_CTX_free)                                                                             \
    X(EVP_MD_CTX_new)                                                                              \
    X(EVP_MD_fetch)                                                                                \
    X(EVP_MD_free)                                                                                 \
    X(EVP_PKEY_CTX_free)                                                                           \
    X(EVP_PKEY_CTX_new_from_name)                                                                  \
    X(EVP_PKEY_CTX_new_from_pkey)                                                                  \
    X(EVP_PKEY_CTX_set0_rsa_oaep_label)                                                            \
    X(EVP_PKEY_CTX_set_rsa_mgf1_md)                                                                \
    X(EVP_PKEY_CTX_set_rsa_oaep_md)                                                                \
    X(EVP_PKEY_CTX_set_rsa_padding)                                                                \
    X(EVP_PKEY_decrypt)                                                                            \
    X(EVP_PKEY_decrypt_init)                                                                       \
    X(EVP_PKEY_encrypt)                                                                            \
    X(EVP_PKEY_encrypt_init)                                                                       \
    X(EVP_PKEY_free)                                                                               \
    X(EVP_PKEY_fromdata)                                                                           \
    X(EVP_PKEY_fromdata_init)                                                                      \
    X(EVP_PKEY_get_bits)                                                                           \
    X(EVP_PKEY_get_bn_param)                                                                       \
    X(EVP_PKEY_get_size)                                                                           \
    X(EVP_PKEY_is_a)                                                                               \
    X(EVP_PKEY_up_ref)                                                                             \
    X(EVP_chacha20_poly1305)                                                                       \
    X(EVP_sha1)                                                                                    \
    X(EVP_sha256)                                                                                  \
    X(HMAC)                                                                                        \
    X(OPENSSL_cleanse)                                                                             \
    X(OSSL_PARAM_BLD_free)                                                                         \
    X(OSSL_PARAM_BLD_new)                                                                          \
    X(OSSL_PARAM_BLD_push_BN)                                                                      \
    X(OSSL_PARAM_BLD_push_octet_string)                                                            \
    X(OSSL_PARAM_BLD_push_utf8_string)                                                             \
    X(OSSL_PARAM_BLD_to_param)                                                                     \
    X(OSSL_PARAM_free)                                                                             \
    X(PEM_read_bio_PrivateKey)

#define M3_CRYPTO_FIELD(name) __typeof__(name) *name;
struct m3_cryptolib {
    M3_CRYPTO_FUNCS(M3_CRYPTO_FIELD)
};
#undef M3_CRYPTO_FIELD

extern struct m3_cryptolib m3_crypto_fn;

/* m3_crypto_load: opens libcrypto once per process (thread-safe); 0, or M3_EUNSUPPORTED
 * with a message naming the library and dlopen's reason (d may be NULL). */
int m3_crypto_load(struct m3_diag *d);

#ifndef M3_CRYPTOLIB_IMPL
#define BIO_free (m3_crypto_fn.BIO_free)
#define BIO_new_mem_buf (m3_crypto_fn.BIO_new_mem_buf)
#define BN_CTX_free (m3_crypto_fn.BN_CTX_free)
#define BN_CTX_new (m3_crypto_fn.BN_CTX_new)
#define BN_CTX_secure_new (m3_crypto_fn.BN_CTX_secure_new)
#define BN_add (m3_crypto_fn.BN_add)
#define BN_bin2bn (m3_crypto_fn.BN_bin2bn)
#define BN_bn2bin (m3_crypto_fn.BN_bn2bin)
#define BN_bn2binpad (m3_crypto_fn.BN_bn2binpad)
#define BN_clear_free (m3_crypto_fn.BN_clear_free)
#define BN_cmp (m3_crypto_fn.BN_cmp)
#define BN_copy (m3_crypto_fn.BN_copy)
#define BN_div (m3_crypto_fn.BN_div)
#define BN_div_word (m3_crypto_fn.BN_div_word)
#define BN_free (m3_crypto_fn.BN_free)
#define BN_is_one (m3_crypto_fn.BN_is_one)
#define BN_is_zero (m3_crypto_fn.BN_is_zero)
#define BN_lshift (m3_crypto_fn.BN_lshift)
#define BN_mod_mul (m3_crypto_fn.BN_mod_mul)
#define BN_mul (m3_crypto_fn.BN_mul)
#define BN_mul_word (m3_crypto_fn.BN_mul_word)
#define BN_new (m3_crypto_fn.BN_new)
#define BN_num_bits (m3_crypto_fn.BN_num_bits)
#define BN_rshift (m3_crypto_fn.BN_rshift)
#define BN_secure_new (m3_crypto_fn.BN_secure_new)
#define BN_set_negative (m3_crypto_fn.BN_set_negative)
#define BN_set_word (m3_crypto_fn.BN_set_word)
#define BN_sub (m3_crypto_fn.BN_sub)
#define BN_value_one (m3_crypto_fn.BN_value_one)
#define CRYPTO_free (m3_crypto_fn.CRYPTO_free)
#define CRYPTO_memdup (m3_crypto_fn.CRYPTO_memdup)
#define EC_GROUP_free (m3_crypto_fn.EC_GROUP_free)
#define EC_GROUP_new_by_curve_name (m3_crypto_fn.EC_GROUP_new_by_curve_name)
#define EC_POINT_clear_free (m3_crypto_fn.EC_POINT_clear_free)
#define EC_POINT_is_at_infinity (m3_crypto_fn.EC_POINT_is_at_infinity)
#define EC_POINT_mul (m3_crypto_fn.EC_POINT_mul)
#define EC_POINT_new (m3_crypto_fn.EC_POINT_new)
#define EC_POINT_oct2point (m3_crypto_fn.EC_POINT_oct2point)
#define EC_POINT_point2oct (m3_crypto_fn.EC_POINT_point2oct)
#define EVP_CIPHER_CTX_ctrl (m3_crypto_fn.EVP_CIPHER_CTX_ctrl)
#define EVP_CIPHER_CTX_free (m3_crypto_fn.EVP_CIPHER_CTX_free)
#define EVP_CIPHER_CTX_new (m3_crypto_fn.EVP_CIPHER_CTX_new)
#define EVP_CIPHER_CTX_set_padding (m3_crypto_fn.EVP_CIPHER_CTX_set_padding)
#define EVP_CIPHER_fetch (m3_crypto_fn.EVP_CIPHER_fetch)
#define EVP_CIPHER_free (m3_crypto_fn.EVP_CIPHER_free)
#define EVP_CipherFinal_ex (m3_crypto_fn.EVP_CipherFinal_ex)
#define EVP_CipherInit_ex (m3_crypto_fn.EVP_CipherInit_ex)
#define EVP_CipherUpdate (m3_crypto_fn.EVP_CipherUpdate)
#define EVP_DecryptFinal_ex (m3_crypto_fn.EVP_DecryptFinal_ex)
#define EVP_DecryptInit_ex2 (m3_crypto_fn.EVP_DecryptInit_ex2)
#define EVP_DecryptUpdate (m3_crypto_fn.EVP_DecryptUpdate)
#define EVP_DigestFinalXOF (m3_crypto_fn.EVP_DigestFinalXOF)
#define EVP_DigestFinal_ex (m3_crypto_fn.EVP_DigestFinal_ex)
#define EVP_DigestInit_ex2 (m3_crypto_fn.EVP_DigestInit_ex2)
#define EVP_DigestUpdate (m3_crypto_fn.EVP_DigestUpdate)
#define EVP_MD_CTX_free (m3_crypto_fn.EVP_MD_CTX_free)
#define EVP_MD_CTX_new (m3_crypto_fn.EVP_MD_CTX_new)
#define EVP_MD_fetch (m3_crypto_fn.EVP_MD_fetch)
#define EVP_MD_free (m3_crypto_fn.EVP_MD_free)
#define EVP_PKEY_CTX_free (m3_crypto_fn.EVP_PKEY_CTX_free)
#define EVP_PKEY_CTX_new_from_name (m3_crypto_fn.EVP_PKEY_CTX_new_from_name)
#define EVP_PKEY_CTX_new_from_pkey (m3_crypto_fn.EVP_PKEY_CTX_new_from_pkey)
#define EVP_PKEY_CTX_set0_rsa_oaep_label (m3_crypto_fn.EVP_PKEY_CTX_set0_rsa_oaep_label)
#define EVP_PKEY_CTX_set_rsa_mgf1_md (m3_crypto_fn.EVP_PKEY_CTX_set_rsa_mgf1_md)
#define EVP_PKEY_CTX_set_rsa_oaep_md (m3_crypto_fn.EVP_PKEY_CTX_set_rsa_oaep_md)
#define EVP_PKEY_CTX_set_rsa_padding (m3_crypto_fn.EVP_PKEY_CTX_set_rsa_padding)
#define EVP_PKEY_decrypt (m3_crypto_fn.EVP_PKEY_decrypt)
#define EVP_PKEY_decrypt_init (m3_crypto_fn.EVP_PKEY_decrypt_init)
#define EVP_PKEY_encrypt (m3_crypto_fn.EVP_PKEY_encrypt)
#define EVP_PKEY_encrypt_init (m3_crypto_fn.EVP_PKEY_encrypt_init)
#define EVP_PKEY_free (m3_crypto_fn.EVP_PKEY_free)
#define EVP_PKEY_fromdata (m3_crypto_fn.EVP_PKEY_fromdata)
#define EVP_PKEY_fromdata_init (m3_crypto_fn.EVP_PKEY_fromdata_init)
#define EVP_PKEY_get_bits (m3_crypto_fn.EVP_PKEY_get_bits)
#define EVP_PKEY_get_bn_param (m3_crypto_fn.EVP_PKEY_get_bn_param)
#define EVP_PKEY_get_size (m3_crypto_fn.EVP_PKEY_get_size)
#define EVP_PKEY_is_a (m3_crypto_fn.EVP_PKEY_is_a)
#define EVP_PKEY_up_ref (m3_crypto_fn.EVP_PKEY_up_ref)
#define EVP_chacha20_poly1305 (m3_crypto_fn.EVP_chacha20_poly1305)
#define EVP_sha1 (m3_crypto_fn.EVP_sha1)
#define EVP_sha256 (m3_crypto_fn.EVP_sha256)
#define HMAC (m3_crypto_fn.HMAC)
#define OPENSSL_cleanse (m3_crypto_fn.OPENSSL_cleanse)
#define OSSL_PARAM_BLD_free (m3_crypto_fn.OSSL_PARAM_BLD_free)
#define OSSL_PARAM_BLD_new (m3_crypto_fn.OSSL_PARAM_BLD_new)
#define OSSL_PARAM_BLD_push_BN (m3_crypto_fn.OSSL_PARAM_BLD_push_BN)
#define OSSL_PARAM_BLD_push_octet_string (m3_crypto_fn.OSSL_PARAM_BLD_push_octet_string)
#define OSSL_PARAM_BLD_push_utf8_string (m3_crypto_fn.OSSL_PARAM_BLD_push_utf8_string)
#define OSSL_PARAM_BLD_to_param (m3_crypto_fn.OSSL_PARAM_BLD_to_param)
#define OSSL_PARAM_free (m3_crypto_fn.OSSL_PARAM_free)
#define PEM_read_bio_PrivateKey (m3_crypto_fn.PEM_read_bio_PrivateKey)
#endif

#endif
