/* arena.c: the bump allocator behind syntax trees and evaluation values.
 *
 * Chunks come from mmap and grow geometrically. A freed arena's chunks go to a small cache
 * that the next arena takes them from: a program that parses and evaluates again (the editor
 * commands, a benchmark, a long-lived caller) then reuses memory that is mapped and warm in
 * the caches instead of mapping, populating and unmapping megabytes each time. Reused
 * memory is not zero, so reg_arena_alloc zeroes what it hands out from a reused chunk.
 *
 * Fresh memory is most of what a one-shot evaluation costs on the virtual machines this was
 * measured on, and its price depends on the page size (2026-11-26, whole processes, CPU
 * time over one that maps nothing): small pages, all mapped by MAP_POPULATE, cost ~0.02 ms
 * for 128 KiB, 0.18 ms for 256 KiB, 0.64 ms for 512 KiB and 1.5 ms for 1 MiB (one fault
 * each instead is 15-30 us a page); one 2 MiB transparent huge page costs 0.1-0.2 ms. So a
 * chunk of up to SMALL_MAX is small pages, populated, and any larger chunk is 2 MiB-aligned
 * huge pages, where the kernel gives them (a 1,000-secret registry, whose arenas grew
 * through 256 KiB and 512 KiB chunks, took 6.9 ms as a whole process, against 3.2 ms in
 * huge pages). Callers that know the input's size (reg_arena_new_for) start with a chunk
 * sized for it. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "registry/syntax.h"

/* The largest chunk in small pages; also the first chunk when the input's size is unknown. */
#define SMALL_MAX (128u << 10)
/* The first chunk for an input known to be small (a few KiB of secrets.nix, an imported key
 * list): every page of a small chunk is populated when it is mapped. */
#define CHUNK_SMALL (16u << 10)
#define CHUNK_MAX (8u << 20)
#define HUGE_SIZE ((size_t)2 << 20)
/* The most one arena may hold. Real registries need a few MiB; the cap turns an evaluation
 * that runs away (builtins.genList of a huge count, exponential recursion: every step
 * allocates) into an "out of memory" error in seconds instead of exhausting the machine. */
#define ARENA_MAX ((size_t)1 << 30)
/* The most the cache of freed chunks keeps mapped (chunks over CHUNK_MAX are never kept). */
#define CACHE_MAX ((size_t)32 << 20)

struct reg_chunk {
    struct reg_chunk *next;
    size_t size; /* bytes of the mapping */
    max_align_t data[];
};

_Static_assert(_Alignof(max_align_t) <= 16 && sizeof(struct reg_chunk) % 16 == 0,
               "reg_arena_alloc aligns to 16 bytes");

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_chunk *cache;
static size_t cache_bytes;

/* cache_take: a cached chunk of at least size bytes (the smallest such), or NULL. */
static struct reg_chunk *
cache_take(size_t size)
{
    struct reg_chunk **pp, **best = NULL, *c = NULL;

    pthread_mutex_lock(&cache_lock);
    for (pp = &cache; *pp != NULL; pp = &(*pp)->next)
        if ((*pp)->size >= size && (best == NULL || (*pp)->size < (*best)->size))
            best = pp;
    if (best != NULL) {
        c = *best;
        *best = c->next;
        cache_bytes -= c->size;
    }
    pthread_mutex_unlock(&cache_lock);
    return c;
}

/* cache_put: keeps c for reuse; 0 when the cache is full (the caller unmaps it). */
static int
cache_put(struct reg_chunk *c)
{
    int kept = 0;

    if (c->size > CHUNK_MAX)
        return 0;
    pthread_mutex_lock(&cache_lock);
    if (cache_bytes + c->size <= CACHE_MAX) {
        c->next = cache;
        cache = c;
        cache_bytes += c->size;
        kept = 1;
    }
    pthread_mutex_unlock(&cache_lock);
    return kept;
}

/* thp_usable: whether the kernel may back a region advised MADV_HUGEPAGE with huge pages
 * (transparent_hugepage "always" or "madvise"; not "never", nor a kernel without them, nor
 * where /sys cannot be read). Read once, by huge_chunk, and only for a chunk under 1 MiB. */
static int thp_usable;
static pthread_once_t thp_once = PTHREAD_ONCE_INIT;

static void
thp_read(void)
{
    char buf[64];
    int fd = open("/sys/kernel/mm/transparent_hugepage/enabled", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;

    if (fd >= 0)
        close(fd);
    buf[n > 0 ? n : 0] = '\0';
    thp_usable = strstr(buf, "[always]") != NULL || strstr(buf, "[madvise]") != NULL;
}

/* huge_chunk: whether a chunk of size bytes is huge pages (2 MiB multiples): past
 * SMALL_MAX where the kernel has them; from 1 MiB always, without asking (where it has none,
 * such a chunk is faulted a page at a time as it is used instead of populated whole). */
static int
huge_chunk(size_t size)
{
    if (size <= SMALL_MAX)
        return 0;
    if (size >= HUGE_SIZE / 2)
        return 1;
    pthread_once(&thp_once, thp_read);
    return thp_usable;
}

struct reg_arena *
reg_arena_new(void)
{
    return reg_arena_new_for(0);
}

struct reg_arena *
reg_arena_new_for(size_t expect)
{
    struct reg_arena *a = calloc(1, sizeof(*a));

    if (a == NULL)
        return NULL;
    a->next_size = SMALL_MAX;
    if (huge_chunk(expect)) {
        a->next_size = HUGE_SIZE;
        while (a->next_size < expect && a->next_size < CHUNK_MAX)
            a->next_size *= 2;
    } else if (expect > 0) {
        a->next_size = CHUNK_SMALL;
        while (a->next_size < expect)
            a->next_size *= 2;
    }
    return a;
}

/* map_chunk: size bytes of fresh memory: small pages, all mapped by the one call (see the
 * top), up to SMALL_MAX or where the kernel has no huge pages; else 2 MiB-aligned and
 * advised to be huge pages (faulted in 2 MiB at a time). */
static void *
map_chunk(size_t size)
{
    const int flags = MAP_PRIVATE | MAP_ANONYMOUS;
    char *p, *q;
    size_t lead;

    if (size < HUGE_SIZE) {
        p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags | MAP_POPULATE, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    p = mmap(NULL, size, PROT_READ | PROT_WRITE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (((uintptr_t)p & (HUGE_SIZE - 1)) != 0) {
        /* not aligned (older kernels): map more and trim to an aligned range */
        munmap(p, size);
        p = mmap(NULL, size + HUGE_SIZE, PROT_READ | PROT_WRITE, flags, -1, 0);
        if (p == MAP_FAILED)
            return NULL;
        q = (char *)(((uintptr_t)p + HUGE_SIZE - 1) & ~(uintptr_t)(HUGE_SIZE - 1));
        lead = (size_t)(q - p);
        if (lead > 0)
            munmap(p, lead);
        munmap(q + size, HUGE_SIZE - lead);
        p = q;
    }
#ifdef MADV_HUGEPAGE
    madvise(p, size, MADV_HUGEPAGE);
#endif
    return p;
}

void *
reg_arena_alloc_slow(struct reg_arena *a, size_t n)
{
    size_t size = a->next_size;
    void *p;
    struct reg_chunk *c;

    while (size < n + sizeof(struct reg_chunk))
        size *= 2;
    if (huge_chunk(size))
        size = (size + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    if (n > ARENA_MAX || a->total + size > ARENA_MAX)
        return NULL;
    a->dirty = 0;
    if ((c = cache_take(size)) != NULL) {
        a->dirty = 1;
    } else {
        if ((p = map_chunk(size)) == NULL)
            return NULL;
        c = p;
        c->size = size;
    }
    c->next = a->head;
    a->head = c;
    a->total += c->size;
    if (a->next_size < CHUNK_MAX)
        a->next_size *= 2;
    a->cur = (char *)c->data + n;
    a->end = (char *)c + c->size;
    if (a->dirty)
        memset(c->data, 0, n);
    return c->data;
}

char *
reg_arena_strndup(struct reg_arena *a, const char *s, size_t n)
{
    char *p = reg_arena_alloc_raw(a, n + 1);

    if (p != NULL) {
        if (n > 0) /* s may be NULL for an empty string (memcpy's pointers are nonnull) */
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void
reg_arena_release(struct reg_arena *a, struct reg_arena_mark m)
{
    if (a->head != m.head || m.cur == NULL || a->cur == m.cur)
        return;
    if (!a->dirty)
        memset(m.cur, 0, (size_t)(a->cur - m.cur));
    a->cur = m.cur;
}

void
reg_arena_free(struct reg_arena *a)
{
    struct reg_chunk *c, *next;

    if (a == NULL)
        return;
    for (c = a->head; c != NULL; c = next) {
        next = c->next;
        if (!cache_put(c))
            munmap(c, c->size);
    }
    free(a);
}
