/* mlkem.h: ML-KEM-768 (FIPS 203), the key encapsulation mechanism under the hybrid
 * post-quantum KEMs of HPKE (libage/hpke.c) and so of age's mlkem768x25519 recipients.
 *
 * The deterministic "internal" algorithms of FIPS 203 (ML-KEM.KeyGen_internal,
 * ML-KEM.Encaps_internal, ML-KEM.Decaps_internal): the caller draws d, z and m from a
 * cryptographic random source (age_mlkem768_generate and _encaps_random do). KeyGen and
 * Decaps, implicit rejection included, run in time independent of the secrets (no branch
 * and no memory index depends on them; tests/conformance/mlkem_ct.sh checks it under
 * valgrind). Secret inputs and outputs (d, z, m, dk, shared keys) are the caller's memory,
 * which should be secret memory (age_secret_alloc); the functions keep their working
 * secrets (polynomials, seeds, messages) on the stack and wipe them before returning. */
#ifndef M3_LIBAGE_MLKEM_H
#define M3_LIBAGE_MLKEM_H

#include "libage/error.h"

#define AGE_MLKEM768_EK_SIZE 1184 /* encapsulation key */
#define AGE_MLKEM768_DK_SIZE 2400 /* decapsulation key (expanded form) */
#define AGE_MLKEM768_CT_SIZE 1088 /* ciphertext */
#define AGE_MLKEM_SS_SIZE 32      /* shared key */
#define AGE_MLKEM_SEED_SIZE 64    /* d || z, the seed form of a decapsulation key */

/* age_mlkem768_keygen: ML-KEM.KeyGen_internal(d, z), d = seed[0..32), z = seed[32..64).
 * Writes ek and dk (secret). Returns 0, or M3_EUNSUPPORTED / M3_ENOMEM from libcrypto. */
int age_mlkem768_keygen(unsigned char ek[AGE_MLKEM768_EK_SIZE],
                        unsigned char dk[AGE_MLKEM768_DK_SIZE],
                        const unsigned char seed[AGE_MLKEM_SEED_SIZE]);

/* age_mlkem768_check_ek: the modulus check of FIPS 203 section 7.2: every 12-bit
 * coefficient of ek is below q. 0, or M3_EINVAL. */
int age_mlkem768_check_ek(const unsigned char ek[AGE_MLKEM768_EK_SIZE]);

/* age_mlkem768_encaps: ML-KEM.Encaps_internal(ek, m) after the modulus check. Writes ct
 * and the shared key ss (secret). Returns 0, M3_EINVAL (ek fails the modulus check: nothing
 * written), or M3_EUNSUPPORTED / M3_ENOMEM. */
int age_mlkem768_encaps(unsigned char ct[AGE_MLKEM768_CT_SIZE], unsigned char ss[AGE_MLKEM_SS_SIZE],
                        const unsigned char ek[AGE_MLKEM768_EK_SIZE], const unsigned char m[32]);

/* age_mlkem768_encaps_random: age_mlkem768_encaps with m from randombytes_buf. */
int age_mlkem768_encaps_random(unsigned char ct[AGE_MLKEM768_CT_SIZE],
                               unsigned char ss[AGE_MLKEM_SS_SIZE],
                               const unsigned char ek[AGE_MLKEM768_EK_SIZE]);

/* age_mlkem768_decaps: ML-KEM.Decaps_internal(dk, ct). A ciphertext that does not
 * re-encrypt to itself yields the implicit-rejection key J(z || ct), not an error, as FIPS
 * 203 requires; the choice is made without a branch. Writes ss (secret). Returns 0, or
 * M3_EUNSUPPORTED / M3_ENOMEM. dk is trusted to be one this library made (FIPS 203's hash
 * check of dk is the caller's when dk comes from outside). */
int age_mlkem768_decaps(unsigned char ss[AGE_MLKEM_SS_SIZE],
                        const unsigned char dk[AGE_MLKEM768_DK_SIZE],
                        const unsigned char ct[AGE_MLKEM768_CT_SIZE]);

#endif
