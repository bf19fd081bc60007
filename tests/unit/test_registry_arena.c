/* test_registry_arena.c: the bump allocator behind syntax trees and values (registry/arena.c):
 * memory handed out is zero and aligned whether the chunk is fresh or reused from the cache of
 * freed chunks, arenas grow from small-page chunks into huge-page ones and past them, and
 * mark/release gives back scratch memory zeroed. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <string.h>

#include "registry/syntax.h"

static int
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

/* fill: n bytes of a, each allocation checked zero and 16-byte aligned, then dirtied. */
static void
fill(struct reg_arena *a, size_t n, size_t step)
{
    for (size_t done = 0; done < n; done += step) {
        unsigned char *p = reg_arena_alloc(a, step);
        cr_assert_not_null(p);
        cr_assert_eq((uintptr_t)p % 16, 0);
        cr_assert(all_zero(p, step), "allocation %zu of %zu bytes is not zero", done / step, step);
        memset(p, 0xa5, step);
    }
}

Test(registry_arena, grows_through_small_and_huge_chunks)
{
    /* the sizes the registry asks for: small inputs, the 128 KiB boundary, megabytes */
    static const size_t expect[] = {0, 4096, 120 << 10, 129 << 10, 600 << 10, 3 << 20};

    for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++) {
        struct reg_arena *a = reg_arena_new_for(expect[i]);
        cr_assert_not_null(a);
        fill(a, 5 << 20, 1000); /* 5 MiB in small pieces: every growth step */
        unsigned char *big = reg_arena_alloc(a, 3 << 20); /* one piece over 2 MiB */
        cr_assert_not_null(big);
        cr_assert(all_zero(big, 3 << 20));
        reg_arena_free(a);
    }
}

Test(registry_arena, reused_chunks_are_zeroed)
{
    /* the freed chunks go to the cache, dirty; the next arenas take them */
    for (int round = 0; round < 3; round++) {
        struct reg_arena *a = reg_arena_new_for(700 << 10);
        cr_assert_not_null(a);
        fill(a, 3 << 20, 4096 + 48);
        reg_arena_free(a);
    }
}

Test(registry_arena, release_gives_back_zeroed_memory)
{
    struct reg_arena *a = reg_arena_new_for(200 << 10);
    struct reg_arena_mark m;
    unsigned char *keep, *scratch, *again;

    cr_assert_not_null(a);
    keep = reg_arena_alloc(a, 64);
    memset(keep, 1, 64);
    m = reg_arena_mark(a);
    scratch = reg_arena_alloc(a, 4096);
    memset(scratch, 0xff, 4096);
    reg_arena_release(a, m);
    again = reg_arena_alloc(a, 4096);
    cr_assert_eq(again, scratch, "the released room is handed out again");
    cr_assert(all_zero(again, 4096));
    cr_assert_eq(keep[63], 1, "memory from before the mark is kept");
    reg_arena_free(a);
}

Test(registry_arena, refuses_more_than_its_cap)
{
    struct reg_arena *a = reg_arena_new_for(0);

    cr_assert_not_null(a);
    cr_assert_null(reg_arena_alloc(a, (size_t)2 << 30), "a 2 GiB allocation is over the 1 GiB cap");
    cr_assert_not_null(reg_arena_alloc(a, 100), "the arena still works after a refusal");
    reg_arena_free(a);
}
