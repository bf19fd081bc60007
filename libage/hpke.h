/* hpke.h: HPKE (RFC 9180) in base mode, with the KEMs the age recipient types need:
 * DHKEM(P-256, HKDF-SHA256) for p256tag, and the hybrid MLKEM768-X25519 (X-Wing) and
 * MLKEM768-P256 of draft-ietf-hpke-pq-03 (filippo.io/hpke-pq) for mlkem768x25519 and
 * mlkem768p256tag. KDF HKDF-SHA256; AEAD ChaCha20Poly1305 (the key schedule also knows
 * AES-128-GCM's sizes, for known answers only).
 *
 * Keys are byte strings as the specifications define them: a hybrid KEM's private key is
 * its 32-byte seed; DHKEM(P-256)'s is the 32-byte big-endian scalar; public keys and
 * encapsulations are uncompressed points (after the ML-KEM part for the hybrids). Private
 * keys, shared secrets and plaintexts are the caller's (secret) memory; every secret this
 * module computes on the way is wiped before it returns. */
#ifndef M3_LIBAGE_HPKE_H
#define M3_LIBAGE_HPKE_H

#include <stddef.h>
#include <stdint.h>

#include "libage/error.h"

#define AGE_HPKE_KEM_P256_SHA256 0x0010
#define AGE_HPKE_KEM_MLKEM768_P256 0x0050
#define AGE_HPKE_KEM_MLKEM768_X25519 0x647a
#define AGE_HPKE_KDF_HKDF_SHA256 0x0001
#define AGE_HPKE_AEAD_AES128GCM 0x0001
#define AGE_HPKE_AEAD_CHACHA20POLY1305 0x0003

#define AGE_HPKE_SECRET_SIZE 32 /* Nsecret of every KEM here */
#define AGE_HPKE_SK_SIZE 32     /* Nsk of every KEM here */
#define AGE_HPKE_MAX_ENC 1153   /* the largest Nenc (MLKEM768-P256) */
#define AGE_HPKE_MAX_PK 1249    /* the largest Npk (MLKEM768-P256) */
#define AGE_HPKE_TAG_SIZE 16

/* age_hpke_kem_sizes: Nenc and Npk of a KEM (either pointer may be NULL). 0, or
 * M3_EUNSUPPORTED for another KEM. */
int age_hpke_kem_sizes(uint16_t kem, size_t *nenc, size_t *npk);

/* age_hpke_derive_key_pair: DeriveKeyPair(ikm)'s private key (32 bytes, secret) into sk:
 * RFC 9180's for DHKEM(P-256), SHAKE256.LabeledDerive for the hybrids. M3_EUNSUPPORTED,
 * M3_ENOMEM. (age keys are random; this serves known answers and deterministic keys.) */
int age_hpke_derive_key_pair(uint16_t kem, unsigned char *sk, const unsigned char *ikm,
                             size_t ikm_len);

/* age_hpke_public_key: the public key of sk (PrivateKeyToPublicKey) into pk (Npk bytes).
 * Errors: M3_EINVAL (a P-256 scalar that is zero or not below the order), M3_EUNSUPPORTED,
 * M3_ENOMEM. */
int age_hpke_public_key(uint16_t kem, unsigned char *pk, const unsigned char *sk);

/* age_hpke_encap: Encap(pkR) into enc (Nenc bytes) and ss (32 bytes, secret). `rnd` is the
 * randomness, or NULL to draw it here: for MLKEM768-X25519 64 bytes (ML-KEM's m, then the
 * X25519 scalar), for MLKEM768-P256 32 + 128 bytes (m, then the seed RandomScalar rejection-
 * samples), for DHKEM(P-256) the ikmE of DeriveKeyPair (32 bytes). Errors: M3_EINVAL (pkR is
 * not a valid key: ML-KEM modulus check, point not on the curve, low-order X25519 point),
 * M3_EUNSUPPORTED, M3_ENOMEM. */
int age_hpke_encap(uint16_t kem, unsigned char *enc, unsigned char *ss, const unsigned char *pkR,
                   const unsigned char *rnd);

/* age_hpke_decap: Decap(enc, skR) into ss (32 bytes, secret). Errors: M3_EINVAL (enc is not
 * a valid encapsulation: point not on the curve, low-order X25519 share), M3_EUNSUPPORTED,
 * M3_ENOMEM. An ML-KEM ciphertext that does not decapsulate gives the implicit-rejection
 * secret, not an error: the AEAD then fails. */
int age_hpke_decap(uint16_t kem, unsigned char *ss, const unsigned char *enc,
                   const unsigned char *skR);

/* age_hpke_key_schedule: KeyScheduleS/R in base mode (psk and psk_id empty): key (Nk bytes:
 * 32 for ChaCha20Poly1305, 16 for AES-128-GCM), base_nonce (12) and exporter_secret (32),
 * all secret. M3_EUNSUPPORTED for another KDF or AEAD. */
int age_hpke_key_schedule(uint16_t kem, uint16_t kdf, uint16_t aead, const unsigned char *ss,
                          const unsigned char *info, size_t info_len, unsigned char *key,
                          unsigned char *base_nonce, unsigned char *exporter_secret);

/* age_hpke_seal_base: SealBase(pkR, info, aad, pt) with HKDF-SHA256 and ChaCha20Poly1305
 * (the single message of a context, sequence number 0). Writes enc (Nenc bytes) and ct
 * (pt_len + 16 bytes). `rnd` as for age_hpke_encap. Errors as age_hpke_encap. */
int age_hpke_seal_base(uint16_t kem, const unsigned char *pkR, const unsigned char *info,
                       size_t info_len, const unsigned char *aad, size_t aad_len,
                       const unsigned char *pt, size_t pt_len, unsigned char *enc,
                       unsigned char *ct, const unsigned char *rnd);

/* age_hpke_open_base: OpenBase(enc, skR, info, aad, ct) into pt (ct_len - 16 bytes,
 * secret). Errors: M3_ENOMATCH (the AEAD tag does not verify: another recipient's stanza,
 * or tampering), M3_EINVAL (ct shorter than a tag, bad enc), M3_EUNSUPPORTED, M3_ENOMEM. */
int age_hpke_open_base(uint16_t kem, const unsigned char *skR, const unsigned char *enc,
                       const unsigned char *info, size_t info_len, const unsigned char *aad,
                       size_t aad_len, const unsigned char *ct, size_t ct_len, unsigned char *pt);

/* A private key expanded once (a hybrid seed's ML-KEM and traditional keys), for decrypting
 * many stanzas or files with one identity. The object is secret memory, wiped when freed. */
struct age_hpke_key;

/* age_hpke_key_new: expands sk. Errors: M3_EINVAL (a P-256 scalar not in [1, n)),
 * M3_EUNSUPPORTED, M3_ENOMEM. Free with age_hpke_key_free. */
int age_hpke_key_new(struct age_hpke_key **out, uint16_t kem, const unsigned char *sk);
void age_hpke_key_free(struct age_hpke_key *k);
/* age_hpke_key_public: the public key (Npk bytes) of k. */
int age_hpke_key_public(const struct age_hpke_key *k, unsigned char *pk);
/* age_hpke_open_base_key: age_hpke_open_base with an expanded key. */
int age_hpke_open_base_key(const struct age_hpke_key *k, const unsigned char *enc,
                           const unsigned char *info, size_t info_len, const unsigned char *aad,
                           size_t aad_len, const unsigned char *ct, size_t ct_len,
                           unsigned char *pt);

#endif
