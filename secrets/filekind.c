/* filekind.c: what a file that is not age is (see filekind.h). Magic numbers: OpenPGP packet
 * headers (RFC 9580 section 4.2), `openssl enc`'s "Salted__", git-crypt's "\0GITCRYPT\0",
 * sops' ENC[AES256_GCM,...] values and its metadata key. */
#include "secrets/filekind.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static bool
has(const unsigned char *buf, size_t len, const char *needle)
{
    return memmem(buf, len, needle, strlen(needle)) != NULL;
}

static bool
starts(const unsigned char *buf, size_t len, const char *magic, size_t n)
{
    return len >= n && memcmp(buf, magic, n) == 0;
}

/* at_line_start: needle occurs at the start of a line. */
static bool
at_line_start(const unsigned char *buf, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    const unsigned char *p = buf, *end = buf + len;

    while ((p = memmem(p, (size_t)(end - p), needle, n)) != NULL) {
        if (p == buf || p[-1] == '\n')
            return true;
        p++;
    }
    return false;
}

/* private_key: a PEM/OpenSSH/PGP private key block, an age identity, or a token with a
 * well-known issuer prefix. */
static bool
private_key(const unsigned char *buf, size_t len)
{
    const unsigned char *p = buf, *end = buf + len;
    static const char *const tokens[] = {"AGE-SECRET-KEY-1", "ghp_",  "github_pat_",
                                         "glpat-",           "xoxb-", "xoxp-"};

    while ((p = memmem(p, (size_t)(end - p), "-----BEGIN ", 11)) != NULL) {
        const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (memmem(p, l, "PRIVATE KEY", 11) != NULL)
            return true;
        p += 11;
    }
    for (size_t i = 0; i < sizeof(tokens) / sizeof(tokens[0]); i++)
        if (has(buf, len, tokens[i]))
            return true;
    /* an AWS access key id: AKIA and 16 capitals or digits */
    for (p = buf; (p = memmem(p, (size_t)(end - p), "AKIA", 4)) != NULL; p++) {
        size_t k = 4;
        while (p + k < end && k < 20 && (isupper(p[k]) || isdigit(p[k])))
            k++;
        if (k == 20 && (p + k == end || !isalnum(p[k])))
            return true;
    }
    return false;
}

/* assigns_secret: a line NAME=VALUE or NAME: VALUE whose name says password, secret, token
 * or key and whose value is a literal of 8 characters or more (not $VAR, not a placeholder). */
static bool
assigns_secret(const unsigned char *buf, size_t len)
{
    static const char *const words[] = {"password", "passwd",  "secret",     "token",
                                        "apikey",   "api_key", "private_key"};
    size_t i = 0;

    while (i < len) {
        size_t e = i, eq;
        while (e < len && buf[e] != '\n')
            e++;
        for (eq = i; eq < e && buf[eq] != '=' && buf[eq] != ':'; eq++)
            ;
        if (eq < e && eq > i) {
            char name[64];
            size_t nl = eq - i < sizeof(name) - 1 ? eq - i : sizeof(name) - 1, v = eq + 1;
            bool named = false;
            for (size_t k = 0; k < nl; k++)
                name[k] = (char)tolower(buf[i + k]);
            name[nl] = '\0';
            for (size_t k = 0; k < sizeof(words) / sizeof(words[0]) && !named; k++)
                named = strstr(name, words[k]) != NULL;
            while (v < e && (buf[v] == ' ' || buf[v] == '\t' || buf[v] == '"' || buf[v] == '\''))
                v++;
            size_t vl = 0;
            while (v + vl < e && !isspace(buf[v + vl]) && buf[v + vl] != '"' && buf[v + vl] != '\'')
                vl++;
            if (named && vl >= 8 && buf[v] != '$' && buf[v] != '<' && buf[v] != '{' &&
                buf[v] != '(' && buf[v] != '%')
                return true;
        }
        i = e + 1;
    }
    return false;
}

/* pgp_packet: the first byte is an OpenPGP packet header of tag 1 (public-key encrypted
 * session key) or 3 (symmetric-key encrypted session key): what gpg -e / -c write first;
 * 6 (public key) sets *pub. */
static bool
pgp_packet(const unsigned char *buf, size_t len, bool *pub)
{
    unsigned tag;

    *pub = false;
    if (len < 2 || !(buf[0] & 0x80))
        return false;
    tag = (buf[0] & 0x40) ? (buf[0] & 0x3fu) : ((buf[0] >> 2) & 0x0fu);
    *pub = tag == 6;
    return tag == 1 || tag == 3 || tag == 6;
}

static bool
ssh_key_type(const char *t, size_t n)
{
    static const char *const pre[] = {"ssh-", "ecdsa-sha2-", "sk-ssh-", "sk-ecdsa-"};

    for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
        if (n > strlen(pre[i]) && strncmp(t, pre[i], strlen(pre[i])) == 0)
            return true;
    return false;
}

/* public_keys: every line is blank, a # comment, an OpenSSH public key line (with the
 * options of authorized_keys or the host patterns of known_hosts before it) or an age
 * recipient. Returns the kind, or SECRETS_FILE_UNKNOWN. */
static enum secrets_file_kind
public_keys(const unsigned char *buf, size_t len)
{
    size_t i = 0, nssh = 0, nage = 0;

    if (memchr(buf, '\0', len) != NULL)
        return SECRETS_FILE_UNKNOWN;
    while (i < len) {
        size_t e = i, s;
        bool ok = false;
        while (e < len && buf[e] != '\n')
            e++;
        for (s = i; s < e && isspace(buf[s]); s++)
            ;
        if (s == e || buf[s] == '#') {
            i = e + 1;
            continue;
        }
        /* age1 and bech32 lower-case letters and digits only */
        if (e - s >= 60 && memcmp(buf + s, "age1", 4) == 0) {
            size_t k = s;
            while (k < e && (islower(buf[k]) || isdigit(buf[k])))
                k++;
            while (k < e && isspace(buf[k]))
                k++;
            if (k == e) {
                nage++;
                ok = true;
            }
        }
        /* a key type token followed by base64 that starts "AAAA" */
        for (size_t k = s; k < e && !ok;) {
            size_t t = k, tl;
            while (t < e && !isspace(buf[t]))
                t++;
            tl = t - k;
            while (t < e && isspace(buf[t]))
                t++;
            if (ssh_key_type((const char *)buf + k, tl) && e - t > 4 &&
                memcmp(buf + t, "AAAA", 4) == 0) {
                nssh++;
                ok = true;
            }
            k = t;
        }
        if (!ok)
            return SECRETS_FILE_UNKNOWN;
        i = e + 1;
    }
    return nssh > 0 ? SECRETS_FILE_SSH_PUB : nage > 0 ? SECRETS_FILE_AGE_PUB : SECRETS_FILE_UNKNOWN;
}

static bool
ends_with(const char *name, const char *suffix)
{
    size_t n = strlen(name), s = strlen(suffix);
    return n > s && strcasecmp(name + n - s, suffix) == 0;
}

static bool
script_name(const char *name)
{
    return ends_with(name, ".sh") || ends_with(name, ".bash") || ends_with(name, ".fish");
}

/* build_file: a justfile or Makefile (they run commands, and may carry a password). */
static bool
build_file(const char *name)
{
    return strcasecmp(name, "justfile") == 0 || strcasecmp(name, ".justfile") == 0 ||
           strcasecmp(name, "makefile") == 0 || strcasecmp(name, "gnumakefile") == 0 ||
           ends_with(name, ".just") || ends_with(name, ".mk");
}

static bool
doc_name(const char *name)
{
    static const char *const exact[] = {".gitignore", ".gitattributes", ".gitkeep",
                                        ".keep",      ".sops.yaml",     ".sops.yml"};
    static const char *const suffix[] = {".md", ".rst", ".example", ".sample", ".template", ".nix"};

    if (strncasecmp(name, "readme", 6) == 0 || strncasecmp(name, "license", 7) == 0)
        return true;
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
        if (strcmp(name, exact[i]) == 0)
            return true;
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++)
        if (ends_with(name, suffix[i]))
            return true;
    return false;
}

enum secrets_file_kind
secrets_file_kind(const char *name, const unsigned char *buf, size_t len)
{
    enum secrets_file_kind k;
    bool pub = false;

    if (private_key(buf, len))
        return SECRETS_FILE_SECRET;
    if (starts(buf, len, "\0GITCRYPT\0", 10))
        return SECRETS_FILE_GITCRYPT;
    if (starts(buf, len, "Salted__", 8) || starts(buf, len, "U2FsdGVkX1", 10))
        return SECRETS_FILE_OPENSSL;
    if (has(buf, len, "-----BEGIN PGP MESSAGE-----"))
        return SECRETS_FILE_PGP;
    if (has(buf, len, "-----BEGIN PGP PUBLIC KEY BLOCK-----"))
        return SECRETS_FILE_PGP_PUB;
    if (pgp_packet(buf, len, &pub))
        return pub ? SECRETS_FILE_PGP_PUB : SECRETS_FILE_PGP;
    if (has(buf, len, "ENC[AES256_GCM,") &&
        (at_line_start(buf, len, "sops:") || has(buf, len, "\"sops\":") ||
         at_line_start(buf, len, "sops_version=") || at_line_start(buf, len, "sops_mac=") ||
         at_line_start(buf, len, "[sops]")))
        return SECRETS_FILE_SOPS;
    if ((k = public_keys(buf, len)) != SECRETS_FILE_UNKNOWN)
        return k;
    if (starts(buf, len, "#!", 2) || script_name(name) || build_file(name))
        return assigns_secret(buf, len) ? SECRETS_FILE_SECRET
               : build_file(name)       ? SECRETS_FILE_REPO
                                        : SECRETS_FILE_SCRIPT;
    if (doc_name(name))
        return SECRETS_FILE_REPO;
    return SECRETS_FILE_UNKNOWN;
}

int
secrets_file_kind_encrypted(enum secrets_file_kind kind)
{
    return kind == SECRETS_FILE_PGP || kind == SECRETS_FILE_OPENSSL ||
           kind == SECRETS_FILE_GITCRYPT || kind == SECRETS_FILE_SOPS;
}

const char *
secrets_file_kind_desc(enum secrets_file_kind kind)
{
    switch (kind) {
    case SECRETS_FILE_SECRET:
        return "a private key or credential in clear";
    case SECRETS_FILE_SSH_PUB:
        return "OpenSSH public key(s)";
    case SECRETS_FILE_AGE_PUB:
        return "age public key(s)";
    case SECRETS_FILE_PGP_PUB:
        return "an OpenPGP public key";
    case SECRETS_FILE_PGP:
        return "encrypted with OpenPGP";
    case SECRETS_FILE_OPENSSL:
        return "encrypted with 'openssl enc'";
    case SECRETS_FILE_GITCRYPT:
        return "encrypted by git-crypt";
    case SECRETS_FILE_SOPS:
        return "encrypted by sops";
    case SECRETS_FILE_SCRIPT:
        return "a script";
    case SECRETS_FILE_REPO:
        return "a repository file (build recipe, documentation, example or template)";
    case SECRETS_FILE_UNKNOWN:
        break;
    }
    return "not a known kind";
}
