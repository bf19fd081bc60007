/* ssh_public.c: SSH public key lines as found in *.pub files and authorized_keys:
 * "[options] TYPE BASE64 [comment]". */
#include "keys/openssh.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *prefix;
    const char *what;
} unsupported[] = {
    {"ssh-dss", "DSA (ssh-dss)"},
    {"ecdsa-sha2-", "ECDSA"},
    {"sk-ssh-ed25519", "FIDO security key (sk-ssh-ed25519)"},
    {"sk-ecdsa-sha2-", "FIDO security key (sk-ecdsa)"},
    {"ssh-ed25519-cert-v01@openssh.com", "OpenSSH certificate"},
    {"ssh-rsa-cert-v01@openssh.com", "OpenSSH certificate"},
    {"ssh-ed448", "Ed448"},
};

const char *
keys_ssh_type_unsupported(const char *word)
{
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (strncmp(word, unsupported[i].prefix, strlen(unsupported[i].prefix)) == 0)
            return unsupported[i].what;
    return NULL;
}

/* is_type_word: true when the token of length n names an SSH key type (so it is not an
 * authorized_keys option list). */
static bool
is_type_word(const char *s, size_t n)
{
    char w[64];

    if (n == 0 || n >= sizeof(w))
        return false;
    memcpy(w, s, n);
    w[n] = '\0';
    return strcmp(w, "ssh-ed25519") == 0 || strcmp(w, "ssh-rsa") == 0 ||
           keys_ssh_type_unsupported(w) != NULL;
}

/* token: the next whitespace-separated token from *p; double quotes (with backslash escapes)
 * may hold spaces, as in authorized_keys options like command="a b". */
static const char *
token(const char **p, size_t *n)
{
    const char *s = *p, *start;
    bool quoted = false;

    while (*s == ' ' || *s == '\t')
        s++;
    start = s;
    for (; *s != '\0'; s++) {
        if (quoted && *s == '\\' && s[1] != '\0') {
            s++;
            continue;
        }
        if (*s == '"')
            quoted = !quoted;
        else if (!quoted && (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n'))
            break;
    }
    *n = (size_t)(s - start);
    *p = s;
    return start;
}

int
keys_ssh_public_parse(const char *line, unsigned char **wire, size_t *len, struct m3_diag *d)
{
    const char *p = line, *type, *b64;
    size_t type_len, b64_len, cap, n = 0;
    char wtype[64];
    unsigned char *buf;

    *wire = NULL;
    type = token(&p, &type_len);
    if (!is_type_word(type, type_len)) /* authorized_keys options come first */
        type = token(&p, &type_len);
    if (!is_type_word(type, type_len))
        return M3_ENOMATCH;
    b64 = token(&p, &b64_len);
    if (b64_len == 0)
        return m3_diag_set(d, M3_EINVAL, "SSH public key line has no key after '%.*s'",
                           (int)type_len, type);
    cap = b64_len / 4 * 3 + 3;
    if ((buf = malloc(cap)) == NULL)
        return M3_ENOMEM;
    if (sodium_base642bin(buf, cap, b64, b64_len, NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) !=
        0) {
        free(buf);
        return m3_diag_set(d, M3_EINVAL, "SSH public key has invalid base64");
    }
    if (age_ssh_wire_type(buf, n, wtype, sizeof(wtype)) != 0 || strlen(wtype) != type_len ||
        memcmp(wtype, type, type_len) != 0) {
        free(buf);
        return m3_diag_set(d, M3_EINVAL, "SSH public key is corrupted (its type is not '%.*s')",
                           (int)type_len, type);
    }
    *wire = buf;
    *len = n;
    return 0;
}
