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

/* A binding whose value runs into the next line's binding (or into `}`, `in`) misses its ';'
 * at the end of the line before: the diag says which; other syntax errors carry no hint. */
static const struct {
    const char *src;
    unsigned hint; /* the line named by "missing ';' at the end of line N?", 0: no hint */
} semi[] = {
    {"{\n  a = 1\n}\n", 2},
    {"{\n  \"a.age\".publicKeys = [ k ] # VPN\n\n  # next\n  \"b.age\".publicKeys = [ k ];\n}", 2},
    {"let\n  k = \"x\"\nin\n{ }", 2},
    {"{\n  a = ''\n    text\n  ''\n  b.c = 1;\n}", 4},
    {"{\n  inherit a b\n  c = 1;\n}", 2},
    {"let\n  inherit a\nin a", 2},
    {"{ a = 1 2 = 3; }", 0},              /* one line: no guess */
    {"{ a = [ 1 ] ]; }", 0},              /* not a binding running on */
    {"{ a = 1 ; b }", 0},                 /* expected '=' */
    {"{\n  a = with b;\n  c = 1;\n}", 0}, /* the line above ends with ';' */
    {"{\n  a =\n    b c = 1;\n}", 0},     /* the value starts on that line */
    {"{\n  a = f\n    (x) = 1;\n}", 0},   /* not an attribute path before '=' */
    {"{ a = 1; } }", 0},
    {"[ 1 2", 0},
};

Test(registry_parse, missing_semicolon_hint_names_the_line)
{
    for (size_t i = 0; i < sizeof(semi) / sizeof(semi[0]); i++) {
        struct reg_file *f = NULL;
        struct m3_diag d = {0};
        char want[64] = "";
        int rc = reg_parse("secrets.nix", semi[i].src, strlen(semi[i].src), &f, &d);
        cr_assert_eq(rc, M3_ESYNTAX, "case %zu (%s): rc %d", i, semi[i].src, rc);
        if (semi[i].hint > 0)
            snprintf(want, sizeof(want), "missing ';' at the end of line %u?", semi[i].hint);
        cr_assert_str_eq(d.hint, want, "case %zu (%s): %s", i, semi[i].src, d.msg);
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

/* Deep nesting: every recursive construct of the grammar, n levels deep, is open * n, mid,
 * close * n. REG_MAX_NEST (registry/syntax.h) is 1000. */
struct nest_case {
    const char *name, *open, *mid, *close;
};

static const struct nest_case nests[] = {
    {"list", "[", "", "]"},
    {"set", "{ a = ", "1", "; }"},
    {"rec set", "rec { a = ", "1", "; }"},
    {"let set", "let { body = ", "1", "; }"},
    {"let", "let b = ", "1", "; in b"},
    {"with", "with a; ", "1", ""},
    {"assert", "assert a; ", "1", ""},
    {"if then", "if a then ", "1", " else 0"},
    {"if else", "if a then 0 else ", "1", ""},
    {"lambda", "x: ", "1", ""},
    {"formals", "{ c ? ", "1", " }: c"},
    {"application chain", "f", "", " 1"},
    {"application argument", "f (", "1", ")"},
    {"select or", "a.z or ", "1", ""},
    {"dynamic attribute", "a.${", "\"b\"", "}"},
    {"not", "! ", "true", ""},
    {"negation", "- ", "1", ""},
    {"addition chain", "", "1", " + 1"},
    {"concatenation chain", "[] ++ ", "[]", ""},
    {"update chain", "{} // ", "{}", ""},
    {"implication chain", "a -> ", "a", ""},
    {"and chain", "", "a", " && a"},
    {"parenthesis", "(", "1", ")"},
    {"string interpolation", "\"${", "\"x\"", "}\""},
    {"indented string interpolation", "''${", "\"x\"", "}''"},
    {"path interpolation", "./a/${", "\"x\"", "}"},
    {"inherit from", "{ inherit (", "{ a = 1; }", ") a; }"},
};

static char *
nest(const struct nest_case *c, size_t n, size_t *len)
{
    size_t lo = strlen(c->open), lm = strlen(c->mid), lc = strlen(c->close);
    char *s = malloc(n * (lo + lc) + lm + 1), *p = s;

    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++, p += lo)
        memcpy(p, c->open, lo);
    memcpy(p, c->mid, lm);
    p += lm;
    for (size_t i = 0; i < n; i++, p += lc)
        memcpy(p, c->close, lc);
    *p = '\0';
    *len = (size_t)(p - s);
    return s;
}

Test(registry_parse, every_construct_nested_past_the_limit_is_one_error)
{
    for (size_t i = 0; i < sizeof(nests) / sizeof(nests[0]); i++) {
        size_t len;
        char *src = nest(&nests[i], 10000, &len);
        struct reg_file *f = NULL;
        struct m3_diag d = {0};
        int rc = reg_parse("secrets.nix", src, len, &f, &d);
        cr_assert_eq(rc, M3_ESYNTAX, "%s: rc %d (%s)", nests[i].name, rc, d.msg);
        cr_assert_null(f);
        cr_assert(strncmp(d.msg, "secrets.nix:1:", 14) == 0, "%s: %s", nests[i].name, d.msg);
        cr_assert(strstr(d.msg, ": expression nested too deeply") != NULL &&
                      strchr(d.msg, '\n') == NULL,
                  "%s: %s", nests[i].name, d.msg);
        free(src);
        /* a few hundred levels, as a generated file might nest, parse and print back */
        src = nest(&nests[i], 300, &len);
        assert_round_trip(nests[i].name, src, len);
        free(src);
    }
}

Test(registry_parse, the_nesting_limit_is_exact)
{
    static const struct nest_case paren = {"parenthesis", "(", "1", ")"};
    struct reg_file *f = NULL;
    struct m3_diag d = {0};
    size_t len;
    char *src = nest(&paren, 1000, &len);

    cr_assert_eq(reg_parse("secrets.nix", src, len, &f, &d), 0, "%s", d.msg);
    reg_file_free(f);
    free(src);
    src = nest(&paren, 1001, &len);
    cr_assert_eq(reg_parse("secrets.nix", src, len, &f, &d), M3_ESYNTAX);
    cr_assert_str_eq(d.msg, "secrets.nix:1:2003: expression nested too deeply");
    free(src);
    /* an attribute path of k names nests its value k levels deep */
    src = malloc(2 * 1001 + 16);
    cr_assert_not_null(src);
    len = (size_t)sprintf(src, "{ a");
    for (int i = 0; i < 1000; i++)
        len += (size_t)sprintf(src + len, ".a");
    len += (size_t)sprintf(src + len, " = 1; }");
    cr_assert_eq(reg_parse("secrets.nix", src, len, &f, &d), M3_ESYNTAX, "%s", d.msg);
    cr_assert_str_eq(d.msg, "secrets.nix:1:2008: expression nested too deeply");
    free(src);
}
