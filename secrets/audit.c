/* audit.c: the findings of `m3age audit` and `m3age check` (see audit.h). */
#include "secrets/audit.h"
#include "keys/keys.h"
#include "secrets/filekind.h"
#include "libage/ssh.h"
#include "registry/registry.h"
#include "secrets/hostkeys.h"
#include "secrets/plan.h"
#include "secrets/repo.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct secrets_code secrets_audit_codes[] = {
    {"M3A001", SECRETS_ERROR, "registry entry without its file"},
    {"M3A002", SECRETS_WARNING, "age file in the secrets folder with no registry entry"},
    {"M3A003", SECRETS_ERROR, "not a valid age file"},
    {"M3A004", SECRETS_ERROR, "header MAC does not verify"},
    {"M3A005", SECRETS_ERROR, "payload does not verify"},
    {"M3A006", SECRETS_ERROR, "registry key missing from the file"},
    {"M3A007", SECRETS_ERROR, "file encrypted to a key its registry entry does not list"},
    {"M3A008", SECRETS_ERROR, "X25519 recipient count differs from the registry"},
    {"M3A009", SECRETS_ERROR, "host uses a secret that is not encrypted to its key"},
    {"M3A010", SECRETS_ERROR, "host uses secrets but has no key in the registry"},
    {"M3A011", SECRETS_WARNING, "secret no host uses"},
    {"M3A012", SECRETS_WARNING, "one key bound under two names"},
    {"M3A013", SECRETS_WARNING, "ssh-rsa key under 3072 bits"},
    {"M3A014", SECRETS_ERROR, "file in the secrets folder that is not age (possible plaintext)"},
    {"M3A015", SECRETS_WARNING, "identity file readable by group or others"},
    {"M3A016", SECRETS_ERROR, "host uses a file that has no registry entry"},
    {"M3A017", SECRETS_WARNING, "host secret whose file cannot be resolved"},
    {"M3A018", SECRETS_INFO, "not verified: no identity given opens the file"},
    {"M3A019", SECRETS_ERROR, "registry key that is not a valid recipient"},
    {"M3A020", SECRETS_ERROR, "host key differs from its registry key"},
    {"M3A021", SECRETS_WARNING, "stanza m3age cannot attribute to any key"},
    {"M3A022", SECRETS_INFO, "file in the secrets folder that is not a secret"},
    {"M3A023", SECRETS_INFO, "file in the secrets folder encrypted by another tool"},
    {"M3A024", SECRETS_INFO, "module import that cannot be followed without Nix"},
    {"M3A025", SECRETS_ERROR, "registry name that is absolute or leads outside the repository"},
    {"M3A026", SECRETS_ERROR, "secret file that is a symbolic link, or reached through one"},
    {"M3A027", SECRETS_ERROR, "registry entry mixing post-quantum and classical keys"},
    {"M3A028", SECRETS_ERROR, "secret not post-quantum protected (with --require-pq)"},
    {"M3A030", SECRETS_WARNING, "registry key whose age plugin is not installed"},
};
const size_t secrets_audit_ncodes = sizeof(secrets_audit_codes) / sizeof(secrets_audit_codes[0]);

#define MAX_SECRET_FILE (256u << 20)
#define STRAY_HEAD (64u << 10) /* bytes read to tell what a file that is not age is */

struct ctx {
    const struct secrets_audit_opts *o;
    struct secrets_audit *a;
    struct reg_registry *reg;
    struct reg_hosts *hosts;
    struct secrets_keyset ks;
    char *regdir;                 /* folder of the registry (entry names are relative to it) */
    char *root;                   /* repository root */
    const char *rel;              /* regdir relative to root ("" when the same) */
    char *trust;                  /* the root secret files must lie in (reg_trust_root) */
    int trust_fd;                 /* trust, opened O_PATH: secret files are opened beneath */
    bool *selected;               /* per registry entry: examined */
    bool *used;                   /* per registry entry: some host uses it */
    bool *parsed;                 /* per registry entry: the header was read */
    struct secrets_drift *drifts; /* per parsed entry: its drift (headers are not kept) */
    enum secrets_pq_state *pq;    /* per entry: whether its file is post-quantum protected */
    int rc;
};

const char *
secrets_severity_name(enum secrets_severity s)
{
    return s == SECRETS_ERROR ? "error" : s == SECRETS_WARNING ? "warning" : "info";
}

bool
secrets_is_age_bytes(const unsigned char *buf, size_t len)
{
    static const char bin[] = "age-encryption.org/", arm[] = "-----BEGIN AGE ENCRYPTED FILE-----";
    size_t i = 0;

    if (len >= sizeof(bin) - 1 && memcmp(buf, bin, sizeof(bin) - 1) == 0)
        return true;
    while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\r' || buf[i] == '\n'))
        i++;
    return len - i >= sizeof(arm) - 1 && memcmp(buf + i, arm, sizeof(arm) - 1) == 0;
}

static const struct secrets_code *
code_of(const char *code)
{
    for (size_t i = 0; i < secrets_audit_ncodes; i++)
        if (strcmp(secrets_audit_codes[i].code, code) == 0)
            return &secrets_audit_codes[i];
    return NULL;
}

/* reported_at: a finding of code at file:line is already reported. */
static bool
reported_at(const struct ctx *c, const char *code, const char *file, unsigned line)
{
    for (size_t i = 0; i < c->a->n; i++)
        if (c->a->v[i].line == line && strcmp(c->a->v[i].code, code) == 0 &&
            strcmp(c->a->v[i].file, file) == 0)
            return true;
    return false;
}

static void __attribute__((format(printf, 6, 7)))
add(struct ctx *c, const char *code, const char *file, unsigned line, const char *host,
    const char *fmt, ...)
{
    struct secrets_audit *a = c->a;
    const struct secrets_code *sc = code_of(code);
    struct secrets_finding *f;
    va_list ap;
    char msg[1024];

    if (c->rc != 0 || sc == NULL)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        void *v = realloc(a->v, cap * sizeof(*a->v));
        if (v == NULL) {
            c->rc = M3_ENOMEM;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    f = &a->v[a->n];
    f->code = sc->code;
    f->severity = sc->severity;
    f->line = line;
    f->file = strdup(file);
    f->host = host ? strdup(host) : NULL;
    f->message = strdup(msg);
    if (f->file == NULL || f->message == NULL || (host && f->host == NULL)) {
        free(f->file);
        free(f->host);
        free(f->message);
        c->rc = M3_ENOMEM;
        return;
    }
    a->n++;
    if (sc->severity == SECRETS_ERROR)
        a->nerrors++;
    else if (sc->severity == SECRETS_WARNING)
        a->nwarnings++;
    else
        a->ninfos++;
}

int
secrets_slurp_fd(int fd, unsigned char **buf, size_t *len)
{
    struct stat st;
    size_t n = 0;
    unsigned char *p = NULL;

    *buf = NULL;
    *len = 0;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > MAX_SECRET_FILE ||
        (p = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return M3_EIO;
    }
    while (n < (size_t)st.st_size) {
        ssize_t r = read(fd, p + n, (size_t)st.st_size - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    *buf = p;
    *len = n;
    return 0;
}

int
secrets_slurp(const char *path, unsigned char **buf, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *buf = NULL;
    *len = 0;
    if (fd < 0)
        return errno == ENOENT ? M3_ENOTFOUND : M3_EIO;
    return secrets_slurp_fd(fd, buf, len);
}

static int
discard(void *ctx, const void *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    (void)len;
    return 0;
}

static bool
host_selected(const struct ctx *c, const char *host)
{
    if (c->o->nhosts == 0)
        return true;
    for (size_t i = 0; i < c->o->nhosts; i++)
        if (strcmp(c->o->hosts[i], host) == 0)
            return true;
    return false;
}

/* entry_for_host_file: the registry entry for a repository-relative path, or -1. */
static long
entry_for_host_file(const struct ctx *c, const char *file)
{
    size_t rl = strlen(c->rel);
    const struct reg_entry *e;

    if (rl > 0) {
        if (strncmp(file, c->rel, rl) != 0 || file[rl] != '/')
            return -1;
        file += rl + 1;
    }
    e = reg_registry_find(c->reg, file);
    return e ? (long)(e - c->reg->entries) : -1;
}

/* entry_for_secret: the registry entry a host's age.secrets file is; "${inputs.X}/x.age"
 * names x.age of that input: the registry's folder here when the repository root has none. */
static long
entry_for_secret(const struct ctx *c, const struct reg_host_secret *s)
{
    long ei = entry_for_host_file(c, s->file);
    const struct reg_entry *e;

    if (ei < 0 && s->from_input && (e = reg_registry_find(c->reg, s->file)) != NULL)
        ei = (long)(e - c->reg->entries);
    return ei;
}

/* host_file_name: a host's file path as the registry would name it (for messages). */
static const char *
host_file_name(const struct ctx *c, const char *file)
{
    size_t rl = strlen(c->rel);
    return (rl > 0 && strncmp(file, c->rel, rl) == 0 && file[rl] == '/') ? file + rl + 1 : file;
}

static void
registry_keys(struct ctx *c)
{
    const char *reg = c->o->registry;

    for (size_t i = 0; i < c->ks.n; i++) {
        const struct secrets_key *k = &c->ks.v[i];
        bool used = false;
        for (size_t j = 0; j < c->reg->nentries && !used; j++)
            if (c->selected[j])
                for (size_t m = 0; m < c->reg->entries[j].nkeys && !used; m++)
                    used = strcmp(c->reg->entries[j].keys[m], k->text) == 0;
        if (c->o->nhosts == 0 && k->nnames > 1) {
            char names[512] = "";
            for (size_t j = 0; j < k->nnames; j++)
                snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                         j ? ", " : "", k->names[j]);
            add(c, "M3A012", reg, 0, NULL, "one key bound under %zu names: %s", k->nnames, names);
        }
        if (!used)
            continue;
        if (k->kind == SECRETS_KEY_INVALID)
            add(c, "M3A019", reg, 0, NULL, "key %s is not a recipient: %s", k->name, k->error);
        else if (k->kind == SECRETS_KEY_PLUGIN && !k->native &&
                 keys_plugin_find(k->plugin.plugin, NULL, 0, NULL) == M3_ENOTFOUND)
            add(c, "M3A030", reg, 0, NULL,
                "key %s needs age-plugin-%s, which is not in PATH: edit and rekey of its files "
                "stop before writing",
                k->name, k->plugin.plugin);
        else if (k->rsa_bits > 0 && k->rsa_bits < 3072)
            add(c, "M3A013", reg, 0, NULL,
                "key %s is ssh-rsa with %u bits (use ssh-ed25519, or RSA of 3072 bits or more)",
                k->name, k->rsa_bits);
    }
}

/* pq_mixes: entries whose keys mix post-quantum and classical recipients, at the position of
 * their first classical key (edit and rekey refuse to encrypt such a file). */
static void
pq_mixes(struct ctx *c)
{
    for (size_t i = 0; i < c->reg->nentries; i++) {
        const struct reg_entry *e = &c->reg->entries[i];
        char names[512];
        size_t first = 0;
        if (!c->selected[i] || !secrets_entry_pq_mix(&c->ks, e, &first, names, sizeof(names)))
            continue;
        const struct reg_span *sp = &e->key_spans[first];
        add(c, "M3A027", c->o->registry, e->name_span.line, NULL,
            "'%s' lists post-quantum and classical keys (classical: %s; the first written at "
            "line %u, column %u): its file would not be post-quantum, and edit and rekey refuse "
            "to encrypt it; drop the classical keys or the post-quantum ones",
            e->name, names, sp->line, sp->col);
    }
}

/* pq_states: the post-quantum state of every examined secret, in registry order. */
static int
pq_states(struct ctx *c)
{
    struct secrets_audit *a = c->a;

    if ((a->pq = calloc(c->reg->nentries + 1, sizeof(*a->pq))) == NULL)
        return M3_ENOMEM;
    for (size_t i = 0; i < c->reg->nentries; i++) {
        if (!c->selected[i])
            continue;
        if ((a->pq[a->npq].file = strdup(c->reg->entries[i].name)) == NULL)
            return M3_ENOMEM;
        a->pq[a->npq++].state = c->pq[i];
        a->npq_yes += c->pq[i] == SECRETS_PQ_YES;
    }
    return 0;
}

static void
verify_payload(struct ctx *c, const char *name, const unsigned char *buf, size_t len)
{
    struct secrets_mem_rd m = {buf, len, 0};
    struct age_decryptor *dec = NULL;
    struct m3_diag d = {0};
    int rc;

    if ((rc = age_decryptor_new(&dec, secrets_mem_read, &m, &d)) != 0)
        goto out; /* already reported from the header */
    rc = age_decryptor_unwrap(dec, c->o->ids, c->o->nids, &d);
    if (rc == M3_ENOMATCH)
        add(c, "M3A018", name, 0, NULL, "not verified: none of the identities given opens it");
    else if (rc == M3_EMAC)
        add(c, "M3A004", name, 0, NULL,
            "header MAC mismatch (tampered header, or a stanza "
            "for a key that was replaced)");
    else if (rc != 0)
        add(c, "M3A003", name, 0, NULL, "%s", d.msg[0] ? d.msg : m3_strerror(rc));
    else if ((rc = age_decryptor_stream(dec, discard, NULL, 1, &d)) != 0)
        add(c, "M3A005", name, 0, NULL, "payload does not verify: %s",
            d.msg[0] ? d.msg : m3_strerror(rc));
out:
    age_decryptor_free(dec);
}

/* pub_holder: for a stale key no registry binding holds, known by its stanza tag (desc
 * "unknown ssh-ed25519 key with tag AbCdEf"): the hosts/<host>/ssh_host_ed25519_key.pub with
 * that key (a host removed from the registry whose folder stayed), into buf; else false. */
static bool
pub_holder(const struct ctx *c, const char *desc, char *buf, size_t cap)
{
    char type[40], tag[9], pub[PATH_MAX * 2], t[AGE_SSH_TAG_LEN + 1];
    bool found = false;

    if (c->hosts == NULL || sscanf(desc, "unknown %39s key with tag %8s", type, tag) != 2 ||
        strncmp(type, "ssh-", 4) != 0)
        return false;
    for (size_t i = 0; i < c->hosts->nhosts && !found; i++) {
        const char *name = c->hosts->hosts[i].name;
        struct hostkey k = {0};
        unsigned char *b = NULL;
        size_t len;
        char *text;
        snprintf(pub, sizeof(pub), "%s/hosts/%s/ssh_host_ed25519_key.pub", c->root, name);
        if (secrets_slurp(pub, &b, &len) != 0)
            continue;
        text = strndup((char *)b, len);
        free(b);
        if (text != NULL && hostkey_parse(text, &k, NULL) == 0 && strcmp(k.type, type) == 0) {
            age_ssh_tag_string(k.wire, k.wire_len, t);
            if (strcmp(t, tag) == 0) {
                snprintf(buf, cap, "hosts/%s/ssh_host_ed25519_key.pub", name);
                found = true;
            }
        }
        hostkey_clear(&k);
        free(text);
    }
    return found;
}

/* drift: the recipient findings of entry ei, whose drift is kept for audit_host. */
static void
drift(struct ctx *c, size_t ei, const struct age_header *h)
{
    const struct reg_entry *e = &c->reg->entries[ei];
    struct secrets_drift dr;

    if (secrets_drift_compute(&c->ks, e, h, &dr) != 0) {
        c->rc = M3_ENOMEM;
        return;
    }
    for (size_t i = 0; i < dr.nmissing; i++)
        add(c, "M3A006", e->name, 0, NULL,
            "not encrypted to %s, which its registry entry lists (%s cannot open it)",
            dr.missing[i]->name, dr.missing[i]->name);
    for (size_t i = 0; i < dr.nstale; i++) {
        char holder[PATH_MAX];
        if (dr.stale[i].key == NULL && pub_holder(c, dr.stale[i].desc, holder, sizeof(holder)))
            add(c, "M3A007", e->name, 0, NULL,
                "still encrypted to %s, the key in %s, which its registry entry does not list "
                "(its holder can read this version)",
                dr.stale[i].desc, holder);
        else
            add(c, "M3A007", e->name, 0, NULL,
                "still encrypted to %s, which its registry entry does not list (%s can read "
                "this version)",
                dr.stale[i].desc, dr.stale[i].key ? dr.stale[i].key->name : "its holder");
    }
    for (size_t i = 0; i < dr.nunattributed; i++) {
        char what[96];
        secrets_unattributed_text(&dr.unattributed[i], what, sizeof(what));
        add(c, "M3A021", e->name, 0, NULL,
            "%s not attributable to any key (its type names no key m3age can recognise; a "
            "rekey keeps the file as it is, 'm3age rekey --force' drops %s)",
            what, dr.unattributed[i].count == 1 ? "it" : "them");
    }
    if (dr.x25519_want != dr.x25519_have)
        add(c, "M3A008", e->name, 0, NULL,
            "%zu X25519 recipient%s in the file, %zu age1 key%s in its registry entry",
            dr.x25519_have, dr.x25519_have == 1 ? "" : "s", dr.x25519_want,
            dr.x25519_want == 1 ? "" : "s");
    if (dr.pq_want != dr.pq_have)
        add(c, "M3A008", e->name, 0, NULL,
            "%zu post-quantum (mlkem768x25519) recipient%s in the file, %zu age1pq1 key%s in its "
            "registry entry",
            dr.pq_have, dr.pq_have == 1 ? "" : "s", dr.pq_want, dr.pq_want == 1 ? "" : "s");
    c->drifts[ei] = dr;
    c->parsed[ei] = true;
}

static void
audit_entry(struct ctx *c, size_t i)
{
    const struct reg_entry *e = &c->reg->entries[i];
    unsigned char *buf = NULL;
    size_t len;
    struct age_header *h = NULL;
    struct m3_diag d = {0};
    int rc;

    char *rel = NULL;
    int fd;

    /* The name and the file as edit and rekey would reach them: inside the repository,
     * never through a link (reported, not followed: nothing of another repository is read). */
    if (reg_check_name(c->trust, c->regdir, e, &rel, &d) != 0) {
        add(c, "M3A025", c->o->registry, e->name_span.line, NULL,
            "'%s' %s: m3age refuses this registry until the entry is fixed", e->name,
            e->name[0] == '/' ? "is an absolute path" : "leads outside the repository");
        return;
    }
    fd = secrets_openat_beneath(c->trust_fd, rel, O_RDONLY | O_NONBLOCK, 0);
    free(rel);
    if (fd == -ELOOP || fd == -EXDEV) {
        add(c, "M3A026", e->name, 0, NULL,
            "a symbolic link, or in a linked folder: m3age refuses to read or write a secret "
            "through a link (a committed link can point into another repository)");
        return;
    }
    rc = fd == -ENOENT ? M3_ENOTFOUND
         : fd < 0      ? (errno = -fd, M3_EIO)
                       : secrets_slurp_fd(fd, &buf, &len);
    if (rc != 0) {
        if (rc == M3_ENOTFOUND)
            add(c, "M3A001", e->name, 0, NULL,
                "listed in the registry but the file does not exist (create it with "
                "'m3age edit %s')",
                e->name);
        else
            add(c, "M3A003", e->name, 0, NULL, "cannot read the file: %s", strerror(errno));
        return;
    }
    if (!secrets_is_age_bytes(buf, len)) {
        enum secrets_file_kind k =
            secrets_file_kind(e->name, buf, len < STRAY_HEAD ? len : STRAY_HEAD);
        if (secrets_file_kind_encrypted(k) || k == SECRETS_FILE_SSH_PUB ||
            k == SECRETS_FILE_AGE_PUB || k == SECRETS_FILE_PGP_PUB)
            add(c, "M3A003", e->name, 0, NULL, "not an age file: %s, which agenix cannot use",
                secrets_file_kind_desc(k));
        else
            add(c, "M3A014", e->name, 0, NULL,
                "not an age file at all (possible plaintext: check what was committed)");
        goto out;
    }
    if ((rc = secrets_header_from_buf(buf, len, &h, &d)) != 0) {
        add(c, "M3A003", e->name, 0, NULL, "%s", d.msg[0] ? d.msg : m3_strerror(rc));
        goto out;
    }
    {
        char classical[256];
        c->pq[i] =
            secrets_header_is_pq(h, classical, sizeof(classical)) ? SECRETS_PQ_YES : SECRETS_PQ_NO;
        if (c->pq[i] == SECRETS_PQ_NO && c->o->require_pq)
            add(c, "M3A028", e->name, 0, NULL,
                "not post-quantum protected: classical stanzas open it (%s), so a copy kept "
                "today opens with a quantum computer later; list only age1pq1 or age1tagpq1 "
                "keys for it and run 'm3age rekey'",
                classical[0] ? classical : "no post-quantum stanza");
    }
    drift(c, i, h);
    if (c->o->nids > 0)
        verify_payload(c, e->name, buf, len);
out:
    age_header_free(h);
    free(buf);
}

/* key_label: how a key is named in a message: its SHA256 fingerprint for an ssh key (as
 * ssh-keygen -l writes it), else the recipient text itself (age1...). */
static void
key_label(const char *text, char *buf, size_t cap)
{
    struct hostkey k = {0};
    struct m3_diag d = {0};

    if (hostkey_parse(text, &k, &d) == 0)
        snprintf(buf, cap, "%s", k.fp);
    else
        snprintf(buf, cap, "%.*s", (int)strcspn(text, " \n"), text);
    hostkey_clear(&k);
}

/* The files are read, parsed and verified on o->jobs threads, each entry's findings in a
 * list of its own, merged in registry order: the report is the same as with one thread. */
struct entry_pool {
    struct ctx *c;
    struct secrets_audit *found; /* per entry */
    int *rc;                     /* per entry */
    atomic_size_t next;
};

static void *
entry_worker(void *arg)
{
    struct entry_pool *p = arg;
    size_t i;

    while ((i = atomic_fetch_add(&p->next, 1)) < p->c->reg->nentries) {
        struct ctx local = *p->c;
        if (!p->c->selected[i])
            continue;
        local.a = &p->found[i];
        local.rc = 0;
        audit_entry(&local, i);
        p->rc[i] = local.rc;
    }
    return NULL;
}

/* merge: moves the findings of f to the end of a. */
static int
merge(struct secrets_audit *a, struct secrets_audit *f)
{
    if (a->n + f->n > a->cap) {
        size_t cap = a->cap ? a->cap : 32;
        void *v;
        while (cap < a->n + f->n)
            cap *= 2;
        if ((v = realloc(a->v, cap * sizeof(*a->v))) == NULL)
            return M3_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    if (f->n > 0)
        memcpy(a->v + a->n, f->v, f->n * sizeof(*f->v));
    a->n += f->n;
    a->nerrors += f->nerrors;
    a->nwarnings += f->nwarnings;
    a->ninfos += f->ninfos;
    f->n = 0;
    return 0;
}

static bool
ids_locked(const struct secrets_audit_opts *o)
{
    for (size_t i = 0; i < o->nids; i++)
        if (keys_identity_is_locked(o->ids[i]))
            return true;
    return false;
}

/* plugin_prefetch: with a plugin identity among -i, the headers of every selected file go to
 * each plugin in one session (one start, one PIN or touch), before the files are verified.
 * A file that cannot be read is left to audit_entry, which reports it. */
static void
plugin_prefetch(struct ctx *c)
{
    const struct age_header **hv;
    struct age_header **own;
    size_t n = 0, ne = c->reg->nentries;
    bool any = false;

    for (size_t i = 0; i < c->o->nids; i++)
        any = any || keys_identity_is_plugin(c->o->ids[i]);
    if (!any || (own = calloc(ne + 1, sizeof(*own))) == NULL)
        return;
    for (size_t i = 0; i < ne; i++) {
        const struct reg_entry *e = &c->reg->entries[i];
        unsigned char *buf = NULL;
        size_t len;
        char *rel = NULL;
        int fd;
        if (!c->selected[i] || reg_check_name(c->trust, c->regdir, e, &rel, NULL) != 0)
            continue;
        fd = secrets_openat_beneath(c->trust_fd, rel, O_RDONLY | O_NONBLOCK, 0);
        free(rel);
        if (fd >= 0 && secrets_slurp_fd(fd, &buf, &len) == 0 && secrets_is_age_bytes(buf, len) &&
            secrets_header_from_buf(buf, len, &own[n], NULL) == 0)
            n++;
        free(buf);
    }
    hv = (const struct age_header **)own;
    keys_plugin_prefetch(c->o->ids, c->o->nids, hv, n, NULL);
    for (size_t i = 0; i < n; i++)
        age_header_free(own[i]);
    free(own);
}

static void
audit_entries(struct ctx *c)
{
    size_t ne = c->reg->nentries;
    struct entry_pool p = {.c = c};
    pthread_t th[64];
    unsigned jobs = c->o->jobs, started = 0;

    plugin_prefetch(c);
    /* a passphrase-protected identity unlocks on first use: one prompt, so one thread */
    if (jobs > 64)
        jobs = 64;
    if (jobs < 2 || ne < 64 || ids_locked(c->o)) {
        for (size_t i = 0; i < ne && c->rc == 0; i++)
            if (c->selected[i])
                audit_entry(c, i);
        return;
    }
    p.found = calloc(ne, sizeof(*p.found));
    p.rc = calloc(ne, sizeof(*p.rc));
    if (p.found == NULL || p.rc == NULL) {
        c->rc = M3_ENOMEM;
        goto out;
    }
    for (unsigned j = 1; j < jobs; j++)
        if (pthread_create(&th[started], NULL, entry_worker, &p) == 0)
            started++;
    entry_worker(&p);
    for (unsigned j = 0; j < started; j++)
        pthread_join(th[j], NULL);
    for (size_t i = 0; i < ne; i++) {
        if (c->rc == 0 && p.rc[i] != 0)
            c->rc = p.rc[i];
        if (c->rc == 0 && merge(c->a, &p.found[i]) != 0)
            c->rc = M3_ENOMEM;
    }
out:
    for (size_t i = 0; p.found != NULL && i < ne; i++) {
        for (size_t j = 0; j < p.found[i].n; j++) {
            free(p.found[i].v[j].file);
            free(p.found[i].v[j].host);
            free(p.found[i].v[j].message);
        }
        free(p.found[i].v);
    }
    free(p.found);
    free(p.rc);
}

static void
audit_host(struct ctx *c, const struct reg_host *h, struct secrets_audit_host *ah)
{
    const struct secrets_key *k = secrets_keyset_bound_to(&c->ks, h->name), *kpq = NULL;
    char pqname[300];

    /* a host's post-quantum identity (m3age hosts sync): bound to HOST-pq beside its SSH key,
     * which the secrets it reads list instead */
    snprintf(pqname, sizeof(pqname), "%s-pq", h->name);
    if ((kpq = secrets_keyset_named(&c->ks, pqname)) != NULL && !secrets_key_is_pq(kpq))
        kpq = NULL;
    ah->has_key = k != NULL;
    if (k == NULL && (h->nsecrets > 0 || h->nunresolved > 0)) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof(dir), "hosts/%s", h->name);
        add(c, "M3A010", dir, 0, h->name,
            "host %s uses %zu secret%s but the registry binds no key named '%s'", h->name,
            h->nsecrets + h->nunresolved, h->nsecrets + h->nunresolved == 1 ? "" : "s", h->name);
    }
    const char *given = c->o->host_key;
    char *pubtext = NULL;
    if (given != NULL) {
        ah->key_source = strdup(c->o->host_key_source ? c->o->host_key_source : "--key");
    } else if (k != NULL && c->o->host_key_from_repo) {
        char pub[PATH_MAX * 2];
        unsigned char *buf = NULL;
        size_t len;
        snprintf(pub, sizeof(pub), "%s/hosts/%s/ssh_host_ed25519_key.pub", c->root, h->name);
        if (secrets_slurp(pub, &buf, &len) == 0) {
            pubtext = strndup((char *)buf, len);
            free(buf);
            if (pubtext != NULL)
                pubtext[strcspn(pubtext, "\n")] = '\0';
            snprintf(pub, sizeof(pub), "hosts/%s/ssh_host_ed25519_key.pub", h->name);
            ah->key_source = strdup(pub);
            given = pubtext;
        }
    }
    if (k != NULL && given != NULL) {
        bool same = false;
        /* compare parsed keys: the comment and spacing of a .pub line do not matter */
        struct age_recipient *r = NULL;
        if (keys_recipient_parse(&r, given, NULL) == 0) {
            char *s = age_recipient_string(r);
            struct age_recipient *r2 = NULL;
            if (s != NULL && keys_recipient_parse(&r2, k->text, NULL) == 0) {
                char *s2 = age_recipient_string(r2);
                same = s2 != NULL && strcmp(s, s2) == 0;
                free(s2);
            }
            age_recipient_free(r2);
            free(s);
        }
        age_recipient_free(r);
        if (!same) {
            char fr[128], fg[128];
            key_label(k->text, fr, sizeof(fr));
            key_label(given, fg, sizeof(fg));
            add(c, "M3A020", c->o->registry, 0, h->name,
                "the registry key '%s' (%s) is not the key in %s (%s)", h->name, fr,
                ah->key_source ? ah->key_source : "the key given", fg);
        }
    }
    free(pubtext);
    for (size_t j = 0; j < h->nsecrets; j++) {
        const struct reg_host_secret *s = &h->secrets[j];
        long ei = entry_for_secret(c, s);
        const char *fname = ei >= 0 ? c->reg->entries[ei].name : host_file_name(c, s->file);
        char **nv = realloc(ah->files, (ah->nfiles + 1) * sizeof(*nv)), **mv;
        unsigned *lv;
        if (nv != NULL)
            ah->files = nv;
        if (nv == NULL || (mv = realloc(ah->modules, (ah->nfiles + 1) * sizeof(*mv))) == NULL) {
            c->rc = M3_ENOMEM;
            return;
        }
        ah->modules = mv;
        if ((lv = realloc(ah->lines, (ah->nfiles + 1) * sizeof(*lv))) == NULL) {
            c->rc = M3_ENOMEM;
            return;
        }
        ah->lines = lv;
        nv[ah->nfiles] = strdup(fname);
        mv[ah->nfiles] = strdup(s->span.file);
        lv[ah->nfiles] = s->span.line;
        if (nv[ah->nfiles] == NULL || mv[ah->nfiles] == NULL) {
            free(nv[ah->nfiles]);
            free(mv[ah->nfiles]);
            c->rc = M3_ENOMEM;
            return;
        }
        ah->nfiles++;
        if (ei < 0) {
            add(c, "M3A016", s->span.file[0] ? s->span.file : fname, s->span.line, h->name,
                "age.secrets.%s uses '%s', which has no entry in the registry", s->secret, fname);
            continue;
        }
        c->used[ei] = true;
        if (k == NULL)
            continue;
        const struct reg_entry *e = &c->reg->entries[ei];
        const struct secrets_key *hk = k;
        bool listed = false;
        for (size_t m = 0; m < e->nkeys && !listed; m++)
            listed = strcmp(e->keys[m], k->text) == 0;
        for (size_t m = 0; kpq != NULL && m < e->nkeys && !listed; m++)
            if (strcmp(e->keys[m], kpq->text) == 0)
                listed = (hk = kpq) != NULL;
        if (!listed && s->span.line == 0) /* Nix's answer: the module if Nix says, no line */
            add(c, "M3A009", e->name, 0, h->name,
                "host %s uses it (age.secrets.%s%s%s, as Nix evaluates it) but its registry "
                "entry does not list %s: activation would fail",
                h->name, s->secret, s->span.file[0] ? " in " : "", s->span.file, h->name);
        else if (!listed)
            add(c, "M3A009", e->name, 0, h->name,
                "host %s uses it (age.secrets.%s in %s:%u) but its registry entry does not "
                "list %s: activation would fail",
                h->name, s->secret, s->span.file, s->span.line, h->name);
        else if (c->parsed[ei] && !secrets_drift_has_key(&c->drifts[ei], hk))
            add(c, "M3A009", e->name, 0, h->name,
                "host %s uses it but the file is not encrypted to its key: activation would "
                "fail (run 'm3age rekey %s')",
                h->name, e->name);
    }
    for (size_t j = 0; j < h->nunresolved; j++) {
        const struct reg_host_unresolved *u = &h->unresolved[j];
        if (reported_at(c, "M3A017", u->span.file, u->span.line))
            continue; /* a shared module's definition: said once, for the first host */
        add(c, "M3A017", u->span.file, u->span.line, h->name,
            "age.secrets.%s.file = %s: cannot tell which file this is without evaluating Nix",
            u->secret, u->text);
    }
}

/* unfollowed_imports: the imports the host scan could not follow (notes). */
static void
unfollowed_imports(struct ctx *c)
{
    for (size_t i = 0; c->hosts != NULL && i < c->hosts->nunfollowed; i++) {
        const struct reg_host_unfollowed *u = &c->hosts->unfollowed[i];
        if (u->host != NULL && !host_selected(c, u->host))
            continue;
        add(c, "M3A024", u->span.file, u->span.line, u->host, "import %s: %s", u->text, u->why);
    }
}

static int
strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* stray_file: a file of a secrets folder that the registry does not list: an age file
 * (M3A002), something that is not a secret or that another tool encrypted (a note), or a
 * possible leak (M3A014). */
static void
stray_file(struct ctx *c, const char *rel, const char *full, const char *name)
{
    unsigned char *head = malloc(STRAY_HEAD);
    int fd = open(full, O_RDONLY | O_CLOEXEC);
    size_t got = 0;
    enum secrets_file_kind k;

    if (head == NULL) {
        c->rc = M3_ENOMEM;
        goto out;
    }
    while (fd >= 0 && got < STRAY_HEAD) {
        ssize_t r = read(fd, head + got, STRAY_HEAD - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (secrets_is_age_bytes(head, got)) {
        if (name[0] != '.')
            add(c, "M3A002", rel, 0, NULL,
                "age file with no registry entry (add one with 'm3age registry add', or "
                "delete it)");
        goto out;
    }
    k = secrets_file_kind(name, head, got);
    size_t nl = strlen(name);
    if (k == SECRETS_FILE_REPO && (strncmp(name, ".git", 4) == 0 || strcmp(name, ".keep") == 0 ||
                                   (nl > 4 && strcmp(name + nl - 4, ".nix") == 0)))
        goto out; /* .gitignore, modules: nothing to say */
    if (k == SECRETS_FILE_SECRET || k == SECRETS_FILE_UNKNOWN)
        add(c, "M3A014", rel, 0, NULL,
            "%s, in the secrets folder (possible plaintext leak: encrypt it or move it out, "
            "and check the git history)",
            k == SECRETS_FILE_SECRET ? "looks like a private key or credential in clear"
                                     : "not an age file");
    else if (secrets_file_kind_encrypted(k))
        add(c, "M3A023", rel, 0, NULL, "%s, not age (m3age and agenix leave it alone)",
            secrets_file_kind_desc(k));
    else
        add(c, "M3A022", rel, 0, NULL, "%s, not a secret", secrets_file_kind_desc(k));
out:
    if (fd >= 0)
        close(fd);
    free(head);
}

/* stray_files: files of the secrets folders that the registry does not account for. */
static void
stray_files(struct ctx *c)
{
    char **dirs = calloc(c->reg->nentries + 1, sizeof(*dirs));
    size_t ndirs = 0;

    if (dirs == NULL) {
        c->rc = M3_ENOMEM;
        return;
    }
    for (size_t i = 0; i < c->reg->nentries; i++) {
        const char *name = c->reg->entries[i].name, *slash = strrchr(name, '/');
        char *dir = slash ? strndup(name, (size_t)(slash - name)) : strdup("");
        bool seen = false;
        if (dir == NULL) {
            c->rc = M3_ENOMEM;
            break;
        }
        for (size_t j = 0; j < ndirs && !seen; j++)
            seen = strcmp(dirs[j], dir) == 0;
        if (seen)
            free(dir);
        else
            dirs[ndirs++] = dir;
    }
    if (ndirs > 1)
        qsort(dirs, ndirs, sizeof(*dirs), strp_cmp);
    for (size_t i = 0; i < ndirs && c->rc == 0; i++) {
        char path[PATH_MAX], real[PATH_MAX];
        snprintf(path, sizeof(path), "%s%s%s", c->regdir, dirs[i][0] ? "/" : "", dirs[i]);
        /* the repository root holds everything else too: only its .age files count */
        bool only_age = realpath(path, real) != NULL && strcmp(real, c->root) == 0;
        char *within = NULL;
        struct stat lst;
        /* a folder outside the repository, or reached through a link, is not listed */
        if (reg_path_within(c->trust, c->regdir, dirs[i][0] ? dirs[i] : ".", &within, NULL) != 0 &&
            strcmp(path, c->trust) != 0)
            continue;
        free(within);
        if (lstat(path, &lst) != 0 || !S_ISDIR(lst.st_mode))
            continue;
        DIR *dp = opendir(path);
        struct dirent *de;
        char **names = NULL;
        size_t nnames = 0;
        if (dp == NULL)
            continue;
        while ((de = readdir(dp)) != NULL) {
            char **nv;
            /* dot files too (a .env is a leak); not m3age's own temporary files */
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
                strstr(de->d_name, ".m3tmp") != NULL)
                continue;
            if ((nv = realloc(names, (nnames + 1) * sizeof(*nv))) == NULL ||
                (nv[nnames] = strdup(de->d_name)) == NULL) {
                if (nv != NULL)
                    names = nv;
                c->rc = M3_ENOMEM;
                break;
            }
            names = nv;
            nnames++;
        }
        closedir(dp);
        if (nnames > 1)
            qsort(names, nnames, sizeof(*names), strp_cmp);
        for (size_t j = 0; j < nnames && c->rc == 0; j++) {
            char rel[PATH_MAX], full[2 * PATH_MAX + 2];
            struct stat st;
            size_t n = strlen(names[j]);
            bool is_age_name = n > 4 && strcmp(names[j] + n - 4, ".age") == 0;
            snprintf(rel, sizeof(rel), "%s%s%s", dirs[i], dirs[i][0] ? "/" : "", names[j]);
            snprintf(full, sizeof(full), "%s/%s", c->regdir, rel);
            if (reg_registry_find(c->reg, rel) != NULL || stat(full, &st) != 0 ||
                !S_ISREG(st.st_mode) || (only_age && !is_age_name))
                continue;
            if (realpath(full, real) != NULL && realpath(c->o->registry, path) != NULL &&
                strcmp(real, path) == 0)
                continue;
            stray_file(c, rel, full, names[j]);
        }
        for (size_t j = 0; j < nnames; j++)
            free(names[j]);
        free(names);
    }
    for (size_t i = 0; i < ndirs; i++)
        free(dirs[i]);
    free(dirs);
}

static int
finding_cmp(const void *x, const void *y)
{
    const struct secrets_finding *a = x, *b = y;
    int r = strcmp(a->file, b->file);

    if (r != 0)
        return r;
    if (a->line != b->line)
        return a->line < b->line ? -1 : 1;
    return strcmp(a->code, b->code);
}

static int
setup_paths(struct ctx *c, struct m3_diag *d)
{
    char *tmp = strdup(c->o->registry), real[PATH_MAX];
    int rc;

    if (tmp == NULL)
        return M3_ENOMEM;
    c->regdir = strdup(dirname(tmp));
    free(tmp);
    if (c->regdir == NULL)
        return M3_ENOMEM;
    if (realpath(c->regdir, real) == NULL)
        return m3_diag_set(d, M3_EIO, "%s: %s", c->regdir, strerror(errno));
    /* hosts/ beside the registry wins (a repository inside a larger checkout) */
    char hosts[PATH_MAX + 8];
    struct stat st;
    snprintf(hosts, sizeof(hosts), "%s/hosts", real);
    if (stat(hosts, &st) == 0 && S_ISDIR(st.st_mode))
        c->root = strdup(real);
    else if ((rc = reg_repo_root(c->o->registry, &c->root, d)) != 0)
        return rc;
    if (c->root == NULL)
        return M3_ENOMEM;
    free(c->regdir); /* absolute from here: entry names are checked against the root */
    if ((c->regdir = strdup(real)) == NULL)
        return M3_ENOMEM;
    if ((rc = reg_trust_root(real, &c->trust, d)) != 0)
        return rc;
    if ((c->trust_fd = open(c->trust, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return m3_diag_set(d, M3_EIO, "%s: %s", c->trust, strerror(errno));
    size_t rl = strlen(c->root);
    if (strncmp(real, c->root, rl) == 0 && real[rl] == '/')
        c->rel = strdup(real + rl + 1);
    else
        c->rel = strdup("");
    return c->rel ? 0 : M3_ENOMEM;
}

int
secrets_audit_run(const struct secrets_audit_opts *o, struct secrets_audit **out, struct m3_diag *d)
{
    struct ctx c = {.o = o, .trust_fd = -1};
    size_t ne = 0;
    int rc;

    *out = NULL;
    if ((c.a = calloc(1, sizeof(*c.a))) == NULL)
        return M3_ENOMEM;
    /* lax: a name outside the repository is a finding (M3A025), not a failed load */
    if ((rc = reg_load_path_lax(o->registry, NULL, &c.reg, d)) != 0 ||
        (rc = reg_layout_entries(o->registry, c.reg, d)) != 0 || (rc = setup_paths(&c, d)) != 0)
        goto out;
    ne = c.reg->nentries;
    c.selected = calloc(ne + 1, sizeof(bool));
    c.used = calloc(ne + 1, sizeof(bool));
    c.parsed = calloc(ne + 1, sizeof(bool));
    c.drifts = calloc(ne + 1, sizeof(*c.drifts));
    c.pq = calloc(ne + 1, sizeof(*c.pq));
    if (c.selected == NULL || c.used == NULL || c.parsed == NULL || c.drifts == NULL ||
        c.pq == NULL || secrets_keyset_build(&c.ks, c.reg) != 0) {
        rc = M3_ENOMEM;
        goto out;
    }
    rc = reg_hosts_scan(c.root, &c.hosts, d);
    if (rc == M3_ENOTFOUND && o->nhosts == 0) {
        rc = 0;
    } else if (rc != 0) {
        if (rc == M3_ENOTFOUND)
            m3_diag_set(d, rc, "%s: no hosts/ folder, so no host '%s'", c.root, o->hosts[0]);
        goto out;
    }
    c.a->hosts_scanned = c.hosts != NULL;
    for (size_t i = 0; i < o->nhosts; i++) {
        bool found = false;
        for (size_t j = 0; c.hosts && j < c.hosts->nhosts && !found; j++)
            found = strcmp(c.hosts->hosts[j].name, o->hosts[i]) == 0;
        if (!found) {
            char dir[PATH_MAX * 2];
            struct stat st;
            snprintf(dir, sizeof(dir), "%s/hosts/%s", c.root, o->hosts[i]);
            const char *hn = o->hosts[i];
            if (hn[0] != '\0' && hn[0] != '.' && strchr(hn, '/') == NULL && stat(dir, &st) == 0 &&
                S_ISDIR(st.st_mode))
                rc = m3_diag_set(d, M3_ENOTFOUND,
                                 "no host '%s': other hosts import hosts/%s, and flake.nix's "
                                 "nixosConfigurations does not name it",
                                 o->hosts[i], o->hosts[i]);
            else
                rc = m3_diag_set(d, M3_ENOTFOUND, "no host '%s' (no folder hosts/%s in %s)",
                                 o->hosts[i], o->hosts[i], c.root);
            goto out;
        }
    }
    /* which entries to examine: all, or those the selected hosts use */
    for (size_t i = 0; i < ne; i++)
        c.selected[i] = o->nhosts == 0;
    for (size_t j = 0; c.hosts && j < c.hosts->nhosts; j++) {
        const struct reg_host *h = &c.hosts->hosts[j];
        if (o->nhosts == 0 || !host_selected(&c, h->name))
            continue;
        for (size_t m = 0; m < h->nsecrets; m++) {
            long ei = entry_for_secret(&c, &h->secrets[m]);
            if (ei >= 0)
                c.selected[ei] = true;
        }
    }
    /* a name leaving the repository is reported whichever host is checked: m3age refuses
     * the whole registry */
    for (size_t i = 0; i < ne; i++)
        if (!c.selected[i] &&
            reg_check_name(c.trust, c.regdir, &c.reg->entries[i], NULL, NULL) != 0)
            c.selected[i] = true;
    registry_keys(&c);
    pq_mixes(&c);
    for (size_t i = 0; i < ne; i++)
        c.a->nsecrets += c.selected[i];
    audit_entries(&c);
    if (c.rc == 0 && pq_states(&c) != 0)
        c.rc = M3_ENOMEM;
    if (c.hosts != NULL && c.hosts->nhosts > 0 &&
        (c.a->hosts = calloc(c.hosts->nhosts, sizeof(*c.a->hosts))) == NULL)
        c.rc = M3_ENOMEM;
    for (size_t j = 0; c.hosts && j < c.hosts->nhosts && c.rc == 0; j++) {
        const struct reg_host *h = &c.hosts->hosts[j];
        struct secrets_audit_host *ah = &c.a->hosts[c.a->nhosts];
        if (!host_selected(&c, h->name))
            continue;
        if ((ah->name = strdup(h->name)) == NULL) {
            c.rc = M3_ENOMEM;
            break;
        }
        c.a->nhosts++;
        ah->from_nix = h->from_nix;
        audit_host(&c, h, ah);
    }
    unfollowed_imports(&c);
    /* an unfiltered run with hosts: secrets none of them uses (unless an import could not be
     * followed: then which host uses it is not known) */
    /* nor when a host's age.secrets file value could not be resolved: it may name it */
    size_t nunres = 0;
    for (size_t i = 0; i < c.a->n; i++)
        nunres += strcmp(c.a->v[i].code, "M3A017") == 0; /* one per definition (see above) */
    for (size_t i = 0; c.hosts && o->nhosts == 0 && i < ne && c.rc == 0; i++)
        if (!c.used[i] && c.hosts->nunfollowed == 0 && nunres == 0)
            add(&c, "M3A011", c.reg->entries[i].name, 0, NULL,
                "no host uses this secret (no age.secrets.*.file names it in the modules the "
                "hosts import)");
        else if (!c.used[i] && c.hosts->nunfollowed > 0)
            add(&c, "M3A024", c.reg->entries[i].name, 0, NULL,
                "no host is seen to use this secret, but %zu import%s could not be followed "
                "without Nix (see the M3A024 notes on modules)",
                c.hosts->nunfollowed, c.hosts->nunfollowed == 1 ? "" : "s");
        else if (!c.used[i])
            add(&c, "M3A024", c.reg->entries[i].name, 0, NULL,
                "no host is seen to use this secret, but %zu age.secrets file value%s could "
                "not be resolved without Nix (see M3A017; --nix evaluates them)",
                nunres, nunres == 1 ? "" : "s");
    if (o->nhosts == 0 && c.rc == 0)
        stray_files(&c);
    for (size_t i = 0; i < o->nidentity_files && c.rc == 0; i++) {
        /* age key files too, not only the SSH/PEM keys keys_identity_file_exposed knows */
        struct stat st;
        if (stat(o->identity_files[i], &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077))
            add(&c, "M3A015", o->identity_files[i], 0, NULL,
                "identity file readable by group or others (mode %04o): run 'chmod 600 %s'",
                (unsigned)(st.st_mode & 07777), o->identity_files[i]);
    }
    rc = c.rc;
    if (rc == 0 && c.a->n > 1)
        qsort(c.a->v, c.a->n, sizeof(*c.a->v), finding_cmp);
out:
    for (size_t i = 0; c.drifts && i < ne; i++)
        secrets_drift_clear(&c.drifts[i]);
    free(c.drifts);
    free(c.pq);
    free(c.selected);
    free(c.used);
    free(c.parsed);
    secrets_keyset_clear(&c.ks);
    reg_hosts_free(c.hosts);
    reg_registry_free(c.reg);
    free(c.regdir);
    free(c.root);
    free(c.trust);
    if (c.trust_fd >= 0)
        close(c.trust_fd);
    free((char *)c.rel);
    if (rc != 0)
        secrets_audit_free(c.a);
    else
        *out = c.a;
    return rc;
}

void
secrets_audit_free(struct secrets_audit *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->n; i++) {
        free(a->v[i].file);
        free(a->v[i].host);
        free(a->v[i].message);
    }
    for (size_t i = 0; i < a->nhosts; i++) {
        free(a->hosts[i].name);
        for (size_t j = 0; j < a->hosts[i].nfiles; j++) {
            free(a->hosts[i].files[j]);
            free(a->hosts[i].modules[j]);
        }
        free(a->hosts[i].files);
        free(a->hosts[i].modules);
        free(a->hosts[i].lines);
        free(a->hosts[i].key_source);
    }
    free(a->hosts);
    for (size_t i = 0; i < a->npq; i++)
        free(a->pq[i].file);
    free(a->pq);
    free(a->v);
    free(a);
}
