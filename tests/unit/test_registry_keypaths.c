/* test_registry_keypaths.c: the registry model names keys by the expression that binds them:
 * attribute paths of sets bound in the top-level let (keys.alice, systems.web-1), and the
 * `#` comment after a key literal. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

static struct reg_registry *
load(const char *src)
{
    struct reg_file *f = NULL;
    struct reg_registry *r = NULL;
    struct m3_diag d = {0};

    cr_assert_eq(reg_parse("secrets.nix", src, strlen(src), &f, &d), 0, "%s", d.msg);
    cr_assert_eq(reg_registry_load(f, NULL, &r, &d), 0, "%s", d.msg);
    reg_file_free(f);
    return r;
}

Test(registry_keypaths, sets_in_the_top_let_name_their_strings)
{
    struct reg_registry *r = load("let\n"
                                  "  systems = { web-1 = \"K1\"; \"db.2\" = \"K2\"; };\n"
                                  "  keys = { users = { alice = \"K3\"; }; all = [ \"K3\" ]; };\n"
                                  "  deep = { a = { b = { c = { d = { e = \"K4\"; }; }; }; }; };\n"
                                  "  broken = { x = throw \"no\"; y = \"K5\"; };\n"
                                  "  alice = \"K3\";\n"
                                  "in\n"
                                  "{ \"s.age\".publicKeys = [ systems.web-1 keys.users.alice ]; }\n");
    static const char *const want[][2] = {
        {"broken.y", "K5"},
        {"keys.users.alice", "K3"},
        {"systems.\"db.2\"", "K2"},
        {"systems.web-1", "K1"},
    };

    cr_assert_eq(r->nkeypaths, 4, "got %zu paths", r->nkeypaths);
    for (size_t i = 0; i < 4; i++) {
        cr_expect_str_eq(r->keypaths[i].path, want[i][0]);
        cr_expect_str_eq(r->keypaths[i].value, want[i][1]);
    }
    reg_registry_free(r);
}

Test(registry_keypaths, comments_after_key_literals)
{
    struct reg_registry *r = load("let k = \"K0\"; # not after a list element\n"
                                  "in {\n"
                                  "  \"s.age\".publicKeys = [\n"
                                  "    \"K1\" # alice's laptop  \n"
                                  "    \"K2\"\n"
                                  "    k #   bound\n"
                                  "  ];\n"
                                  "}\n");
    const struct reg_entry *e = reg_registry_find(r, "s.age");

    cr_assert_not_null(e);
    cr_assert_eq(e->nkeys, 3);
    cr_expect_str_eq(e->key_comments[0], "alice's laptop");
    cr_expect_null(e->key_comments[1]);
    /* k's value was written in the let, where ';' follows it */
    cr_expect_null(e->key_comments[2]);
    reg_registry_free(r);
}
