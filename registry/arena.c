/* arena.c: the bump allocator behind syntax trees and evaluation values.
 *
 * Chunks come from mmap: they arrive zeroed, so allocations need no memset, and
 * MAP_POPULATE maps their pages in one call instead of one page fault per page (page faults
 * were most of the evaluation time of a large registry). Chunks grow geometrically. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "registry/syntax.h"

#define CHUNK_MIN (256u << 10)
#define CHUNK_MAX (8u << 20)
/* The most one arena may hold. Real registries need a few MiB; the cap turns an evaluation
 * that runs away (builtins.genList of a huge count, exponential recursion: every step
 * allocates) into an "out of memory" error in seconds instead of exhausting the machine. */
#define ARENA_MAX ((size_t)1 << 30)

struct reg_chunk {
    struct reg_chunk *next;
    size_t size; /* bytes of the mapping */
    max_align_t data[];
};

_Static_assert(_Alignof(max_align_t) <= 16 && sizeof(struct reg_chunk) % 16 == 0,
               "reg_arena_alloc aligns to 16 bytes");

struct reg_arena *
reg_arena_new(void)
{
    struct reg_arena *a = calloc(1, sizeof(*a));

    if (a != NULL)
        a->next_size = CHUNK_MIN;
    return a;
}

void *
reg_arena_alloc_slow(struct reg_arena *a, size_t n)
{
    size_t size = a->next_size;
    void *p;
    struct reg_chunk *c;

    while (size < n + sizeof(struct reg_chunk))
        size *= 2;
    if (n > ARENA_MAX || a->total + size > ARENA_MAX)
        return NULL;
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    c = p;
    c->size = size;
    c->next = a->head;
    a->head = c;
    a->total += size;
    if (a->next_size < CHUNK_MAX)
        a->next_size *= 2;
    a->cur = (char *)c->data + n;
    a->end = (char *)c + size;
    return c->data;
}

char *
reg_arena_strndup(struct reg_arena *a, const char *s, size_t n)
{
    char *p = reg_arena_alloc(a, n + 1);

    if (p != NULL)
        memcpy(p, s, n);
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
        munmap(c, c->size);
    }
    free(a);
}
