/* mlkem_internal.h: the parts of ML-KEM-768 (libage/mlkem.c) that the known-answer tests
 * check one by one against the intermediate values of FIPS 203's algorithms. Not an API. */
#ifndef M3_LIBAGE_MLKEM_INTERNAL_H
#define M3_LIBAGE_MLKEM_INTERNAL_H

#include <stdint.h>

#define AGE_MLKEM_N 256
#define AGE_MLKEM_Q 3329
#define AGE_MLKEM_K 3 /* ML-KEM-768 */

/* A polynomial or its NTT representation: coefficients always in [0, q). */
struct age_mlkem_poly {
    uint16_t c[AGE_MLKEM_N];
};

/* SampleNTT(rho || j || i): the matrix entry A[i][j]. 0 or a libcrypto error. */
int age_mlkem_sample_ntt(struct age_mlkem_poly *a, const unsigned char rho[32], unsigned j,
                         unsigned i);
/* SamplePolyCBD_2(PRF_2(seed, n)). 0 or a libcrypto error. */
int age_mlkem_sample_cbd(struct age_mlkem_poly *a, const unsigned char seed[32], unsigned n);
void age_mlkem_ntt(struct age_mlkem_poly *a);
void age_mlkem_invntt(struct age_mlkem_poly *a);
/* r += a * b in the NTT domain (MultiplyNTTs, then added). */
void age_mlkem_mul_acc(struct age_mlkem_poly *r, const struct age_mlkem_poly *a,
                       const struct age_mlkem_poly *b);
/* ByteEncode_d / ByteDecode_d (d = 1..12; out/in: 32 * d bytes). */
void age_mlkem_encode(unsigned char *out, const struct age_mlkem_poly *a, unsigned d);
void age_mlkem_decode(struct age_mlkem_poly *a, const unsigned char *in, unsigned d);
/* Compress_d / Decompress_d on every coefficient, in place (d < 12). */
void age_mlkem_compress(struct age_mlkem_poly *a, unsigned d);
void age_mlkem_decompress(struct age_mlkem_poly *a, unsigned d);

/* K-PKE.KeyGen from (rho, sigma) = G(d || k) already computed: ek (1184 bytes) and the
 * K-PKE decryption key (1152 bytes, secret). 0 or a libcrypto error. */
int age_mlkem_pke_keygen(unsigned char *ek, unsigned char *dk_pke, const unsigned char rho[32],
                         const unsigned char sigma[32]);

/* ML-KEM.KeyGen_internal as FIPS 203's draft (ipd) had it: G(d) without the domain byte k.
 * Only for the CCTV known answers, which predate the final text (Encaps and Decaps are the
 * same in both); never for keys. */
int age_mlkem768_keygen_draft(unsigned char *ek, unsigned char *dk, const unsigned char *seed);

#endif
