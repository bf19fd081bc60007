/* agekeys.c: age recipient strings, recipients files and age identity files. */
#include "keys/keys.h"
#include "keys/openssh.h"
#include "libage/internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEYFILE_MAX (1u << 20)

int
keys_read_file(const char *path, size_t max, char **out, size_t *len, struct m3_diag *d)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *buf = NULL, *bigger;
    size_t n = 0, cap;
    int rc = 0;

    *out = NULL;
    if (fd < 0)
        return m3_diag_set(d, M3_EIO, "%s", strerror(errno));
    if (fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
        rc = m3_diag_set(d, M3_EIO, "is a directory");
        goto out;
    }
    /* Secret memory is costly (locked pages): size it to the file, growing for pipes. */
    cap = S_ISREG(st.st_mode) && (size_t)st.st_size < max ? (size_t)st.st_size + 1 : 4096;
    if (cap > max + 1)
        cap = max + 1;
    if ((buf = age_secret_alloc(cap)) == NULL) {
        rc = M3_ENOMEM;
        goto out;
    }
    for (;;) {
        ssize_t r;
        if (n == cap - 1) {
            if (n >= max) {
                rc = m3_diag_set(d, M3_EINVAL, "file is larger than %zu bytes", max);
                goto out;
            }
            cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            if ((bigger = age_secret_alloc(cap)) == NULL) {
                rc = M3_ENOMEM;
                goto out;
            }
            memcpy(bigger, buf, n);
            age_secret_free(buf);
            buf = bigger;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = m3_diag_set(d, M3_EIO, "%s", strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    buf = NULL;
out:
    age_secret_free(buf);
    close(fd);
    return rc;
}

static int
push(void ***v, size_t *n, size_t *cap, void *item)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        void **nv = realloc(*v, nc * sizeof(void *));
        if (nv == NULL)
            return M3_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = item;
    return 0;
}

int
keys_recipient_parse(struct age_recipient **out, const char *s, struct m3_diag *d)
{
    unsigned char *wire;
    size_t len;
    int rc;

    *out = NULL;
    if (strncmp(s, "age1pq1", 7) == 0)
        return age_pq_recipient_parse(out, s, d);
    /* the tagged types are native (c2sp.org/age), though written as plugin recipients */
    if (strncmp(s, "age1tag1", 8) == 0 || strncmp(s, "age1tagpq1", 10) == 0)
        return age_tag_recipient_parse(out, s, d);
    {
        struct keys_plugin_key pk;
        rc = keys_plugin_parse(s, &pk, d);
        if (rc == 0)
            return keys_plugin_recipient_new(out, s, pk.plugin, d);
        if (rc != M3_ENOMATCH)
            return rc;
    }
    if (strncmp(s, "age1", 4) == 0)
        return age_x25519_recipient_parse(out, s, d);
    if (strncmp(s, "AGE-SECRET-KEY-", 15) == 0)
        return m3_diag_set(d, M3_EINVAL,
                           "this is a secret key, not a recipient (use 'm3age keygen -y' to get "
                           "its recipient)");
    if (strncmp(s, "-----BEGIN", 10) == 0)
        return m3_diag_set(d, M3_EINVAL,
                           "this is a private key file, not a recipient (use "
                           "'m3age keygen -y FILE' to get its recipient)");
    rc = keys_ssh_public_parse(s, &wire, &len, d);
    if (rc == 0) {
        rc = age_ssh_recipient_from_wire(out, wire, len, d);
        free(wire);
        return rc;
    }
    if (rc != M3_ENOMATCH)
        return rc;
    return m3_diag_set(d, M3_EUNSUPPORTED, "unknown recipient type '%.40s'", s);
}

int
keys_recipients_add(struct keys_recipients *l, const char *s, struct m3_diag *d)
{
    struct age_recipient *r;
    int rc;

    if ((rc = keys_recipient_parse(&r, s, d)) != 0)
        return rc;
    if ((rc = push((void ***)&l->v, &l->n, &l->cap, r)) != 0)
        age_recipient_free(r);
    return rc;
}

/* next_line: yields lines of buf (without the newline, CR trimmed) into a malloc'd copy. */
static char *
line_at(const char *buf, size_t len, size_t *pos)
{
    size_t start = *pos, end;
    char *line;

    if (start >= len)
        return NULL;
    end = start;
    while (end < len && buf[end] != '\n')
        end++;
    *pos = end < len ? end + 1 : end;
    if (end > start && buf[end - 1] == '\r')
        end--;
    if ((line = age_secret_alloc(end - start + 1)) == NULL)
        return NULL;
    memcpy(line, buf + start, end - start);
    line[end - start] = '\0';
    return line;
}

static char *
trim(char *s)
{
    char *e;

    while (*s == ' ' || *s == '\t')
        s++;
    e = s + strlen(s);
    while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
        *--e = '\0';
    return s;
}

int
keys_recipients_parse_buf(struct keys_recipients *l, const char *buf, size_t len, struct m3_diag *d)
{
    size_t pos = 0;
    unsigned lineno = 0;
    char *line;
    int rc = 0;

    while (pos < len) {
        char *t;
        lineno++;
        if ((line = line_at(buf, len, &pos)) == NULL)
            return M3_ENOMEM;
        t = trim(line);
        if (*t != '\0' && *t != '#' && (rc = keys_recipients_add(l, t, d)) != 0) {
            if (d != NULL)
                d->line = lineno;
            age_secret_free(line);
            return rc;
        }
        age_secret_free(line);
    }
    return 0;
}

int
keys_recipients_load_file(struct keys_recipients *l, const char *path, struct m3_diag *d)
{
    char *buf;
    size_t len;
    int rc;

    if ((rc = keys_read_file(path, KEYFILE_MAX, &buf, &len, d)) != 0)
        return rc;
    rc = keys_recipients_parse_buf(l, buf, len, d);
    age_secret_free(buf);
    return rc;
}

int
keys_recipients_push(struct keys_recipients *l, struct age_recipient *r)
{
    return push((void ***)&l->v, &l->n, &l->cap, r);
}

void
keys_recipients_clear(struct keys_recipients *l)
{
    for (size_t i = 0; i < l->n; i++)
        age_recipient_free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}

int
keys_identities_push(struct keys_identities *l, struct age_identity *id)
{
    return push((void ***)&l->v, &l->n, &l->cap, id);
}

/* is_public_line: an SSH public key line (any type, options allowed). */
static bool
is_public_line(const char *t)
{
    unsigned char *wire = NULL;
    size_t len;
    int rc = keys_ssh_public_parse(t, &wire, &len, NULL);

    free(wire);
    return rc != M3_ENOMATCH || strncmp(t, "ssh-", 4) == 0;
}

/* parse_pem_file: a file of "-----BEGIN ..." blocks: one SSH or PEM private key. */
static int
parse_pem_file(struct keys_identities *l, const char *buf, size_t len, const char *name,
               age_passphrase_fn cb, void *cb_ctx, struct m3_diag *d)
{
    struct age_identity *id;
    int rc;

    if (memmem(buf, len, "-----BEGIN AGE ENCRYPTED FILE-----", 34) != NULL)
        return m3_diag_set(d, M3_EUNSUPPORTED,
                           "passphrase-protected age identity files are not supported");
    if (memmem(buf, len, "PUBLIC KEY-----", 15) != NULL)
        return m3_diag_set(d, M3_EINVAL, "this is a public key, not a private key (identity)");
    if ((rc = keys_ssh_identity_parse(&id, buf, len, name, cb, cb_ctx, d)) != 0)
        return rc;
    if ((rc = keys_identities_push(l, id)) != 0)
        age_identity_free(id);
    return rc;
}

int
keys_identities_parse_buf(struct keys_identities *l, const char *buf, size_t len, const char *name,
                          age_passphrase_fn cb, void *cb_ctx, struct m3_diag *d)
{
    size_t pos = 0, before = l->n;
    unsigned lineno = 0;
    char *line;
    int rc = 0;

    while (pos < len &&
           (buf[pos] == ' ' || buf[pos] == '\t' || buf[pos] == '\r' || buf[pos] == '\n'))
        pos++;
    if (len - pos >= 10 && memcmp(buf + pos, "-----BEGIN", 10) == 0)
        return parse_pem_file(l, buf, len, name, cb, cb_ctx, d);
    if (len - pos >= 10 && memcmp(buf + pos, "---- BEGIN SSH2 PUBLIC KEY", 10) == 0)
        return m3_diag_set(d, M3_EINVAL,
                           "this is an SSH public key, not a private key "
                           "(identity)");
    pos = 0;
    while (pos < len) {
        struct age_identity *id;
        char *t;
        lineno++;
        if ((line = line_at(buf, len, &pos)) == NULL)
            return M3_ENOMEM;
        t = trim(line);
        if (*t == '\0' || *t == '#') {
            age_secret_free(line);
            continue;
        }
        if (strncmp(t, "age1", 4) == 0 || is_public_line(t))
            rc = m3_diag_set(d, M3_EINVAL, "this is a public key, not a private key (identity)%s",
                             strncmp(t, "age1", 4) == 0 ? ""
                                                        : "; give the private key file, "
                                                          "without .pub");
        else if (strncmp(t, "AGE-SECRET-KEY-PQ-1", 19) == 0)
            rc = age_pq_identity_parse(&id, t, d);
        else if (strncmp(t, "AGE-PLUGIN-", 11) == 0)
            rc = keys_plugin_identity_parse(&id, t, d);
        else
            rc = age_x25519_identity_parse(&id, t, d);
        age_secret_free(line);
        if (rc == 0 && (rc = keys_identities_push(l, id)) != 0)
            age_identity_free(id);
        if (rc != 0) {
            if (d != NULL)
                d->line = lineno;
            return rc;
        }
    }
    if (l->n == before)
        return m3_diag_set(d, M3_EINVAL, "no identities found");
    return 0;
}

int
keys_identities_load_file(struct keys_identities *l, const char *path, age_passphrase_fn cb,
                          void *cb_ctx, struct m3_diag *d)
{
    char *buf;
    size_t len;
    int rc;

    if ((rc = keys_read_file(path, KEYFILE_MAX, &buf, &len, d)) != 0)
        return rc;
    rc = keys_identities_parse_buf(l, buf, len, path, cb, cb_ctx, d);
    age_secret_free(buf);
    return rc;
}

void
keys_identities_clear(struct keys_identities *l)
{
    for (size_t i = 0; i < l->n; i++)
        age_identity_free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof(*l));
}
