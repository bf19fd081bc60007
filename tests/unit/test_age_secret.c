/* test_age_secret.c: secret memory (libage/util.c): blocks come back zeroed, whatever their
 * previous user wrote, at every size class and above the pool; concurrent users never share
 * a block. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "libage/internal.h"

static bool
all_zero(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

Test(secret, reused_blocks_are_zeroed)
{
    static const size_t sizes[] = {1,    16,   31,   32,   33,   64,   100,   512,
                                   1000, 2048, 4095, 4096, 4097, 8192, 65552, 300000};

    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        size_t n = sizes[k];
        for (int round = 0; round < 3; round++) {
            unsigned char *p = age_secret_alloc(n);
            cr_assert_not_null(p, "size %zu", n);
            cr_assert(all_zero(p, n), "size %zu round %d: not zeroed", n, round);
            memset(p, 0xa5, n);
            age_secret_free(p);
        }
    }
    age_secret_free(NULL);
}

Test(secret, live_blocks_do_not_overlap)
{
    unsigned char *v[200];

    for (size_t i = 0; i < 200; i++) {
        v[i] = age_secret_alloc(24 + i % 40);
        cr_assert_not_null(v[i]);
        memset(v[i], (int)i, 24 + i % 40);
    }
    for (size_t i = 0; i < 200; i++) {
        for (size_t j = 0; j < 24 + i % 40; j++)
            cr_assert_eq(v[i][j], (unsigned char)i, "block %zu overwritten", i);
        age_secret_free(v[i]);
    }
}

static void *
churn(void *arg)
{
    uintptr_t tag = (uintptr_t)arg;
    unsigned char *keep[16] = {0};

    for (unsigned i = 0; i < 20000; i++) {
        size_t slot = i % 16, n = 16 + (i * 7 + tag) % 3000;
        if (keep[slot] != NULL) {
            for (size_t j = 0; j < 16; j++)
                if (keep[slot][j] != (unsigned char)tag)
                    return (void *)1;
            age_secret_free(keep[slot]);
        }
        if ((keep[slot] = age_secret_alloc(n)) == NULL || !all_zero(keep[slot], n))
            return (void *)1;
        memset(keep[slot], (int)tag, n);
    }
    for (size_t s = 0; s < 16; s++)
        age_secret_free(keep[s]);
    return NULL;
}

Test(secret, threads_share_the_pool_safely)
{
    pthread_t t[4];
    void *r;

    for (uintptr_t i = 0; i < 4; i++)
        cr_assert_eq(pthread_create(&t[i], NULL, churn, (void *)(i + 1)), 0);
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(pthread_join(t[i], &r), 0);
        cr_assert_null(r, "thread %d saw a block it did not own", i);
    }
}
