/* bech32.c: BIP 173 bech32, as age uses it for keys: no 90-character limit, one case only. */
#include "libage/age.h"

#include <ctype.h>
#include <string.h>

static const char charset[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

static unsigned
polymod_step(unsigned chk, unsigned v)
{
    static const unsigned gen[5] = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd, 0x2a1462b3};
    unsigned top = chk >> 25;

    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; i++)
        if ((top >> i) & 1)
            chk ^= gen[i];
    return chk;
}

static unsigned
hrp_polymod(const char *hrp, size_t n)
{
    unsigned chk = 1;

    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (unsigned)tolower((unsigned char)hrp[i]) >> 5);
    chk = polymod_step(chk, 0);
    for (size_t i = 0; i < n; i++)
        chk = polymod_step(chk, (unsigned)tolower((unsigned char)hrp[i]) & 31);
    return chk;
}

int
age_bech32_encode(const char *hrp, const unsigned char *data, size_t len, bool upper, char *out,
                  size_t cap)
{
    size_t hlen = strlen(hrp), n5 = (len * 8 + 4) / 5, pos = 0;
    unsigned chk, acc = 0;
    int bits = 0;

    if (hlen == 0 || hlen + 1 + n5 + 6 + 1 > cap)
        return M3_EINVAL;
    for (size_t i = 0; i < hlen; i++)
        out[pos++] =
            (char)(upper ? toupper((unsigned char)hrp[i]) : tolower((unsigned char)hrp[i]));
    out[pos++] = '1';
    chk = hrp_polymod(hrp, hlen);
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | data[i];
        bits += 8;
        while (bits >= 5) {
            unsigned v = (acc >> (bits - 5)) & 31;
            bits -= 5;
            chk = polymod_step(chk, v);
            out[pos++] = charset[v];
        }
    }
    if (bits > 0) {
        unsigned v = (acc << (5 - bits)) & 31;
        chk = polymod_step(chk, v);
        out[pos++] = charset[v];
    }
    for (int i = 0; i < 6; i++)
        chk = polymod_step(chk, 0);
    chk ^= 1;
    for (int i = 0; i < 6; i++)
        out[pos++] = charset[(chk >> (5 * (5 - i))) & 31];
    out[pos] = '\0';
    if (upper)
        for (size_t i = hlen + 1; i < pos; i++)
            out[i] = (char)toupper((unsigned char)out[i]);
    return 0;
}

int
age_bech32_decode(const char *s, char *hrp, size_t hrp_cap, unsigned char *data, size_t cap,
                  size_t *len)
{
    size_t n = strlen(s), sep, ndata, out = 0;
    bool has_lower = false, has_upper = false;
    unsigned chk, acc = 0;
    int bits = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 33 || c > 126)
            return M3_EINVAL;
        has_lower |= islower(c) != 0;
        has_upper |= isupper(c) != 0;
    }
    if (has_lower && has_upper)
        return M3_EINVAL;
    {
        const char *p = strrchr(s, '1');
        if (p == NULL)
            return M3_EINVAL;
        sep = (size_t)(p - s);
    }
    if (sep == 0 || sep + 7 > n || sep + 1 > hrp_cap)
        return M3_EINVAL;
    for (size_t i = 0; i < sep; i++)
        hrp[i] = (char)tolower((unsigned char)s[i]);
    hrp[sep] = '\0';
    chk = hrp_polymod(hrp, sep);
    ndata = n - sep - 1;
    for (size_t i = 0; i < ndata; i++) {
        const char *p = strchr(charset, tolower((unsigned char)s[sep + 1 + i]));
        unsigned v;
        if (p == NULL || *p == '\0')
            return M3_EINVAL;
        v = (unsigned)(p - charset);
        chk = polymod_step(chk, v);
        if (i >= ndata - 6)
            continue; /* checksum characters */
        acc = (acc << 5) | v;
        bits += 5;
        if (bits >= 8) {
            bits -= 8;
            if (out >= cap)
                return M3_EINVAL;
            data[out++] = (unsigned char)(acc >> bits);
        }
        acc &= (1u << bits) - 1;
    }
    if (chk != 1)
        return M3_EINVAL;
    /* BIP 173 conversion rules: at most 4 padding bits, all zero. */
    if (bits >= 5 || acc != 0)
        return M3_EINVAL;
    if (len != NULL)
        *len = out;
    return 0;
}
