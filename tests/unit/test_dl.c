/* test_dl.c: libraries opened on first use (libage/dl.c): what a user is told when the
 * library or one of its functions is missing. */
#include <criterion/criterion.h>
#include <string.h>

#include "libage/dl.h"

static void *slot_a, *slot_b;

Test(dl, missing_library_is_named_with_the_reason)
{
    struct m3_dl l = {"libm3age-absent.so.9", "libabsent", M3_EUNSUPPORTED, ""};
    const char *const names[] = {"strlen"};
    void **const slots[] = {&slot_a};
    struct m3_diag d = {0};

    m3_dl_open(&l, names, slots, 1);
    cr_assert_eq(m3_dl_result(&l, &d), M3_EUNSUPPORTED);
    cr_expect(strncmp(d.msg, "cannot use libabsent (libm3age-absent.so.9): ", 45) == 0, "%s",
              d.msg);
    cr_expect(strstr(d.msg, "libm3age-absent.so.9: cannot open shared object file") != NULL, "%s",
              d.msg);
    cr_expect_eq(m3_dl_result(&l, NULL), M3_EUNSUPPORTED);
}

Test(dl, missing_function_is_named)
{
    struct m3_dl l = {"libc.so.6", "libc", M3_EUNSUPPORTED, ""};
    const char *const names[] = {"strlen", "m3age_no_such_function"};
    void **const slots[] = {&slot_a, &slot_b};
    struct m3_diag d = {0};

    m3_dl_open(&l, names, slots, 2);
    cr_assert_eq(m3_dl_result(&l, &d), M3_EUNSUPPORTED);
    cr_expect_str_eq(d.msg,
                     "cannot use libc (libc.so.6): it has no function m3age_no_such_function");
    cr_expect_not_null(slot_a);
}

Test(dl, every_function_found)
{
    struct m3_dl l = {"libc.so.6", "libc", M3_EUNSUPPORTED, ""};
    const char *const names[] = {"strlen", "memcmp"};
    void **const slots[] = {&slot_a, &slot_b};
    struct m3_diag d = {0};
    size_t (*len)(const char *);

    m3_dl_open(&l, names, slots, 2);
    cr_assert_eq(m3_dl_result(&l, &d), 0);
    *(void **)&len = slot_a;
    cr_expect_eq(len("m3-aether"), 9);
    cr_expect_not_null(slot_b);
}
