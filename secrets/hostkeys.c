/* hostkeys.c: host public keys from .pub files and known_hosts, compared by wire encoding. */
#include "secrets/hostkeys.h"

#include "keys/openssh.h"
#include "libage/ssh.h"
#include "libage/cryptolib.h" /* OpenSSL, opened on first use */

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOSTKEYS_FILE_MAX (64 * 1024) /* a .pub file; an RSA-16384 key line is ~2.8 KiB */

static void
fingerprint(const unsigned char *wire, size_t len, char out[HOSTKEYS_FP_SIZE])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    char b64[sodium_base64_ENCODED_LEN(crypto_hash_sha256_BYTES,
                                       sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];

    crypto_hash_sha256(h, wire, len);
    sodium_bin2base64(b64, sizeof(b64), h, sizeof(h), sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    snprintf(out, HOSTKEYS_FP_SIZE, "SHA256:%s", b64);
}

/* first_word: the first whitespace-delimited word of s, copied into buf (truncated). */
static void
first_word(const char *s, char *buf, size_t cap)
{
    size_t n = 0;

    while (*s == ' ' || *s == '\t')
        s++;
    while (s[n] != '\0' && !isspace((unsigned char)s[n]) && n + 1 < cap) {
        buf[n] = s[n];
        n++;
    }
    buf[n] = '\0';
}

int
hostkey_parse(const char *text, struct hostkey *out, struct m3_diag *d)
{
    struct hostkey k = {0};
    struct age_recipient *r = NULL;
    char word[64];
    size_t b64cap;
    int rc;

    rc = keys_ssh_public_parse(text, &k.wire, &k.wire_len, d);
    if (rc == M3_ENOMATCH) {
        const char *what;

        first_word(text, word, sizeof(word));
        if ((what = keys_ssh_type_unsupported(word)) != NULL)
            return m3_diag_set(d, M3_EUNSUPPORTED, "'%s' is %s, which age cannot encrypt to", word,
                               what);
        return m3_diag_set(d, M3_EINVAL, "not an SSH public key (starts with '%s')", word);
    }
    if (rc != 0)
        goto out;
    /* Only a key age can encrypt to belongs in the registry: check it as a recipient. */
    if ((rc = age_ssh_recipient_from_wire(&r, k.wire, k.wire_len, d)) != 0)
        goto out;
    if ((rc = age_ssh_wire_type(k.wire, k.wire_len, k.type, sizeof(k.type))) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "SSH public key is malformed");
        goto out;
    }
    b64cap = sodium_base64_ENCODED_LEN(k.wire_len, sodium_base64_VARIANT_ORIGINAL);
    if ((k.line = malloc(strlen(k.type) + 1 + b64cap)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    strcpy(k.line, k.type);
    strcat(k.line, " ");
    sodium_bin2base64(k.line + strlen(k.line), b64cap, k.wire, k.wire_len,
                      sodium_base64_VARIANT_ORIGINAL);
    fingerprint(k.wire, k.wire_len, k.fp);
    *out = k;
    k = (struct hostkey){0};
out:
    age_recipient_free(r);
    hostkey_clear(&k);
    return rc;
}

void
hostkey_clear(struct hostkey *k)
{
    if (k == NULL)
        return;
    free(k->line);
    free(k->wire);
    memset(k, 0, sizeof(*k));
}

bool
hostkey_equal(const struct hostkey *a, const struct hostkey *b)
{
    return a->wire_len == b->wire_len && memcmp(a->wire, b->wire, a->wire_len) == 0;
}

int
hostkey_copy(struct hostkey *dst, const struct hostkey *src)
{
    struct hostkey k = *src;

    k.line = strdup(src->line);
    k.wire = malloc(src->wire_len);
    if (k.line == NULL || k.wire == NULL) {
        free(k.line);
        free(k.wire);
        return M3_ENOMEM;
    }
    memcpy(k.wire, src->wire, src->wire_len);
    *dst = k;
    return 0;
}

static int
read_small(const char *path, char **buf, size_t *len, struct m3_diag *d)
{
    FILE *f = fopen(path, "r");
    size_t n;
    int rc = 0;

    *buf = NULL;
    if (f == NULL)
        return m3_diag_set(d, errno == ENOENT ? M3_ENOTFOUND : M3_EIO, "%s: %s", path,
                           strerror(errno));
    if ((*buf = malloc(HOSTKEYS_FILE_MAX + 1)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    n = fread(*buf, 1, HOSTKEYS_FILE_MAX + 1, f);
    if (ferror(f)) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (n > HOSTKEYS_FILE_MAX) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: too large for a public key file", path);
        goto out;
    }
    (*buf)[n] = '\0';
    *len = n;
out:
    fclose(f);
    if (rc != 0) {
        free(*buf);
        *buf = NULL;
    }
    return rc;
}

/* blank_or_comment: true for a line holding only whitespace or a '#' comment. */
static bool
blank_or_comment(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r')
        s++;
    return *s == '\0' || *s == '#';
}

int
hostkeys_read_file(const char *path, struct hostkey *out, struct m3_diag *d)
{
    struct hostkey k = {0};
    char *buf = NULL, *line, *next;
    size_t len = 0, nkeys = 0;
    unsigned lineno = 0, keyline = 0;
    int rc;

    if ((rc = read_small(path, &buf, &len, d)) != 0)
        return rc;
    if (memchr(buf, '\0', len) != NULL) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: binary data, not a public key file", path);
        goto out;
    }
    for (line = buf; line < buf + len; line = next) {
        char *eol = memchr(line, '\n', (size_t)(buf + len - line));

        next = eol != NULL ? eol + 1 : buf + len;
        if (eol != NULL)
            *eol = '\0';
        lineno++;
        if (blank_or_comment(line))
            continue;
        if (++nkeys > 1) {
            rc = m3_diag_set(d, M3_EINVAL, "%s:%u: more than one key (the first is on line %u)",
                             path, lineno, keyline);
            goto out;
        }
        keyline = lineno;
        if ((rc = hostkey_parse(line, &k, d)) != 0) {
            struct m3_diag inner = d != NULL ? *d : (struct m3_diag){0};

            m3_diag_set(d, rc, "%s:%u: %s", path, lineno, inner.msg);
            goto out;
        }
    }
    if (nkeys == 0) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: no public key in the file", path);
        goto out;
    }
    *out = k;
    k = (struct hostkey){0};
out:
    hostkey_clear(&k);
    free(buf);
    return rc;
}

char *
hostkeys_host_pub_path(const char *hostsdir, const char *host)
{
    char *p = NULL;

    if (asprintf(&p, "%s/%s/ssh_host_ed25519_key.pub", hostsdir, host) < 0)
        return NULL;
    return p;
}

bool
hostkeys_valid_host_name(const char *name)
{
    if (name == NULL || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (const char *p = name; *p != '\0'; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return false;
    return strlen(name) < 256;
}

/* ---- known_hosts -------------------------------------------------------------------- */

/* hashed_match: "|1|b64(salt)|b64(HMAC-SHA1(salt, name))", as ssh's HashKnownHosts writes. */
static bool
hashed_match(const char *entry, size_t len, const char *name)
{
    unsigned char salt[64], want[64], got[EVP_MAX_MD_SIZE];
    size_t salt_len, want_len;
    unsigned got_len = 0;
    const char *sep, *end = entry + len;

    if (len < 4 || memcmp(entry, "|1|", 3) != 0)
        return false;
    entry += 3;
    if ((sep = memchr(entry, '|', (size_t)(end - entry))) == NULL)
        return false;
    if (sodium_base642bin(salt, sizeof(salt), entry, (size_t)(sep - entry), NULL, &salt_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        sodium_base642bin(want, sizeof(want), sep + 1, (size_t)(end - sep - 1), NULL, &want_len,
                          NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
        return false;
    if (m3_crypto_load(NULL) != 0) /* cannot happen where m3age is installed whole */
        return false;
    if (HMAC(EVP_sha1(), salt, (int)salt_len, (const unsigned char *)name, strlen(name), got,
             &got_len) == NULL)
        return false;
    return got_len == want_len && sodium_memcmp(got, want, got_len) == 0;
}

/* wild_match: ssh's host patterns: '*' any run, '?' one character, case-insensitive, every
 * other byte literal (so "[host]:port" matches itself; fnmatch would read a bracket class). */
static bool
wild_match(const char *pat, size_t plen, const char *s)
{
    while (plen > 0) {
        if (*pat == '*') {
            for (const char *t = s;; t++) {
                if (wild_match(pat + 1, plen - 1, t))
                    return true;
                if (*t == '\0')
                    return false;
            }
        }
        if (*s == '\0' ||
            (*pat != '?' && tolower((unsigned char)*pat) != tolower((unsigned char)*s)))
            return false;
        pat++;
        plen--;
        s++;
    }
    return *s == '\0';
}

/* pattern_list_match: ssh's host pattern lists: comma-separated, '*' and '?' wildcards,
 * case-insensitive, a matching '!pattern' vetoes the whole line. */
static bool
pattern_list_match(const char *list, size_t len, const char *name)
{
    bool hit = false;
    const char *p = list, *end = list + len;

    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t n = (size_t)((comma ? comma : end) - p);
        bool neg = n > 0 && *p == '!';

        if (n > (size_t)neg && wild_match(p + neg, n - neg, name)) {
            if (neg)
                return false;
            hit = true;
        }
        p = comma ? comma + 1 : end;
    }
    return hit;
}

static bool
hosts_field_match(const char *field, size_t len, const char *const *names, size_t nnames,
                  unsigned port)
{
    char name[512];

    for (size_t i = 0; i < nnames; i++) {
        if (port == 22 || port == 0)
            snprintf(name, sizeof(name), "%s", names[i]);
        else
            snprintf(name, sizeof(name), "[%s]:%u", names[i], port);
        if (field[0] == '|' ? hashed_match(field, len, name) : pattern_list_match(field, len, name))
            return true;
    }
    return false;
}

static int
push_key(struct hostkey **keys, size_t *n, size_t *cap, struct hostkey *k)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        struct hostkey *v = reallocarray(*keys, nc, sizeof(*v));

        if (v == NULL)
            return M3_ENOMEM;
        *keys = v;
        *cap = nc;
    }
    (*keys)[(*n)++] = *k;
    *k = (struct hostkey){0};
    return 0;
}

int
hostkeys_known_hosts(const char *path, const char *const *names, size_t nnames, unsigned port,
                     struct hostkey **keys, size_t *n, struct m3_diag *d)
{
    struct hostkey *v = NULL, *revoked = NULL, k = {0};
    size_t nv = 0, capv = 0, nrev = 0, caprev = 0, linecap = 0;
    char *line = NULL;
    ssize_t got;
    FILE *f;
    int rc = 0;

    *keys = NULL;
    *n = 0;
    if ((f = fopen(path, "r")) == NULL) {
        if (errno == ENOENT)
            return 0;
        return m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
    }
    while ((got = getline(&line, &linecap, f)) > 0) {
        char *p = line, *field;
        size_t flen;
        bool is_revoked = false;

        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '#' || *p == '\n' || *p == '\0')
            continue;
        if (*p == '@') {
            if (strncmp(p, "@revoked", 8) != 0 || !isspace((unsigned char)p[8]))
                continue; /* @cert-authority: a CA, not a host key */
            is_revoked = true;
            p += 8;
            while (*p == ' ' || *p == '\t')
                p++;
        }
        field = p;
        flen = strcspn(p, " \t\n");
        if (!hosts_field_match(field, flen, names, nnames, port))
            continue;
        if (hostkey_parse(field + flen, &k, NULL) != 0)
            continue; /* a key type age cannot use (ecdsa) or a damaged line */
        rc = is_revoked ? push_key(&revoked, &nrev, &caprev, &k) : push_key(&v, &nv, &capv, &k);
        if (rc != 0)
            goto out;
    }
    if (ferror(f)) {
        rc = m3_diag_set(d, M3_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    for (size_t i = 0; i < nv;) {
        bool bad = false;

        for (size_t j = 0; j < nrev && !bad; j++)
            bad = hostkey_equal(&v[i], &revoked[j]);
        if (bad) {
            hostkey_clear(&v[i]);
            memmove(&v[i], &v[i + 1], (nv - i - 1) * sizeof(*v));
            nv--;
        } else {
            i++;
        }
    }
    *keys = v;
    *n = nv;
    v = NULL;
    nv = 0;
out:
    hostkey_clear(&k);
    hostkeys_keys_free(v, nv);
    hostkeys_keys_free(revoked, nrev);
    free(line);
    fclose(f);
    return rc;
}

const struct hostkey *
hostkeys_pick(const struct hostkey *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].type, "ssh-ed25519") == 0)
            return &keys[i];
    return n > 0 ? &keys[0] : NULL;
}

void
hostkeys_keys_free(struct hostkey *keys, size_t n)
{
    for (size_t i = 0; i < n; i++)
        hostkey_clear(&keys[i]);
    free(keys);
}
