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
    size_t used, size; /* size: bytes of data[] */
    max_align_t data[];
};

struct reg_arena {
    struct reg_chunk *head;
    size_t next_size;
    size_t total; /* bytes mapped so far */
};

struct reg_arena *
reg_arena_new(void)
{
    struct reg_arena *a = calloc(1, sizeof(*a));

    if (a != NULL)
        a->next_size = CHUNK_MIN;
    return a;
}

static struct reg_chunk *
chunk_new(struct reg_arena *a, size_t n)
{
    size_t size = a->next_size, total;
    void *p;
    struct reg_chunk *c;

    while (size < n + sizeof(struct reg_chunk))
        size *= 2;
    total = size;
    if (n > ARENA_MAX || a->total + total > ARENA_MAX)
        return NULL;
    p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1,
             0);
    if (p == MAP_FAILED)
        return NULL;
    c = p;
    c->used = 0;
    c->size = total - sizeof(struct reg_chunk);
    c->next = a->head;
    a->head = c;
    a->total += total;
    if (a->next_size < CHUNK_MAX)
        a->next_size *= 2;
    return c;
}

void *
reg_arena_alloc(struct reg_arena *a, size_t n)
{
    struct reg_chunk *c = a->head;
    void *p;

    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    if ((c == NULL || c->size - c->used < n) && (c = chunk_new(a, n)) == NULL)
        return NULL;
    p = (char *)c->data + c->used;
    c->used += n;
    return p; /* zero: fresh mmap'd memory, never reused */
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
        munmap(c, c->size + sizeof(struct reg_chunk));
    }
    free(a);
}
