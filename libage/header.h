/* header.h: internal header helpers shared by the encryptor and decryptor. */
#ifndef M3_AGE_HEADER_H
#define M3_AGE_HEADER_H

#include "libage/age.h"

struct age_buf {
    unsigned char *p;
    size_t len, cap;
};

/* age_header_serialize: appends the header text up to and including "---" (the bytes the
 * MAC covers) to out. */
int age_header_serialize(const struct age_stanza *v, size_t n, struct age_buf *out);

/* age_header_mac: HMAC-SHA-256 under HKDF(file key, "", "header") of the header bytes. */
int age_header_mac(const unsigned char *file_key, const unsigned char *hdr, size_t len,
                   unsigned char mac[AGE_MAC_SIZE]);

#endif
