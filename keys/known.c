/* known.c: which known keys a header's stanzas are for, without private keys where the
 * format allows it (ssh-* and the tagged P-256 stanzas carry a tag of the key; X25519 and
 * mlkem768x25519 stanzas carry nothing that names the recipient, so only identities can recognise
 * them, by trial unwrapping). */
#include "keys/keys.h"
#include "keys/openssh.h"

#include <stdlib.h>
#include <string.h>

static int
grow(struct keys_known *k)
{
    if (k->n == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 8;
        struct keys_known_key *v = realloc(k->v, cap * sizeof(*v));
        if (v == NULL)
            return M3_ENOMEM;
        k->v = v;
        k->cap = cap;
    }
    memset(&k->v[k->n], 0, sizeof(k->v[k->n]));
    return 0;
}

static void
key_clear(struct keys_known_key *e)
{
    free(e->name);
    free(e->recipient);
    free(e->wire);
    age_identity_free(e->id);
}

static int
set_wire(struct keys_known_key *e, const unsigned char *wire, size_t len)
{
    if ((e->wire = malloc(len)) == NULL)
        return M3_ENOMEM;
    memcpy(e->wire, wire, len);
    e->wire_len = len;
    return 0;
}

int
keys_known_add_recipient(struct keys_known *k, const char *name, const char *text,
                         struct m3_diag *d)
{
    struct age_recipient *r = NULL;
    struct keys_known_key *e;
    const unsigned char *wire;
    size_t len;
    int rc;

    {
        struct keys_plugin_key pk;
        if ((rc = keys_plugin_parse(text, &pk, d)) == 0) {
            if ((rc = grow(k)) != 0)
                return rc;
            e = &k->v[k->n];
            e->is_plugin = true;
            e->plugin = pk;
            if ((e->name = strdup(name)) == NULL || (e->recipient = strdup(text)) == NULL) {
                key_clear(e);
                return M3_ENOMEM;
            }
            k->n++;
            return 0;
        }
        if (rc != M3_ENOMATCH)
            return rc;
    }
    if ((rc = keys_recipient_parse(&r, text, d)) != 0 || (rc = grow(k)) != 0)
        goto out;
    e = &k->v[k->n];
    rc = M3_ENOMEM;
    if ((e->name = strdup(name)) == NULL || (e->recipient = age_recipient_string(r)) == NULL ||
        (age_recipient_ssh_wire(r, &wire, &len) == 0 && set_wire(e, wire, len) != 0)) {
        key_clear(e);
        goto out;
    }
    k->n++;
    rc = 0;
out:
    age_recipient_free(r);
    return rc;
}

int
keys_known_add_identity(struct keys_known *k, const char *name, struct age_identity *id)
{
    struct age_recipient *r = NULL;
    struct keys_known_key *e;
    const unsigned char *wire;
    size_t len;
    int rc;

    if ((rc = grow(k)) != 0)
        return rc;
    e = &k->v[k->n];
    if ((e->name = strdup(name)) == NULL)
        goto nomem;
    if (id->ops->recipient != NULL && id->ops->recipient(id->state, &r) == 0)
        e->recipient = age_recipient_string(r);
    age_recipient_free(r);
    if (keys_identity_ssh_wire(id, &wire, &len) == 0) {
        if (set_wire(e, wire, len) != 0)
            goto nomem;
        age_identity_free(id);
    } else {
        e->id = id; /* X25519, mlkem768x25519: kept to recognise its stanzas */
    }
    k->n++;
    return 0;
nomem:
    free(e->name);
    free(e->recipient);
    return M3_ENOMEM;
}

size_t
keys_known_match(const struct keys_known *k, const struct age_stanza *s, size_t *idx, size_t cap)
{
    unsigned char *fk = NULL;
    size_t n = 0;

    for (size_t i = 0; i < k->n && n < cap; i++) {
        const struct keys_known_key *e = &k->v[i];
        if (e->is_plugin) {
            if (keys_plugin_stanza_matches(&e->plugin, s))
                idx[n++] = i;
        } else if (e->wire != NULL) {
            if (age_stanza_matches_key(s, e->wire, e->wire_len))
                idx[n++] = i;
        } else if (e->id != NULL &&
                   ((age_identity_is_x25519(e->id) && strcmp(s->type, "X25519") == 0) ||
                    (age_identity_is_pq(e->id) && strcmp(s->type, "mlkem768x25519") == 0))) {
            if (fk == NULL && (fk = age_secret_alloc(AGE_FILE_KEY_SIZE)) == NULL)
                break;
            if (e->id->ops->unwrap(e->id->state, s, 1, fk, NULL) == 0)
                idx[n++] = i;
        }
    }
    age_secret_free(fk);
    return n;
}

void
keys_known_clear(struct keys_known *k)
{
    for (size_t i = 0; i < k->n; i++)
        key_clear(&k->v[i]);
    free(k->v);
    memset(k, 0, sizeof(*k));
}
