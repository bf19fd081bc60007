/* plan.c: recipient drift between registry entries and file headers (see plan.h). */
#include "secrets/plan.h"
#include "keys/keys.h"
#include "keys/openssh.h"
#include "libage/ssh.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* is_pq_text: an age1pq1 (mlkem768x25519) recipient, in either case (bech32). */
static bool
is_pq_text(const char *s)
{
    return strncasecmp(s, "age1pq1", 7) == 0;
}

/* counted_kind: the kind of a key whose stanzas name no key (compared by count), for the
 * stanza type `type`; SECRETS_KEY_INVALID for any other type. */
static enum secrets_key_kind
counted_kind(const char *type)
{
    if (strcmp(type, "X25519") == 0)
        return SECRETS_KEY_X25519;
    if (strcmp(type, "mlkem768x25519") == 0)
        return SECRETS_KEY_PQ;
    return SECRETS_KEY_INVALID;
}

static size_t
hash_str(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h;
}

static size_t
hash_ptr(const void *p)
{
    return (size_t)(((uintptr_t)p >> 3) * 0x9e3779b97f4a7c15u);
}

static unsigned
rsa_bits(const unsigned char *wire, size_t len)
{
    struct age_ssh_buf b = {wire, len};
    const unsigned char *s;
    size_t n;

    if (age_ssh_get_string(&b, &s, &n) != 0 || age_ssh_get_string(&b, &s, &n) != 0 ||
        age_ssh_get_string(&b, &s, &n) != 0)
        return 0;
    while (n > 0 && *s == 0) {
        s++;
        n--;
    }
    if (n == 0)
        return 0;
    unsigned bits = (unsigned)(n - 1) * 8;
    for (unsigned char c = s[0]; c; c >>= 1)
        bits++;
    return bits;
}

static void
set_ssh(struct secrets_key *k, unsigned char *wire, size_t len)
{
    k->wire = wire;
    k->wire_len = len;
    k->kind = SECRETS_KEY_SSH;
    age_ssh_tag_string(wire, len, k->tag);
    if (age_ssh_wire_type(wire, len, k->ssh_type, sizeof(k->ssh_type)) != 0)
        k->ssh_type[0] = '\0';
    if (strcmp(k->ssh_type, "ssh-rsa") == 0)
        k->rsa_bits = rsa_bits(wire, len);
}

/* parse_plugin: whether k is a plugin recipient (then its kind is set: SECRETS_KEY_PLUGIN,
 * or SECRETS_KEY_INVALID when malformed). */
static bool
parse_plugin(struct secrets_key *k)
{
    struct m3_diag d = {0};
    int rc = keys_plugin_parse(k->text, &k->plugin, &d);

    if (rc == M3_ENOMATCH)
        return false;
    if (rc == 0 &&
        (strcmp(k->plugin.plugin, "tag") == 0 || strcmp(k->plugin.plugin, "tagpq") == 0)) {
        k->kind = SECRETS_KEY_PLUGIN;
        k->native = true;
    } else if (rc == 0) {
        k->kind = SECRETS_KEY_PLUGIN;
        snprintf(k->error, sizeof(k->error),
                 "a recipient of the age-plugin-%s plugin, which is not installed",
                 k->plugin.plugin);
    } else {
        k->kind = SECRETS_KEY_INVALID;
        snprintf(k->error, sizeof(k->error), "%s", d.msg[0] ? d.msg : m3_strerror(rc));
    }
    return true;
}

/* parse_full: builds the recipient (for an Ed25519 key, its conversion to X25519). */
static void
parse_full(struct secrets_key *k)
{
    struct age_recipient *r = NULL;
    struct m3_diag d = {0};
    const unsigned char *wire;
    unsigned char *copy;
    size_t len;

    if (k->kind == SECRETS_KEY_PLUGIN || parse_plugin(k)) {
        /* Encrypted to through its plugin, or natively for the tagged types (k->native);
         * without the plugin, k->error says what is missing. */
        if (k->kind == SECRETS_KEY_PLUGIN && k->rcpt == NULL &&
            keys_recipient_parse(&r, k->text, &d) == 0) {
            k->rcpt = r;
        } else if (k->kind == SECRETS_KEY_PLUGIN && k->rcpt == NULL && k->native) {
            k->kind = SECRETS_KEY_INVALID;
            snprintf(k->error, sizeof(k->error), "%s", d.msg[0] ? d.msg : "not a recipient");
        } else if (k->kind == SECRETS_KEY_PLUGIN && k->rcpt == NULL && d.code == M3_ENOTFOUND) {
            snprintf(k->error, sizeof(k->error), "%.300s", d.msg);
        }
        return;
    }
    if (keys_recipient_parse(&r, k->text, &d) != 0) {
        k->kind = SECRETS_KEY_INVALID;
        snprintf(k->error, sizeof(k->error), "%s", d.msg[0] ? d.msg : "not a recipient");
        return;
    }
    k->rcpt = r;
    if (k->kind != SECRETS_KEY_INVALID)
        return; /* parse_light (or parse_plugin) already set what the drift needs */
    if (age_recipient_ssh_wire(r, &wire, &len) != 0) {
        k->kind = age_recipient_is_pq(r) ? SECRETS_KEY_PQ : SECRETS_KEY_X25519;
    } else if ((copy = malloc(len)) != NULL) {
        memcpy(copy, wire, len);
        set_ssh(k, copy, len);
    } else {
        k->kind = SECRETS_KEY_INVALID;
        snprintf(k->error, sizeof(k->error), "out of memory");
        age_recipient_free(r);
        k->rcpt = NULL;
    }
}

/* parse_light: only what the drift needs (kind, wire key, tag). Building the recipient of an
 * Ed25519 key converts its point to X25519, which costs more than comparing a header. Keys
 * that are neither age1 nor an ssh-ed25519/ssh-rsa line get the full parse (and its error). */
static void
parse_light(struct secrets_key *k)
{
    unsigned char *wire = NULL;
    size_t len;

    if (parse_plugin(k))
        return;
    if (strncmp(k->text, "age1", 4) == 0) {
        k->kind = is_pq_text(k->text) ? SECRETS_KEY_PQ : SECRETS_KEY_X25519;
        return;
    }
    if ((strncmp(k->text, "ssh-ed25519 ", 12) != 0 && strncmp(k->text, "ssh-rsa ", 8) != 0) ||
        keys_ssh_public_parse(k->text, &wire, &len, NULL) != 0) {
        parse_full(k);
        return;
    }
    set_ssh(k, wire, len);
}

static struct secrets_key *
find_mut(const struct secrets_keyset *ks, const char *text)
{
    if (ks->nslots == 0)
        return NULL;
    for (size_t i = hash_str(text) & (ks->nslots - 1);; i = (i + 1) & (ks->nslots - 1)) {
        if (ks->slots[i] == 0)
            return NULL;
        if (strcmp(ks->v[ks->slots[i] - 1].text, text) == 0)
            return &ks->v[ks->slots[i] - 1];
    }
}

const struct secrets_key *
secrets_keyset_find(const struct secrets_keyset *ks, const char *text)
{
    size_t mask = ks->nslots - 1;

    if (ks->nslots == 0)
        return NULL;
    for (size_t i = hash_ptr(text) & mask; ks->pslots[i].p != NULL; i = (i + 1) & mask)
        if (ks->pslots[i].p == text)
            return ks->pslots[i].key;
    return find_mut(ks, text);
}

const struct secrets_key *
secrets_keyset_named(const struct secrets_keyset *ks, const char *name)
{
    for (size_t i = 0; i < ks->n; i++)
        for (size_t j = 0; j < ks->v[i].nnames; j++)
            if (strcmp(ks->v[i].names[j], name) == 0)
                return &ks->v[i];
    return NULL;
}

/* add: the key for text, created when new; the string's address is remembered too (the
 * registry shares one copy of a key among the entries that list it). The tables are sized up
 * front (no rehash). */
static struct secrets_key *
add(struct secrets_keyset *ks, const char *text, bool light)
{
    size_t i, mask = ks->nslots - 1;
    struct secrets_key *k;

    for (i = hash_ptr(text) & mask; ks->pslots[i].p != NULL; i = (i + 1) & mask)
        if (ks->pslots[i].p == text)
            return ks->pslots[i].key;
    if ((k = find_mut(ks, text)) == NULL) {
        size_t j;
        k = &ks->v[ks->n];
        memset(k, 0, sizeof(*k));
        if ((k->text = strdup(text)) == NULL)
            return NULL;
        for (j = hash_str(text) & mask; ks->slots[j] != 0; j = (j + 1) & mask)
            ;
        ks->slots[j] = ++ks->n;
        if (light)
            parse_light(k);
        else
            parse_full(k);
    }
    ks->pslots[i].p = text;
    ks->pslots[i].key = k;
    return k;
}

static int
push_str(char ***v, size_t *n, const char *s)
{
    char **nv = realloc(*v, (*n + 1) * sizeof(*nv));
    if (nv == NULL)
        return M3_ENOMEM;
    *v = nv;
    if ((nv[*n] = strdup(s)) == NULL)
        return M3_ENOMEM;
    (*n)++;
    return 0;
}

/* unbound_label: how a key no binding names is shown: the key itself (a reviewer must see
 * exactly which key it is, never a name a comment could fake), an SSH key without its
 * comment, then the comment (`#` after the literal, else the SSH key's) in parentheses. */
static char *
unbound_label(const struct secrets_key *k, const char *comment)
{
    const char *t = k->text, *sshc = NULL;
    size_t n = strlen(t);
    char *out;

    if (k->kind == SECRETS_KEY_SSH) {
        /* "TYPE BASE64 [comment]" (after any authorized_keys options) */
        const char *sp = strchr(t, ' ');
        const char *sp2 = sp ? strchr(sp + 1, ' ') : NULL;
        if (sp2 != NULL) {
            n = (size_t)(sp2 - t);
            sshc = sp2 + strspn(sp2, " \t");
            if (*sshc == '\0')
                sshc = NULL;
        }
    }
    if (comment == NULL)
        comment = sshc;
    if ((out = malloc(n + (comment ? strlen(comment) + 4 : 0) + 1)) == NULL)
        return NULL;
    memcpy(out, t, n);
    out[n] = '\0';
    /* not a key: what it is matters less than where (the finding gives its position), and
     * a long string would swamp the line */
    if (k->kind == SECRETS_KEY_INVALID && n > 48)
        sprintf(out + 20, "...%s", t + n - 8);
    if (comment != NULL)
        sprintf(out + strlen(out), " (%s)", comment);
    return out;
}

/* key_comment: the first `#` comment written after a literal of key text in r. */
static const char *
key_comment(const struct reg_registry *r, const char *text)
{
    for (size_t i = 0; i < r->nentries; i++)
        for (size_t j = 0; j < r->entries[i].nkeys; j++)
            if (r->entries[i].key_comments != NULL && r->entries[i].key_comments[j] != NULL &&
                strcmp(r->entries[i].keys[j], text) == 0)
                return r->entries[i].key_comments[j];
    return NULL;
}

static int
build(struct secrets_keyset *ks, const struct reg_registry *r, bool light)
{
    size_t total = 0;

    memset(ks, 0, sizeof(*ks));
    for (size_t i = 0; i < r->nentries; i++)
        total += r->entries[i].nkeys;
    for (size_t i = 0; i < r->nkeybinds; i++)
        total += r->keybinds[i].nvalues;
    for (ks->nslots = 16; ks->nslots < 2 * total + 1; ks->nslots *= 2)
        ;
    ks->slots = calloc(ks->nslots, sizeof(*ks->slots));
    ks->pslots = calloc(ks->nslots, sizeof(*ks->pslots));
    ks->v = calloc(total + 1, sizeof(*ks->v));
    if (ks->slots == NULL || ks->pslots == NULL || ks->v == NULL)
        goto nomem;
    for (size_t i = 0; i < r->nkeybinds; i++) {
        const struct reg_keybind *b = &r->keybinds[i];
        for (size_t j = 0; j < b->nvalues; j++) {
            struct secrets_key *k = add(ks, b->values[j], light);
            if (k == NULL || (!b->is_list && push_str(&k->names, &k->nnames, b->name) != 0))
                goto nomem;
        }
    }
    for (size_t i = 0; i < r->nentries; i++)
        for (size_t j = 0; j < r->entries[i].nkeys; j++)
            if (add(ks, r->entries[i].keys[j], light) == NULL)
                goto nomem;
    /* attribute paths name only keys the registry has already (a key set may hold more) */
    for (size_t i = 0; i < r->nkeypaths; i++) {
        struct secrets_key *k = find_mut(ks, r->keypaths[i].value);
        if (k != NULL && push_str(&k->paths, &k->npaths, r->keypaths[i].path) != 0)
            goto nomem;
    }
    for (size_t i = 0; i < ks->n; i++) {
        struct secrets_key *k = &ks->v[i];
        k->bound = k->nnames > 0 || k->npaths > 0;
        k->name = k->nnames > 0   ? strdup(k->names[0])
                  : k->npaths > 0 ? strdup(k->paths[0])
                                  : unbound_label(k, key_comment(r, k->text));
        if (k->name == NULL)
            goto nomem;
    }
    return 0;
nomem:
    secrets_keyset_clear(ks);
    return M3_ENOMEM;
}

int
secrets_keyset_build(struct secrets_keyset *ks, const struct reg_registry *r)
{
    return build(ks, r, false);
}

int
secrets_keyset_build_light(struct secrets_keyset *ks, const struct reg_registry *r)
{
    return build(ks, r, true);
}

void
secrets_keyset_parse(struct secrets_keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++)
        if (ks->v[i].rcpt == NULL && ks->v[i].kind != SECRETS_KEY_INVALID)
            parse_full(&ks->v[i]);
}

void
secrets_keyset_clear(struct secrets_keyset *ks)
{
    for (size_t i = 0; i < ks->n; i++) {
        struct secrets_key *k = &ks->v[i];
        free(k->text);
        free(k->name);
        for (size_t j = 0; j < k->nnames; j++)
            free(k->names[j]);
        free(k->names);
        for (size_t j = 0; j < k->npaths; j++)
            free(k->paths[j]);
        free(k->paths);
        free(k->wire);
        age_recipient_free(k->rcpt);
    }
    free(ks->v);
    free(ks->slots);
    free(ks->pslots);
    memset(ks, 0, sizeof(*ks));
}

const struct secrets_key *
secrets_keyset_bound_to(const struct secrets_keyset *ks, const char *name)
{
    const struct secrets_key *found = NULL;
    size_t nl = strlen(name);

    if ((found = secrets_keyset_named(ks, name)) != NULL)
        return found;
    for (size_t i = 0; i < ks->n; i++)
        for (size_t j = 0; j < ks->v[i].npaths; j++) {
            const char *p = ks->v[i].paths[j];
            size_t pl = strlen(p);
            if (strcmp(p, name) == 0)
                return &ks->v[i];
            if (pl > nl && p[pl - nl - 1] == '.' && strcmp(p + pl - nl, name) == 0) {
                if (found != NULL && found != &ks->v[i])
                    return NULL; /* ambiguous */
                found = &ks->v[i];
            }
        }
    return found;
}

static bool
stanza_is_key(const struct age_stanza *s, const struct secrets_key *k)
{
    if (k->kind == SECRETS_KEY_PLUGIN)
        return keys_plugin_stanza_matches(&k->plugin, s);
    return k->kind == SECRETS_KEY_SSH && s->nargs >= 1 && strcmp(s->args[0], k->tag) == 0 &&
           strcmp(s->type, k->ssh_type) == 0;
}

/* age1_kind: the counted kind of an age1 key text: SECRETS_KEY_PQ for age1pq1, X25519 when
 * its only '1' is the separator after "age" (bech32 data has none), else (a plugin or tagged
 * recipient, whose stanzas are matched by tag) SECRETS_KEY_INVALID. */
static enum secrets_key_kind
age1_kind(const char *text)
{
    if (is_pq_text(text))
        return SECRETS_KEY_PQ;
    return strrchr(text, '1') == text + 3 ? SECRETS_KEY_X25519 : SECRETS_KEY_INVALID;
}

bool
secrets_header_has_key(const struct age_header *h, const struct secrets_key *k,
                       const struct reg_entry *e)
{
    size_t want = 0, have = 0;
    bool listed = false;

    if (k->kind == SECRETS_KEY_SSH || k->kind == SECRETS_KEY_PLUGIN) {
        if (k->kind == SECRETS_KEY_PLUGIN && k->plugin.scheme == KEYS_TAG_NONE)
            return true; /* cannot be told: not reported as missing */
        for (size_t i = 0; i < h->nstanzas; i++)
            if (stanza_is_key(&h->stanzas[i], k))
                return true;
        return false;
    }
    if ((k->kind != SECRETS_KEY_X25519 && k->kind != SECRETS_KEY_PQ) || e == NULL)
        return false;
    for (size_t i = 0; i < e->nkeys; i++) {
        if (strcmp(e->keys[i], k->text) == 0)
            listed = true;
        if (strncmp(e->keys[i], "age1", 4) == 0 && age1_kind(e->keys[i]) == k->kind)
            want++;
    }
    for (size_t i = 0; i < h->nstanzas; i++)
        if (counted_kind(h->stanzas[i].type) == k->kind)
            have++;
    return listed && have >= want;
}

/* is_grease: a stanza some implementations add to keep parsers tolerant; no key opens it. */
static bool
is_grease(const char *type)
{
    size_t n = strlen(type);
    return n > 7 && strcmp(type + n - 7, "-grease") == 0;
}

int
secrets_drift_compute(const struct secrets_keyset *ks, const struct reg_entry *e,
                      const struct age_header *h, struct secrets_drift *out)
{
    const struct secrets_key **keys = NULL;
    bool *found = NULL;
    size_t nkeys = 0;

    memset(out, 0, sizeof(*out));
    if ((keys = calloc(e->nkeys + 1, sizeof(*keys))) == NULL ||
        (found = calloc(e->nkeys + 1, sizeof(*found))) == NULL ||
        (out->missing = calloc(e->nkeys + 1, sizeof(*out->missing))) == NULL ||
        (out->stale = calloc(h->nstanzas + 1, sizeof(*out->stale))) == NULL ||
        (out->unattributed = calloc(h->nstanzas + 1, sizeof(*out->unattributed))) == NULL)
        goto nomem;
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[i]);
        bool dup = false;
        if (k == NULL)
            continue;
        for (size_t j = 0; j < nkeys && !dup; j++)
            dup = keys[j] == k;
        if (dup)
            continue;
        keys[nkeys++] = k;
        if (k->kind == SECRETS_KEY_X25519)
            out->x25519_want++;
        else if (k->kind == SECRETS_KEY_PQ)
            out->pq_want++;
    }
    /* one pass over the stanzas: each is matched to the entry's keys once */
    for (size_t i = 0; i < h->nstanzas; i++) {
        const struct age_stanza *s = &h->stanzas[i];
        struct secrets_stale *st = &out->stale[out->nstale];
        bool ours = false;
        if (counted_kind(s->type) == SECRETS_KEY_X25519) {
            out->x25519_have++;
            continue;
        }
        if (counted_kind(s->type) == SECRETS_KEY_PQ) {
            out->pq_have++;
            continue;
        }
        if (is_grease(s->type))
            continue;
        for (size_t j = 0; j < nkeys && !ours; j++)
            if (stanza_is_key(s, keys[j]))
                ours = found[j] = true;
        if (ours)
            continue;
        bool is_ssh = strcmp(s->type, "ssh-ed25519") == 0 || strcmp(s->type, "ssh-rsa") == 0;
        bool tagged = is_ssh || keys_stanza_is_tagged(s);
        if (!tagged || s->nargs < 1) {
            /* no tag: it may be for a key of the entry m3age cannot recognise */
            size_t u = 0;
            while (u < out->nunattributed && strcmp(out->unattributed[u].type, s->type) != 0)
                u++;
            if (u == out->nunattributed) {
                snprintf(out->unattributed[u].type, sizeof(out->unattributed[u].type), "%s",
                         s->type);
                out->nunattributed++;
            }
            out->unattributed[u].count++;
            continue;
        }
        for (size_t j = 0; j < ks->n && st->key == NULL; j++)
            if (stanza_is_key(s, &ks->v[j]))
                st->key = &ks->v[j];
        if (st->key != NULL)
            snprintf(st->desc, sizeof(st->desc), "%s", st->key->name);
        else
            /* "with tag": a tag is 4 bytes of SHA-256 of the key, not the start of its
             * SHA256: fingerprint (a hash of the same bytes, but its own) */
            snprintf(st->desc, sizeof(st->desc), "unknown %.40s key with tag %.8s", s->type,
                     s->args[0]);
        out->nstale++;
    }
    for (size_t j = 0; j < nkeys; j++)
        if (!found[j] &&
            (keys[j]->kind == SECRETS_KEY_SSH ||
             (keys[j]->kind == SECRETS_KEY_PLUGIN && keys[j]->plugin.scheme != KEYS_TAG_NONE)))
            out->missing[out->nmissing++] = keys[j];
    free(keys);
    free(found);
    return 0;
nomem:
    free(keys);
    free(found);
    secrets_drift_clear(out);
    return M3_ENOMEM;
}

void
secrets_drift_clear(struct secrets_drift *dr)
{
    free(dr->missing);
    free(dr->stale);
    free(dr->unattributed);
    memset(dr, 0, sizeof(*dr));
}

size_t
secrets_drift_unattributed(const struct secrets_drift *dr)
{
    size_t n = 0;

    for (size_t i = 0; i < dr->nunattributed; i++)
        n += dr->unattributed[i].count;
    return n;
}

void
secrets_unattributed_text(const struct secrets_unattributed *u, char *buf, size_t cap)
{
    snprintf(buf, cap, "%zu %s stanza%s", u->count, u->type, u->count == 1 ? "" : "s");
}

/* added_text: secrets_x25519_added_text for the keys of kind `kind`, named `what`. */
static char *
added_text(const struct secrets_keyset *ks, const struct reg_entry *e, size_t n,
           enum secrets_key_kind kind, const char *what)
{
    size_t cap = 160, len;
    char *out = malloc(cap);
    bool first = true;

    if (out == NULL)
        return NULL;
    len = (size_t)snprintf(out, cap, "%zu %s recipient%s not in the registry before (one of: ", n,
                           what, n == 1 ? "" : "s");
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[i]);
        bool dup = false;
        size_t nl;
        if (k == NULL || k->kind != kind)
            continue;
        for (size_t j = 0; j < i && !dup; j++)
            dup = strcmp(e->keys[j], e->keys[i]) == 0;
        if (dup)
            continue;
        nl = strlen(k->name);
        if (len + nl + 4 > cap) {
            char *bigger = realloc(out, cap = (len + nl + 4) * 2);
            if (bigger == NULL) {
                free(out);
                return NULL;
            }
            out = bigger;
        }
        len += (size_t)snprintf(out + len, cap - len, "%s%s", first ? "" : ", ", k->name);
        first = false;
    }
    snprintf(out + len, cap - len, ")");
    return out;
}

char *
secrets_x25519_added_text(const struct secrets_keyset *ks, const struct reg_entry *e, size_t n)
{
    return added_text(ks, e, n, SECRETS_KEY_X25519, "X25519");
}

char *
secrets_pq_added_text(const struct secrets_keyset *ks, const struct reg_entry *e, size_t n)
{
    return added_text(ks, e, n, SECRETS_KEY_PQ, "post-quantum (mlkem768x25519)");
}

bool
secrets_drift_has_key(const struct secrets_drift *dr, const struct secrets_key *k)
{
    if (k->kind == SECRETS_KEY_X25519)
        return dr->x25519_have >= dr->x25519_want;
    if (k->kind == SECRETS_KEY_PQ)
        return dr->pq_have >= dr->pq_want;
    if (k->kind == SECRETS_KEY_PLUGIN && k->plugin.scheme == KEYS_TAG_NONE)
        return true; /* cannot be told from the header */
    if (k->kind != SECRETS_KEY_SSH && k->kind != SECRETS_KEY_PLUGIN)
        return false;
    for (size_t i = 0; i < dr->nmissing; i++)
        if (dr->missing[i] == k)
            return false;
    return true;
}

bool
secrets_drift_none(const struct secrets_drift *dr)
{
    return dr->nmissing == 0 && dr->nstale == 0 && dr->x25519_want == dr->x25519_have &&
           dr->pq_want == dr->pq_have;
}

bool
secrets_key_is_pq(const struct secrets_key *k)
{
    return k->kind == SECRETS_KEY_PQ ||
           (k->kind == SECRETS_KEY_PLUGIN && k->plugin.scheme == KEYS_TAG_P256_PQ);
}

bool
secrets_key_is_classical(const struct secrets_key *k)
{
    return k->kind == SECRETS_KEY_X25519 || k->kind == SECRETS_KEY_SSH ||
           (k->kind == SECRETS_KEY_PLUGIN && k->plugin.scheme == KEYS_TAG_P256);
}

bool
secrets_entry_pq_mix(const struct secrets_keyset *ks, const struct reg_entry *e, size_t *first,
                     char *names, size_t cap)
{
    bool pq = false, classical = false;
    size_t len = 0;

    if (names != NULL && cap > 0)
        names[0] = '\0';
    for (size_t i = 0; i < e->nkeys; i++) {
        const struct secrets_key *k = secrets_keyset_find(ks, e->keys[i]);
        if (k == NULL)
            continue;
        pq |= secrets_key_is_pq(k);
        if (!secrets_key_is_classical(k))
            continue;
        if (!classical)
            *first = i;
        classical = true;
        if (names != NULL && len < cap) {
            bool dup = false;
            for (size_t j = 0; j < i && !dup; j++)
                dup = strcmp(e->keys[j], e->keys[i]) == 0;
            if (!dup)
                len += (size_t)snprintf(names + len, cap - len, "%s%s", len ? ", " : "", k->name);
        }
    }
    return pq && classical;
}

bool
secrets_header_is_pq(const struct age_header *h, char *classical, size_t cap)
{
    size_t npq = 0, nclassical = 0, len = 0;
    bool *seen = calloc(h->nstanzas + 1, sizeof(*seen));

    if (classical != NULL && cap > 0)
        classical[0] = '\0';
    for (size_t i = 0; i < h->nstanzas; i++) {
        const char *t = h->stanzas[i].type;
        size_t n = 0;
        if (strcmp(t, "mlkem768x25519") == 0 || strcmp(t, "mlkem768p256tag") == 0) {
            npq++;
            continue;
        }
        if (is_grease(t) || seen == NULL || seen[i])
            continue;
        for (size_t j = i; j < h->nstanzas; j++)
            if (strcmp(h->stanzas[j].type, t) == 0)
                n += seen[j] = true;
        nclassical += n;
        if (classical != NULL && len < cap)
            len +=
                (size_t)snprintf(classical + len, cap - len, "%s%zu %.40s", len ? ", " : "", n, t);
    }
    bool ok = seen != NULL && npq > 0 && nclassical == 0;
    free(seen);
    return ok;
}

ssize_t
secrets_mem_read(void *ctx, void *buf, size_t len)
{
    struct secrets_mem_rd *m = ctx;
    size_t n = m->len - m->off < len ? m->len - m->off : len;

    memcpy(buf, m->p + m->off, n);
    m->off += n;
    return (ssize_t)n;
}

int
secrets_header_from_buf(const unsigned char *buf, size_t len, struct age_header **out,
                        struct m3_diag *d)
{
    static const char magic[] = "age-encryption.org/";
    struct secrets_mem_rd m = {buf, len, 0};

    if (len >= sizeof(magic) - 1 && memcmp(buf, magic, sizeof(magic) - 1) == 0)
        return age_header_parse(out, buf, len, NULL, d);
    return age_header_read(out, secrets_mem_read, &m, d);
}
