/* ssh.c: SSH wire format, key tags and stanza matching shared by ssh-ed25519 and ssh-rsa. */
#include "libage/internal.h"
#include "libage/ssh_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
age_ssh_get_u32(struct age_ssh_buf *b, uint32_t *v)
{
    if (b->len < 4)
        return M3_EINVAL;
    *v = (uint32_t)b->p[0] << 24 | (uint32_t)b->p[1] << 16 | (uint32_t)b->p[2] << 8 | b->p[3];
    b->p += 4;
    b->len -= 4;
    return 0;
}

int
age_ssh_get_string(struct age_ssh_buf *b, const unsigned char **s, size_t *len)
{
    struct age_ssh_buf t = *b;
    uint32_t n;

    if (age_ssh_get_u32(&t, &n) != 0 || n > t.len)
        return M3_EINVAL;
    *s = t.p;
    *len = n;
    b->p = t.p + n;
    b->len = t.len - n;
    return 0;
}

int
age_ssh_get_cstring(struct age_ssh_buf *b, const char *want)
{
    const unsigned char *s;
    size_t n;

    if (age_ssh_get_string(b, &s, &n) != 0)
        return M3_EINVAL;
    if (n != strlen(want) || memcmp(s, want, n) != 0)
        return M3_ENOMATCH;
    return 0;
}

int
age_ssh_wire_type(const unsigned char *wire, size_t len, char *type, size_t cap)
{
    struct age_ssh_buf b = {wire, len};
    const unsigned char *s;
    size_t n;

    if (age_ssh_get_string(&b, &s, &n) != 0 || n == 0 || n >= cap)
        return M3_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 33 || s[i] > 126)
            return M3_EINVAL;
    memcpy(type, s, n);
    type[n] = '\0';
    return 0;
}

void
age_ssh_tag(const unsigned char *wire, size_t len, unsigned char tag[AGE_SSH_TAG_SIZE])
{
    unsigned char h[crypto_hash_sha256_BYTES];

    crypto_hash_sha256(h, wire, len);
    memcpy(tag, h, AGE_SSH_TAG_SIZE);
}

void
age_ssh_tag_string(const unsigned char *wire, size_t len, char out[AGE_SSH_TAG_LEN + 1])
{
    unsigned char tag[AGE_SSH_TAG_SIZE];

    age_ssh_tag(wire, len, tag);
    sodium_bin2base64(out, AGE_SSH_TAG_LEN + 1, tag, sizeof(tag),
                      sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
}

/* The stanza type an ssh key's wire type produces, or NULL when age cannot use the key. */
static const char *
stanza_type_of(const unsigned char *wire, size_t len)
{
    char type[32];

    if (age_ssh_wire_type(wire, len, type, sizeof(type)) != 0)
        return NULL;
    if (strcmp(type, "ssh-ed25519") == 0)
        return "ssh-ed25519";
    if (strcmp(type, "ssh-rsa") == 0)
        return "ssh-rsa";
    return NULL;
}

/* check_stanza: the checks the Go identities make before comparing tags: argument count and,
 * for ssh-ed25519, a share that is canonical base64 of 32 bytes. */
static int
check_stanza(const struct age_stanza *s, const char *type, struct m3_diag *d)
{
    unsigned char share[32];

    if (strcmp(type, "ssh-ed25519") == 0) {
        if (s->nargs != 2)
            return m3_diag_set(d, M3_EHEADER,
                               "malformed ssh-ed25519 stanza: %zu arguments, "
                               "expected 2",
                               s->nargs);
        return age_b64_arg_decode(s->args[1], share, sizeof(share), "ssh-ed25519 share", d);
    }
    if (s->nargs != 1)
        return m3_diag_set(d, M3_EHEADER, "malformed ssh-rsa stanza: %zu arguments, expected 1",
                           s->nargs);
    return 0;
}

bool
age_stanza_matches_key(const struct age_stanza *s, const unsigned char *wire, size_t len)
{
    const char *type = stanza_type_of(wire, len);
    char tag[AGE_SSH_TAG_LEN + 1];

    if (type == NULL || strcmp(s->type, type) != 0 || s->nargs < 1)
        return false;
    age_ssh_tag_string(wire, len, tag);
    return strcmp(s->args[0], tag) == 0;
}

int
age_ssh_find_stanza(const struct age_stanza *s, size_t n, const unsigned char *wire, size_t len,
                    size_t *index, struct m3_diag *d)
{
    const char *type = stanza_type_of(wire, len);
    char tag[AGE_SSH_TAG_LEN + 1];
    int rc;

    if (type == NULL)
        return M3_ENOMATCH;
    age_ssh_tag_string(wire, len, tag);
    for (size_t i = 0; i < n; i++) {
        if (strcmp(s[i].type, type) != 0)
            continue;
        if ((rc = check_stanza(&s[i], type, d)) != 0)
            return rc;
        if (strcmp(s[i].args[0], tag) == 0) {
            *index = i;
            return 0;
        }
    }
    return M3_ENOMATCH;
}

int
age_ssh_common_set(struct age_ssh_common *c, const unsigned char *wire, size_t len)
{
    c->wire = malloc(len);
    if (c->wire == NULL)
        return M3_ENOMEM;
    memcpy(c->wire, wire, len);
    c->wire_len = len;
    age_ssh_tag_string(wire, len, c->tag);
    return 0;
}

void
age_ssh_common_clear(struct age_ssh_common *c)
{
    free(c->wire);
    c->wire = NULL;
    c->wire_len = 0;
}

char *
age_ssh_encode_line(const unsigned char *wire, size_t len)
{
    char type[32], *b64, *line = NULL;
    size_t n;

    if (age_ssh_wire_type(wire, len, type, sizeof(type)) != 0)
        return NULL;
    if ((b64 = malloc(sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL))) == NULL)
        return NULL;
    sodium_bin2base64(b64, sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL), wire,
                      len, sodium_base64_VARIANT_ORIGINAL);
    n = strlen(type) + 1 + strlen(b64) + 1;
    if ((line = malloc(n)) != NULL)
        snprintf(line, n, "%s %s", type, b64);
    free(b64);
    return line;
}

int
age_ssh_recipient_from_wire(struct age_recipient **out, const unsigned char *wire, size_t len,
                            struct m3_diag *d)
{
    struct age_ssh_buf b = {wire, len};
    const unsigned char *pk;
    size_t pk_len;
    char type[64];

    *out = NULL;
    if (age_ssh_wire_type(wire, len, type, sizeof(type)) != 0)
        return m3_diag_set(d, M3_EINVAL, "malformed SSH public key");
    if (strcmp(type, "ssh-rsa") == 0)
        return age_ssh_rsa_recipient_from_wire(out, wire, len, d);
    if (strcmp(type, "ssh-ed25519") != 0)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "SSH key type '%s' is not supported: age can only encrypt to "
                           "ssh-ed25519 and ssh-rsa keys",
                           type);
    (void)age_ssh_get_string(&b, &pk, &pk_len);
    if (age_ssh_get_string(&b, &pk, &pk_len) != 0 || pk_len != 32 || b.len != 0)
        return m3_diag_set(d, M3_EINVAL, "malformed ssh-ed25519 public key");
    return age_ssh_ed25519_recipient_new(out, pk, d);
}

int
age_recipient_ssh_wire(const struct age_recipient *r, const unsigned char **wire, size_t *len)
{
    const struct age_ssh_common *c;

    if (r == NULL ||
        (r->ops != &age_ssh_ed25519_recipient_ops && r->ops != &age_ssh_rsa_recipient_ops))
        return M3_EINVAL;
    c = r->state;
    *wire = c->wire;
    *len = c->wire_len;
    return 0;
}

int
age_identity_ssh_wire(const struct age_identity *id, const unsigned char **wire, size_t *len)
{
    const struct age_ssh_common *c;

    if (id == NULL ||
        (id->ops != &age_ssh_ed25519_identity_ops && id->ops != &age_ssh_rsa_identity_ops))
        return M3_EINVAL;
    c = id->state;
    *wire = c->wire;
    *len = c->wire_len;
    return 0;
}
