/* Regression tests for what the fuzzers found in libage (tests/fuzz, bugs-harden.md). */
#include <criterion/criterion.h>
#include <string.h>

#include "libage/armor.h"

struct sink {
    char buf[256];
    size_t len;
};

static int
sink_write(void *ctx, const void *p, size_t len)
{
    struct sink *s = ctx;
    if (s->len + len >= sizeof(s->buf))
        return -1;
    memcpy(s->buf + s->len, p, len);
    s->len += len;
    return 0;
}

/* fuzz_armor: an empty armored file decodes to nothing; re-armoring that nothing called
 * age_armor_write(w, NULL, 0), which passed NULL to memcpy (UBSan, libage/armor.c). Under
 * `make asan` the sanitizer aborts the test while the bug is there. */
Test(harden_regress, armor_write_of_nothing)
{
    struct sink s = {0};
    struct age_armor_writer *w;

    w = age_armor_writer_new(sink_write, &s);
    cr_assert_not_null(w);
    cr_assert_eq(age_armor_write(w, NULL, 0), 0);
    cr_assert_eq(age_armor_writer_finish(w), 0);
    age_armor_writer_free(w);
    s.buf[s.len] = '\0';
    cr_assert_str_eq(s.buf, AGE_ARMOR_BEGIN "\n" AGE_ARMOR_END "\n");
}
