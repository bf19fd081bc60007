/* test_registry_parse.c: the Nix lexer and parser: byte-exact printing of every corpus file
 * and of tricky constructs, and the exact messages of syntax errors. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry/registry.h"

static void
assert_round_trip(const char *name, const char *src, size_t len)
{
    struct reg_file *f = NULL;
    struct m3_diag d = {0};
    char *out = NULL;
    size_t olen = 0;

    cr_assert_eq(reg_parse(name, src, len, &f, &d), 0, "%s: %s", name, d.msg);
    cr_assert_eq(reg_print(f, &out, &olen), 0);
    cr_assert_eq(olen, len, "%s: printed %zu bytes of %zu", name, olen, len);
    cr_assert(memcmp(out, src, len) == 0, "%s: printed text differs", name);
    free(out);
    reg_file_free(f);
}

static const char *constructs[] = {
    "{ }",
    "  # only a comment before\n{ a = 1; } # and after\n\n",
    "/* block */ let a = 1; /* in */ in a",
    "rec { a = b; b = 1; }",
    "{ \"quoted\".path.${\"dyn\"} = [ 1 2.5 .5 1e3 (-3) ]; }",
    "let f = { a, b ? 2, ... }@args: a + b; g = x: y: x; in f { a = 1; }",
    "args@{ a, ... }: a",
    "{ a ? 1 }: a",
    "{ }: 1",
    "with builtins; assert true; if a then b else c",
    "x.y.\"z\" or (a.b or c)",
    "a // b ++ c == d -> !e || f && g != h",
    "[ ./rel/path ../up /abs/path <nixpkgs> ~/home http://x.org/a?b=c ]",
    "''\n  indented ${x}\n    ''$ ''' ''\\n $${y}\n''",
    "\"esc \\\" \\\\ \\n \\${x} $${x} ${y} $\"",
    "let { body = 1; }",
    "{ inherit a b; inherit (x) c \"d\"; }",
    "f or",
    "a ? b.c",
    "-a - -b * c / d",
    "x: y: z: [ x y z ]",
    "let\r\n  a = 1;\r\nin\r\n  a\r\n",
    "a-b'c_d",
    "{ a.b = 1; a.c = 2; }",
    "[ ./a/${\"b\"} ./x/${y}/z.nix ~/${\"q\"} ./${a}${b} ]",
};

Test(registry_parse, constructs_print_back_byte_for_byte)
{
    for (size_t i = 0; i < sizeof(constructs) / sizeof(constructs[0]); i++)
        assert_round_trip("construct.nix", constructs[i], strlen(constructs[i]));
}

static char *
corpus_dir(void)
{
    char *dir = strdup(__FILE__), *slash = strrchr(dir, '/');

    *slash = '\0';
    slash = strrchr(dir, '/');
    strcpy(slash, "/registry");
    return dir;
}

Test(registry_parse, every_corpus_file_prints_back)
{
    char *dir = corpus_dir(), path[4096];
    DIR *dp = opendir(dir);
    struct dirent *de;
    size_t n = 0;

    cr_assert_not_null(dp, "cannot open %s", dir);
    while ((de = readdir(dp)) != NULL) {
        char *buf;
        size_t len;
        struct m3_diag d = {0};
        size_t nl = strlen(de->d_name);
        if (nl < 5 || strcmp(de->d_name + nl - 4, ".nix") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        cr_assert_eq(reg_read_file(path, &buf, &len, &d), 0, "%s", d.msg);
        assert_round_trip(de->d_name, buf, len);
        free(buf);
        n++;
    }
    closedir(dp);
    free(dir);
    cr_assert_geq(n, 40, "only %zu corpus files parsed", n);
}

struct syntax_case {
    const char *src;
    const char *msg;
    unsigned line, col;
};

static const struct syntax_case errors[] = {
    {"{\n  a = 1\n}\n", "secrets.nix:3:1: unexpected '}', expected ';'", 3, 1},
    {"{ a = 1; ", "secrets.nix:1:10: unexpected end of file, expected '}'", 1, 10},
    {"", "secrets.nix:1:1: unexpected end of file", 1, 1},
    {"let a = 1; in", "secrets.nix:1:14: unexpected end of file", 1, 14},
    {"{ a = \"x; }", "secrets.nix:1:8: unterminated string", 1, 8},
    {"/* open", "secrets.nix:1:1: unterminated comment", 1, 1},
    {"{ a = 1; } }", "secrets.nix:1:12: unexpected '}', expected end of file", 1, 12},
    {"1 == 2 == 3", "secrets.nix:1:8: unexpected '=='", 1, 8},
    {"./dir/", "secrets.nix:1:1: path has a trailing slash", 1, 1},
    {"{ a = 1 ; b }", "secrets.nix:1:13: unexpected '}', expected '='", 1, 13},
    {"[ 1 2", "secrets.nix:1:6: unexpected end of file, expected ']'", 1, 6},
    {"if a then b", "secrets.nix:1:12: unexpected end of file, expected 'else'", 1, 12},
    {"{ a, b }: a ; ", "secrets.nix:1:13: unexpected ';', expected end of file", 1, 13},
    {"x ^ y", "secrets.nix:1:3: unexpected character '^'", 1, 3},
    {"''\n  never closed", "secrets.nix:2:1: unterminated indented string", 2, 1},
    {"let in", "secrets.nix:1:7: unexpected end of file", 1, 7},
};

Test(registry_parse, syntax_errors_name_position_and_token)
{
    for (size_t i = 0; i < sizeof(errors) / sizeof(errors[0]); i++) {
        struct reg_file *f = NULL;
        struct m3_diag d = {0};
        int rc = reg_parse("secrets.nix", errors[i].src, strlen(errors[i].src), &f, &d);
        cr_assert_eq(rc, M3_ESYNTAX, "case %zu (%s): rc %d", i, errors[i].src, rc);
        cr_assert_null(f);
        cr_assert_str_eq(d.msg, errors[i].msg, "case %zu", i);
        cr_assert_eq(d.line, errors[i].line, "case %zu line", i);
        cr_assert_eq(d.col, errors[i].col, "case %zu col", i);
    }
}

Test(registry_parse, spans_give_line_and_column)
{
    struct reg_file *f = NULL;
    struct reg_span sp;
    const char *src = "let\n  k = \"x\";\nin k\n";

    cr_assert_eq(reg_parse("s.nix", src, strlen(src), &f, NULL), 0);
    reg_span_at(f, 10, 3, &sp);
    cr_assert_eq(sp.line, 2);
    cr_assert_eq(sp.col, 7);
    cr_assert_str_eq(sp.file, "s.nix");
    cr_assert_str_eq(reg_file_name(f), "s.nix");
    reg_file_free(f);
}
