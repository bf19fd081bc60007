/* recipient.c: the generic recipient and identity objects around a type's ops table. */
#include "libage/age.h"

#include <stdlib.h>

struct age_recipient *
age_recipient_new(const struct age_recipient_ops *ops, void *state)
{
    struct age_recipient *r = calloc(1, sizeof(*r));

    if (r == NULL) {
        if (ops->free)
            ops->free(state);
        return NULL;
    }
    r->ops = ops;
    r->state = state;
    return r;
}

struct age_identity *
age_identity_new(const struct age_identity_ops *ops, void *state)
{
    struct age_identity *id = calloc(1, sizeof(*id));

    if (id == NULL) {
        if (ops->free)
            ops->free(state);
        return NULL;
    }
    id->ops = ops;
    id->state = state;
    return id;
}

void
age_recipient_free(struct age_recipient *r)
{
    if (r == NULL)
        return;
    if (r->ops->free)
        r->ops->free(r->state);
    free(r);
}

void
age_identity_free(struct age_identity *id)
{
    if (id == NULL)
        return;
    if (id->ops->free)
        id->ops->free(id->state);
    free(id);
}

char *
age_recipient_string(const struct age_recipient *r)
{
    return r->ops->encode ? r->ops->encode(r->state) : NULL;
}
