/* arena.c: the bump allocator behind syntax trees and evaluation values. */
#include <stdlib.h>
#include <string.h>

#include "registry/syntax.h"

struct reg_chunk {
    struct reg_chunk *next;
    size_t used, size;
    max_align_t data[];
};

struct reg_arena {
    struct reg_chunk *head;
};

struct reg_arena *
reg_arena_new(void)
{
    return calloc(1, sizeof(struct reg_arena));
}

void *
reg_arena_alloc(struct reg_arena *a, size_t n)
{
    struct reg_chunk *c = a->head;
    size_t size;
    void *p;

    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if (c == NULL || c->size - c->used < n) {
        size = n > 60000 ? n : 60000;
        c = malloc(sizeof(*c) + size);
        if (c == NULL)
            return NULL;
        c->used = 0;
        c->size = size;
        c->next = a->head;
        a->head = c;
    }
    p = (char *)c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *
reg_arena_strndup(struct reg_arena *a, const char *s, size_t n)
{
    char *p = reg_arena_alloc(a, n + 1);

    if (p != NULL) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void
reg_arena_free(struct reg_arena *a)
{
    struct reg_chunk *c, *next;

    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        free(c);
    }
    free(a);
}
