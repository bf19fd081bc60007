/* openssh.c: OpenSSH (openssh-key-v1) and PEM RSA private keys -> age identities.
 *
 * openssh-key-v1 (OpenSSH PROTOCOL.key): "openssh-key-v1\0", string cipher, string kdf,
 * string kdfoptions, uint32 nkeys, string publickey..., string private section (encrypted
 * with the cipher when not "none"; for AEAD ciphers the tag follows the string). The private
 * section: uint32 check, uint32 check (equal: the passphrase was right), then per key the
 * type and its private fields, a comment, and padding 1, 2, 3, ... */
#include "keys/openssh.h"

#include "keys/sshlib.h"
#include "libage/cryptolib.h" /* OpenSSL, opened on first use */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

enum { FMT_OPENSSH, FMT_PEM };

struct keys_ssh_private {
    int format;
    bool encrypted;
    char type[32];
    char *text; /* secret memory, NUL-terminated: the file as given */
    size_t text_len;
    unsigned char *blob; /* the decoded openssh-key-v1 binary, in the same secret block */
    size_t blob_len, blob_cap;
    unsigned char *wire; /* public key (malloc'd), NULL when unknown */
    size_t wire_len;
    /* openssh-key-v1 fields, pointing into blob */
    char cipher[48];
    const unsigned char *salt, *priv, *auth;
    size_t salt_len, priv_len, auth_len;
    uint32_t rounds;
};

static const char openssh_begin[] = "-----BEGIN OPENSSH PRIVATE KEY-----";
static const char openssh_end[] = "-----END OPENSSH PRIVATE KEY-----";
static const char magic[] = "openssh-key-v1"; /* followed by a NUL */

struct cipher_info {
    const char *name;
    const char *evp; /* OpenSSL name */
    size_t key_len, iv_len, block, auth_len;
};

static const struct cipher_info ciphers[] = {
    {"none", NULL, 0, 0, 8, 0},
    {"aes128-ctr", "AES-128-CTR", 16, 16, 16, 0},
    {"aes192-ctr", "AES-192-CTR", 24, 16, 16, 0},
    {"aes256-ctr", "AES-256-CTR", 32, 16, 16, 0},
    {"aes128-cbc", "AES-128-CBC", 16, 16, 16, 0},
    {"aes192-cbc", "AES-192-CBC", 24, 16, 16, 0},
    {"aes256-cbc", "AES-256-CBC", 32, 16, 16, 0},
    {"aes128-gcm@openssh.com", "AES-128-GCM", 16, 12, 16, 16},
    {"aes256-gcm@openssh.com", "AES-256-GCM", 32, 12, 16, 16},
};

static const struct cipher_info *
find_cipher(const char *name)
{
    for (size_t i = 0; i < sizeof(ciphers) / sizeof(ciphers[0]); i++)
        if (strcmp(ciphers[i].name, name) == 0)
            return &ciphers[i];
    return NULL;
}

void
keys_ssh_private_free(struct keys_ssh_private *k)
{
    if (k == NULL)
        return;
    age_secret_free(k->text); /* also holds blob */
    free(k->wire);
    free(k);
}

bool
keys_ssh_private_encrypted(const struct keys_ssh_private *k)
{
    return k->encrypted;
}

const char *
keys_ssh_private_type(const struct keys_ssh_private *k)
{
    return k->type;
}

int
keys_ssh_private_wire(const struct keys_ssh_private *k, const unsigned char **wire, size_t *len)
{
    if (k->wire == NULL)
        return M3_ENOTFOUND;
    *wire = k->wire;
    *len = k->wire_len;
    return 0;
}

/* copy_name: an SSH string that must be a short printable name into out. */
static int
copy_name(const unsigned char *s, size_t n, char *out, size_t cap)
{
    if (n >= cap)
        return M3_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 33 || s[i] > 126)
            return M3_EINVAL;
    memcpy(out, s, n);
    out[n] = '\0';
    return 0;
}

/* decode_armor: the base64 between the OPENSSH PRIVATE KEY lines, into secret memory. */
static int
decode_armor(struct keys_ssh_private *k, struct m3_diag *d)
{
    const char *b = strstr(k->text, openssh_begin), *e;
    size_t cap;

    if (b == NULL || (e = strstr(b, openssh_end)) == NULL)
        return m3_diag_set(d, M3_EINVAL, "truncated OpenSSH private key (no END line)");
    b += strlen(openssh_begin);
    cap = (size_t)(e - b) / 4 * 3 + 3;
    if (cap > k->blob_cap)
        return m3_diag_set(d, M3_EINVAL, "corrupted OpenSSH private key");
    if (sodium_base642bin(k->blob, cap, b, (size_t)(e - b), " \t\r\n", &k->blob_len, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0)
        return m3_diag_set(d, M3_EINVAL, "truncated or corrupted OpenSSH private key (bad base64)");
    return 0;
}

static int
parse_openssh(struct keys_ssh_private *k, struct m3_diag *d)
{
    struct age_ssh_buf b, opts;
    const unsigned char *s, *pub;
    size_t n, pub_len;
    uint32_t nkeys;
    char kdf[32];
    const struct cipher_info *ci;
    int rc;

    if ((rc = decode_armor(k, d)) != 0)
        return rc;
    b.p = k->blob;
    b.len = k->blob_len;
    if (b.len < sizeof(magic) || memcmp(b.p, magic, sizeof(magic)) != 0)
        return m3_diag_set(d, M3_EINVAL, "corrupted OpenSSH private key (bad magic)");
    b.p += sizeof(magic);
    b.len -= sizeof(magic);
    if (age_ssh_get_string(&b, &s, &n) != 0 || copy_name(s, n, k->cipher, sizeof(k->cipher)))
        goto trunc;
    if (age_ssh_get_string(&b, &s, &n) != 0 || copy_name(s, n, kdf, sizeof(kdf)))
        goto trunc;
    if (age_ssh_get_string(&b, &opts.p, &opts.len) != 0 || age_ssh_get_u32(&b, &nkeys) != 0)
        goto trunc;
    if ((ci = find_cipher(k->cipher)) == NULL)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "OpenSSH private key encrypted with cipher '%s', which m3age does not "
                           "support",
                           k->cipher);
    k->encrypted = ci->evp != NULL;
    if (k->encrypted) {
        if (strcmp(kdf, "bcrypt") != 0)
            return m3_diag_set(d, M3_EUNSUPPORTED, "OpenSSH private key uses KDF '%s'", kdf);
        if (age_ssh_get_string(&opts, &k->salt, &k->salt_len) != 0 ||
            age_ssh_get_u32(&opts, &k->rounds) != 0 || opts.len != 0 || k->salt_len == 0 ||
            k->rounds == 0)
            goto trunc;
    } else if (strcmp(kdf, "none") != 0 || opts.len != 0) {
        goto trunc;
    }
    if (nkeys != 1)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "OpenSSH private key file holds %u keys; m3age reads one", nkeys);
    if (age_ssh_get_string(&b, &pub, &pub_len) != 0 ||
        age_ssh_wire_type(pub, pub_len, k->type, sizeof(k->type)) != 0)
        goto trunc;
    if (age_ssh_get_string(&b, &k->priv, &k->priv_len) != 0 || b.len != ci->auth_len ||
        k->priv_len % ci->block != 0)
        goto trunc;
    k->auth = b.p;
    k->auth_len = b.len;
    if (strcmp(k->type, "ssh-ed25519") != 0 && strcmp(k->type, "ssh-rsa") != 0)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s keys are not supported: age can only use ssh-ed25519 and ssh-rsa "
                           "keys",
                           k->type);
    if ((k->wire = malloc(pub_len)) == NULL)
        return M3_ENOMEM;
    memcpy(k->wire, pub, pub_len);
    k->wire_len = pub_len;
    return 0;
trunc:
    return m3_diag_set(d, M3_EINVAL, "truncated or corrupted OpenSSH private key");
}

/* parse_pem: PEM RSA keys through OpenSSL; an unencrypted one is read now for its public key. */
static int
parse_pem(struct keys_ssh_private *k, struct m3_diag *d)
{
    struct age_identity *id = NULL;
    const unsigned char *wire;
    size_t len;
    int rc;

    k->format = FMT_PEM;
    strcpy(k->type, "ssh-rsa");
    if (strstr(k->text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL ||
        (strstr(k->text, "-----BEGIN RSA PRIVATE KEY-----") != NULL &&
         strstr(k->text, "Proc-Type: 4,ENCRYPTED") != NULL)) {
        k->encrypted = true;
        return 0;
    }
    if ((rc = keys_ssh_private_identity(k, NULL, &id, d)) != 0)
        return rc;
    rc = age_identity_ssh_wire(id, &wire, &len);
    if (rc == 0 && (k->wire = malloc(len)) == NULL)
        rc = M3_ENOMEM;
    if (rc == 0) {
        memcpy(k->wire, wire, len);
        k->wire_len = len;
    }
    age_identity_free(id);
    return rc;
}

int
keys_ssh_private_parse(struct keys_ssh_private **out, const char *text, size_t len,
                       struct m3_diag *d)
{
    struct keys_ssh_private *k;
    int rc = M3_ENOMEM;

    *out = NULL;
    if ((k = calloc(1, sizeof(*k))) == NULL)
        return M3_ENOMEM;
    /* One block of secret memory for the text and its decoding (sodium_malloc is costly). */
    k->blob_cap = len / 4 * 3 + 3;
    if ((k->text = age_secret_alloc(len + 1 + k->blob_cap)) == NULL)
        goto fail;
    k->blob = (unsigned char *)k->text + len + 1;
    memcpy(k->text, text, len);
    k->text[len] = '\0';
    k->text_len = len;
    if (strlen(k->text) != len) {
        rc = m3_diag_set(d, M3_EINVAL, "not a private key (binary data)");
        goto fail;
    }
    if (strstr(k->text, openssh_begin) != NULL)
        rc = parse_openssh(k, d);
    else if (strstr(k->text, "-----BEGIN RSA PRIVATE KEY-----") != NULL ||
             strstr(k->text, "-----BEGIN PRIVATE KEY-----") != NULL ||
             strstr(k->text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL)
        rc = parse_pem(k, d);
    else
        rc = m3_diag_set(d, M3_EINVAL, "not an OpenSSH or PEM private key");
    if (rc != 0)
        goto fail;
    *out = k;
    return 0;
fail:
    keys_ssh_private_free(k);
    return rc;
}

/* ---- decryption --------------------------------------------------------------------- */

static int
decrypt_section(const struct keys_ssh_private *k, const char *pass, unsigned char *plain,
                struct m3_diag *d)
{
    const struct cipher_info *ci = find_cipher(k->cipher);
    EVP_CIPHER_CTX *ctx = NULL;
    EVP_CIPHER *cipher = NULL;
    unsigned char *kiv = NULL;
    int n1 = 0, n2 = 0, rc = M3_ENOMEM;

    if (!k->encrypted) {
        memcpy(plain, k->priv, k->priv_len);
        return 0;
    }
    if (pass == NULL)
        return m3_diag_set(d, M3_EPASSPHRASE, "the key is protected by a passphrase");
    if ((rc = m3_crypto_load(d)) != 0) /* before anything `out` would free with it */
        return rc;
    if ((kiv = age_secret_alloc(ci->key_len + ci->iv_len)) == NULL)
        goto out;
    if ((rc = keys_bcrypt_pbkdf(pass, strlen(pass), k->salt, k->salt_len, k->rounds, kiv,
                                ci->key_len + ci->iv_len)) != 0)
        goto out;
    rc = M3_ENOMEM;
    if ((cipher = EVP_CIPHER_fetch(NULL, ci->evp, NULL)) == NULL ||
        (ctx = EVP_CIPHER_CTX_new()) == NULL ||
        EVP_DecryptInit_ex2(ctx, cipher, kiv, kiv + ci->key_len, NULL) != 1 ||
        EVP_CIPHER_CTX_set_padding(ctx, 0) != 1)
        goto out;
    if (ci->auth_len != 0 &&
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, (int)ci->auth_len, (void *)k->auth) != 1)
        goto out;
    if (EVP_DecryptUpdate(ctx, plain, &n1, k->priv, (int)k->priv_len) != 1 ||
        EVP_DecryptFinal_ex(ctx, plain + n1, &n2) != 1) {
        rc = m3_diag_set(d, M3_EPASSPHRASE, "incorrect passphrase");
        goto out;
    }
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    EVP_CIPHER_free(cipher);
    age_secret_free(kiv);
    return rc;
}

/* get_mpint: an SSH mpint that must be non-negative; *s keeps any leading zero byte. */
static int
get_mpint(struct age_ssh_buf *b, const unsigned char **s, size_t *n)
{
    if (age_ssh_get_string(b, s, n) != 0 || *n == 0 || ((*s)[0] & 0x80))
        return M3_EINVAL;
    return 0;
}

/* parse_section: the decrypted private section -> identity (and the ed25519 seed). */
static int
parse_section(const struct keys_ssh_private *k, const unsigned char *plain, size_t len,
              struct age_identity **out, unsigned char *seed_out, struct m3_diag *d)
{
    struct age_ssh_buf b = {plain, len}, pb = {k->wire, k->wire_len};
    struct age_ssh_rsa_components c = {0};
    const unsigned char *pk, *sk, *pe, *pn, *comment;
    size_t pk_len, sk_len, pe_len, pn_len, comment_len;
    uint32_t check1, check2;
    int rc;

    if (age_ssh_get_u32(&b, &check1) != 0 || age_ssh_get_u32(&b, &check2) != 0)
        goto corrupt;
    if (check1 != check2)
        return k->encrypted ? m3_diag_set(d, M3_EPASSPHRASE, "incorrect passphrase")
                            : m3_diag_set(d, M3_EINVAL, "corrupted OpenSSH private key");
    if (age_ssh_get_cstring(&b, k->type) != 0)
        goto corrupt;
    (void)age_ssh_get_string(&pb, &pe, &pe_len); /* the type, checked at parse time */
    if (strcmp(k->type, "ssh-ed25519") == 0) {
        if (age_ssh_get_string(&b, &pk, &pk_len) != 0 || pk_len != 32 ||
            age_ssh_get_string(&b, &sk, &sk_len) != 0 || sk_len != 64 ||
            age_ssh_get_string(&pb, &pn, &pn_len) != 0 || pn_len != 32 || memcmp(pk, pn, 32) != 0 ||
            memcmp(sk + 32, pk, 32) != 0)
            goto corrupt;
    } else {
        if (get_mpint(&b, &c.n, &c.n_len) || get_mpint(&b, &c.e, &c.e_len) ||
            get_mpint(&b, &c.d, &c.d_len) || get_mpint(&b, &c.iqmp, &c.iqmp_len) ||
            get_mpint(&b, &c.p, &c.p_len) || get_mpint(&b, &c.q, &c.q_len))
            goto corrupt;
        /* The private half must be for the public key the file announces. */
        if (age_ssh_get_string(&pb, &pe, &pe_len) != 0 ||
            age_ssh_get_string(&pb, &pn, &pn_len) != 0 || pe_len != c.e_len || pn_len != c.n_len ||
            memcmp(pe, c.e, pe_len) != 0 || memcmp(pn, c.n, pn_len) != 0)
            goto corrupt;
    }
    if (age_ssh_get_string(&b, &comment, &comment_len) != 0)
        goto corrupt;
    for (size_t i = 0; i < b.len; i++)
        if (b.p[i] != (unsigned char)(i + 1))
            goto corrupt;
    if (strcmp(k->type, "ssh-ed25519") == 0) {
        if (seed_out != NULL)
            memcpy(seed_out, sk, 32);
        if (out == NULL)
            return 0;
        rc = age_ssh_ed25519_identity_new(out, sk, pk, d);
    } else {
        if (seed_out != NULL)
            return m3_diag_set(d, M3_EUNSUPPORTED, "not an ssh-ed25519 key");
        rc = age_ssh_rsa_identity_new(out, &c, d);
    }
    return rc;
corrupt:
    return m3_diag_set(d, M3_EINVAL, "corrupted OpenSSH private key (private section)");
}

static int
openssh_native(const struct keys_ssh_private *k, const char *pass, struct age_identity **out,
               unsigned char *seed, struct m3_diag *d)
{
    unsigned char *plain;
    int rc;

    if (!k->encrypted) /* already in secret memory */
        return parse_section(k, k->priv, k->priv_len, out, seed, d);
    if ((plain = age_secret_alloc(k->priv_len)) == NULL)
        return M3_ENOMEM;
    if ((rc = decrypt_section(k, pass, plain, d)) == 0)
        rc = parse_section(k, plain, k->priv_len, out, seed, d);
    age_secret_free(plain);
    return rc;
}

/* openssh_libssh: passphrase-protected ed25519 keys are opened by libssh, which re-exports
 * them unencrypted; the seed is then read from that plain openssh-key-v1 text. */
static int
openssh_libssh(const struct keys_ssh_private *k, const char *pass, struct age_identity **out,
               unsigned char *seed, struct m3_diag *d)
{
    struct keys_ssh_private *plain = NULL;
    ssh_key key = NULL;
    char *text = NULL;
    int rc;

    if (pass == NULL)
        return m3_diag_set(d, M3_EPASSPHRASE, "the key is protected by a passphrase");
    if ((rc = m3_sshlib_load(d)) != 0)
        return rc;
    if (ssh_pki_import_privkey_base64(k->text, pass, NULL, NULL, &key) != SSH_OK)
        return m3_diag_set(d, M3_EPASSPHRASE, "incorrect passphrase");
    if (ssh_pki_export_privkey_base64(key, NULL, NULL, NULL, &text) != SSH_OK) {
        rc = m3_diag_set(d, M3_EINVAL, "libssh could not re-export the key");
        goto out;
    }
    if ((rc = keys_ssh_private_parse(&plain, text, strlen(text), d)) != 0)
        goto out;
    /* The re-exported key must be the one the file announced. */
    if (plain->wire_len != k->wire_len || memcmp(plain->wire, k->wire, k->wire_len) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "corrupted OpenSSH private key (public key mismatch)");
        goto out;
    }
    rc = openssh_native(plain, NULL, out, seed, d);
out:
    if (text != NULL) {
        sodium_memzero(text, strlen(text));
        ssh_string_free_char(text);
    }
    keys_ssh_private_free(plain);
    ssh_key_free(key);
    return rc;
}

static int
pem_pass_cb(char *buf, int size, int rwflag, void *u)
{
    const char *pass = u;
    size_t n;

    if (pass == NULL)
        return -1;
    n = strlen(pass);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, pass, n);
    return (int)n;
}

static int
pem_identity(const struct keys_ssh_private *k, const char *pass, struct age_identity **out,
             struct m3_diag *d)
{
    BIO *bio;
    EVP_PKEY *pkey = NULL;
    int rc;

    if ((rc = m3_crypto_load(d)) != 0)
        return rc;
    if ((bio = BIO_new_mem_buf(k->text, (int)k->text_len)) == NULL)
        return M3_ENOMEM;
    if (k->encrypted && pass == NULL) {
        rc = m3_diag_set(d, M3_EPASSPHRASE, "the key is protected by a passphrase");
        goto out;
    }
    pkey = PEM_read_bio_PrivateKey(bio, NULL, pem_pass_cb, (void *)pass);
    if (pkey == NULL) {
        rc = k->encrypted ? m3_diag_set(d, M3_EPASSPHRASE, "incorrect passphrase")
                          : m3_diag_set(d, M3_EINVAL, "corrupted PEM private key");
        goto out;
    }
    rc = age_ssh_rsa_identity_from_pkey(out, pkey, d);
out:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return rc;
}

/* use_libssh: libssh decrypts ed25519 keys but cannot give back RSA keys from this format,
 * and libssh 0.10.6 crashes on aes*-gcm@openssh.com key files: those are decrypted here. */
static bool
use_libssh(const struct keys_ssh_private *k)
{
    return k->encrypted && strcmp(k->type, "ssh-ed25519") == 0 && strstr(k->cipher, "gcm") == NULL;
}

int
keys_ssh_private_identity_native(const struct keys_ssh_private *k, const char *passphrase,
                                 struct age_identity **out, struct m3_diag *d)
{
    *out = NULL;
    if (k->format != FMT_OPENSSH)
        return M3_EINVAL;
    return openssh_native(k, passphrase, out, NULL, d);
}

int
keys_ssh_private_identity(const struct keys_ssh_private *k, const char *passphrase,
                          struct age_identity **out, struct m3_diag *d)
{
    *out = NULL;
    if (k->format == FMT_PEM)
        return pem_identity(k, passphrase, out, d);
    if (use_libssh(k))
        return openssh_libssh(k, passphrase, out, NULL, d);
    return openssh_native(k, passphrase, out, NULL, d);
}

int
keys_ssh_private_ed25519_seed(const struct keys_ssh_private *k, const char *passphrase,
                              unsigned char seed[32], unsigned char pk[32], struct m3_diag *d)
{
    int rc;

    if (k->format != FMT_OPENSSH || strcmp(k->type, "ssh-ed25519") != 0)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "%s keys cannot be converted to age keys (only "
                           "ssh-ed25519)",
                           k->type);
    if (use_libssh(k))
        rc = openssh_libssh(k, passphrase, NULL, seed, d);
    else
        rc = openssh_native(k, NULL, NULL, seed, d);
    if (rc == 0)
        memcpy(pk, k->wire + 19, 32);
    return rc;
}
