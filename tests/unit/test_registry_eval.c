/* test_registry_eval.c: evaluation to Nix's JSON, laziness, error positions, the registry
 * model (entries, spans, key bindings, validation) and the confined file reader. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "registry/registry.h"

static int
eval_json(const char *src, char **json, struct m3_diag *d)
{
    struct reg_file *f = NULL;
    size_t len;
    int rc = reg_parse("secrets.nix", src, strlen(src), &f, d);

    if (rc == 0)
        rc = reg_eval_json(f, NULL, json, &len, d);
    reg_file_free(f);
    return rc;
}

struct json_case {
    const char *src;
    const char *json;
};

/* Each expected value was printed by nix-instantiate 2.8 --eval --strict --json. */
static const struct json_case values[] = {
    {"{ b = 1; a = [ true false null ]; }", "{\"a\":[true,false,null],\"b\":1}"},
    {"[ 0.1 1.0 1.5e3 1.0e20 123456789.0 (1 / 3.0) ]", "[0.1,1,1500,1e+20,1.23457e+08,0.333333]"},
    {"\"q\\\" b\\\\ n\\n t\\t r\\r\"", "\"q\\\" b\\\\ n\\n t\\t r\\r\""},
    {"{ \"z\" = 1; \"A\" = 2; \"_\" = 3; \"0\" = 4; }", "{\"0\":4,\"A\":2,\"_\":3,\"z\":1}"},
    {"let a = { x.y = 1; }; in a // { x = 2; }", "{\"x\":2}"},
    {"{ a.b = 1; a.c = 2; }", "{\"a\":{\"b\":1,\"c\":2}}"},
    {"{ a = { b = 1; }; a.c = 2; }", "{\"a\":{\"b\":1,\"c\":2}}"},
    {"let k = \"x\"; in { inherit k; }", "{\"k\":\"x\"}"},
    {"rec { a = b; b = \"x\"; }", "{\"a\":\"x\",\"b\":\"x\"}"},
    {"let x = 1; in with { x = 2; y = 3; }; [ x y ]", "[1,3]"},
    {"(x: y: x + y) 1 2", "3"},
    {"({ a, b ? a * 10 }: b) { a = 4; }", "40"},
    {"builtins.attrNames { b = 1; a = 2; }", "[\"a\",\"b\"]"},
    {"map (x: x * 2) [ 1 2 3 ]", "[2,4,6]"},
    {"builtins.filter (x: x > 1) [ 1 2 3 ]", "[2,3]"},
    {"builtins.listToAttrs [ { name = \"a\"; value = 1; } { name = \"a\"; value = 2; } ]",
     "{\"a\":1}"},
    {"builtins.concatMap (x: [ x x ]) [ 1 2 ]", "[1,1,2,2]"},
    {"[ (builtins.elem 2 [ 1 2 ]) (builtins.any (x: x) [ false ]) (builtins.all (x: x) [ ]) ]",
     "[true,false,true]"},
    {"[ (toString 1.5) (toString true) (toString [ 1 [ ] 2 ]) ]", "[\"1.500000\",\"1\",\"1 2\"]"},
    {"''\n    a\n      b\n  ''", "\"a\\n  b\\n\""},
    {"{ a = 1; } ? a", "true"},
    {"{ a.b = 1; }.a.c or \"d\"", "\"d\""},
    {"let s = \"b\"; in { a = { b = 1; }; }.a.${s}", "1"},
    {"if 1 < 2 && \"a\" < \"b\" then -1 else 1", "-1"},
    {"[ (7 / 2) (-7 / 2) (2 - 5) ]", "[3,-3,-3]"},
    {"\"\\u0001\"", "\"u0001\""},
    /* a carriage return in a "..." string is a newline, alone or before one; escaped, or in
     * an indented string, it stays */
    {"[ \"x\ry\" \"x\r\ny\" \"\\\r\n\" ''x\r\ny'' \"${\"a\"}\rb\" ]",
     "[\"x\\ny\",\"x\\ny\",\"\\r\\n\",\"x\\r\\ny\",\"a\\nb\"]"},
    {"{ \"k\r\ny\" = 1; }.\"k\\ny\"", "1"},
};

Test(registry_eval, values_print_as_nix_json)
{
    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        struct m3_diag d = {0};
        char *json = NULL;
        int rc = eval_json(values[i].src, &json, &d);
        cr_assert_eq(rc, 0, "case %zu (%s): %s", i, values[i].src, d.msg);
        cr_assert_str_eq(json, values[i].json, "case %zu (%s)", i, values[i].src);
        free(json);
    }
}

Test(registry_eval, unused_failing_bindings_are_not_evaluated)
{
    struct m3_diag d = {0};
    char *json = NULL;

    cr_assert_eq(eval_json("let bad = throw \"no\"; loop = loop; in { a = [ 1 ]; b = "
                           "builtins.length [ bad loop ]; }",
                           &json, &d),
                 0, "%s", d.msg);
    cr_assert_str_eq(json, "{\"a\":[1],\"b\":2}");
    free(json);
}

struct error_case {
    const char *src;
    int rc;
    const char *msg;
};

static const struct error_case failures[] = {
    {"{ a = x; }", M3_EEVAL, "secrets.nix:1:7: undefined variable 'x'"},
    {"let a = a; in a", M3_EEVAL, "secrets.nix:1:9: infinite recursion encountered"},
    {"{ a = 1; a = 2; }", M3_EEVAL,
     "secrets.nix:1:10: attribute 'a' already defined at secrets.nix:1:3"},
    {"{ a = [ ] ++ 1; }", M3_EEVAL,
     "secrets.nix:1:14: value is an integer while a list was "
     "expected"},
    {"{ a = throw \"boom\"; }", M3_EEVAL, "secrets.nix:1:7: boom"},
    {"import <nixpkgs>", M3_EUNSUPPORTED,
     "secrets.nix:1:8: the search path '<nixpkgs>' is not supported by m3age's evaluator (it "
     "needs NIX_PATH); use --nix to evaluate with nix-instantiate"},
    {"lib.mkIf true 1", M3_EUNSUPPORTED,
     "secrets.nix:1:1: 'lib' (the nixpkgs library) is not supported by m3age's evaluator (it is "
     "not bound here; nixpkgs needs Nix); use --nix to evaluate with nix-instantiate"},
    {"builtins.getEnv \"HOME\"", M3_EUNSUPPORTED,
     "secrets.nix:1:1: builtins.getEnv is not supported by m3age's evaluator (it depends on the "
     "environment); use --nix to evaluate with nix-instantiate"},
    {"{\n  a = builtins.toFile \"k\" \"x\";\n}", M3_EUNSUPPORTED,
     "secrets.nix:2:7: builtins.toFile is not supported by m3age's evaluator (it writes to the "
     "Nix store); use --nix to evaluate with nix-instantiate"},
    {"{ a = [ builtins.currentSystem ]; }", M3_EUNSUPPORTED,
     "secrets.nix:1:9: builtins.currentSystem is not supported by m3age's evaluator (it depends "
     "on the machine); use --nix to evaluate with nix-instantiate"},
    {"{ a = fetchTarball \"https://example.org/x.tar.gz\"; }", M3_EUNSUPPORTED,
     "secrets.nix:1:7: builtins.fetchTarball is not supported by m3age's evaluator (it fetches "
     "from the network); use --nix to evaluate with nix-instantiate"},
    {"{ a = __getEnv \"HOME\"; }", M3_EUNSUPPORTED,
     "secrets.nix:1:7: builtins.getEnv is not supported by m3age's evaluator (it depends on the "
     "environment); use --nix to evaluate with nix-instantiate"},
    {"{ keys }: keys", M3_EUNSUPPORTED,
     "secrets.nix:1:1: a top-level function is not supported by m3age's evaluator (nothing calls "
     "it); use --nix to evaluate with nix-instantiate"},
    {"{ a = { b = ./k.pub; }; }", M3_EUNSUPPORTED,
     "secrets.nix:1:13: a path in the output is not supported by m3age's evaluator (Nix copies "
     "it to the store and prints the store path); use --nix to evaluate with nix-instantiate"},
    {"{ a = \"${./k.pub}\"; }", M3_EUNSUPPORTED,
     "secrets.nix:1:10: a path interpolated into a string is not supported by m3age's "
     "evaluator (Nix copies it to the store); use --nix to evaluate with nix-instantiate"},
    /* values nested deeper than any source: a foldl' builds them (each crashed the
     * comparison or the coercion before it counted its depth) */
    {"let xs = builtins.genList (x: x) 100000; d = builtins.foldl' (v: x: [ v ]) [ ] xs; "
     "in d == builtins.foldl' (v: x: [ v ]) [ ] xs",
     M3_EEVAL, "secrets.nix:1:87: stack overflow (value nested too deeply)"},
    {"let xs = builtins.genList (x: x) 100000; d = builtins.foldl' (v: x: [ v ]) [ ] xs; "
     "in [ d ] < [ (builtins.foldl' (v: x: [ v ]) [ ] xs) ]",
     M3_EEVAL, "secrets.nix:1:87: stack overflow (value nested too deeply)"},
    {"let xs = builtins.genList (x: x) 100000; in toString (builtins.foldl' (v: x: [ v ]) [ ] xs)",
     M3_EEVAL, "secrets.nix:1:45: stack overflow (value nested too deeply)"},
    {"let g = n: if n == 0 then 0 else 1 + g (n - 1); in g 1000000", M3_EEVAL,
     "secrets.nix:1:15: stack overflow (possible infinite recursion)"},
    {"{ a = ~/k.pub; }", M3_EUNSUPPORTED,
     "secrets.nix:1:7: a '~/' path is not supported by m3age's evaluator (it depends on $HOME); "
     "use --nix to evaluate with nix-instantiate"},
};

Test(registry_eval, errors_name_the_construct_and_position)
{
    for (size_t i = 0; i < sizeof(failures) / sizeof(failures[0]); i++) {
        struct m3_diag d = {0};
        char *json = NULL;
        int rc = eval_json(failures[i].src, &json, &d);
        cr_assert_eq(rc, failures[i].rc, "case %zu (%s): rc %d (%s)", i, failures[i].src, rc,
                     d.msg);
        cr_assert_null(json);
        cr_assert_str_eq(d.msg, failures[i].msg, "case %zu", i);
    }
}

static const char *registry_src =
    "let\n"
    "  m3tam3re = \"ssh-ed25519 AAAA m3tam3re\";\n"
    "  m3-ares = \"ssh-ed25519 BBBB root@m3-ares\";\n"
    "  users = [ m3tam3re ];\n"
    "  helper = x: x;\n"
    "in\n"
    "{\n"
    "  \"secrets/wifi.age\".publicKeys = users ++ [ m3-ares ];\n"
    "  \"secrets/vpn.age\" = { publicKeys = [ m3tam3re ]; armor = true; owner = \"root\"; };\n"
    "}\n";

Test(registry_eval, registry_model_with_spans)
{
    struct reg_file *f = NULL;
    struct reg_registry *r = NULL;
    struct m3_diag d = {0};
    const struct reg_entry *wifi, *vpn;
    const struct reg_keybind *kb;

    cr_assert_eq(reg_parse("secrets.nix", registry_src, strlen(registry_src), &f, &d), 0);
    cr_assert_eq(reg_registry_load(f, NULL, &r, &d), 0, "%s", d.msg);
    cr_assert_eq(r->nentries, 2);
    cr_assert_str_eq(r->entries[0].name, "secrets/vpn.age"); /* sorted */
    cr_assert(!r->computed);
    wifi = reg_registry_find(r, "secrets/wifi.age");
    vpn = reg_registry_find(r, "secrets/vpn.age");
    cr_assert_not_null(wifi);
    cr_assert_null(reg_registry_find(r, "secrets/none.age"));
    cr_assert_eq(wifi->nkeys, 2);
    cr_assert_str_eq(wifi->keys[1], "ssh-ed25519 BBBB root@m3-ares");
    cr_assert_eq(wifi->name_span.line, 8);
    cr_assert_eq(wifi->name_span.col, 3);
    /* each key points at the literal it came from, in the let */
    cr_assert_eq(wifi->key_spans[0].line, 2);
    cr_assert_eq(wifi->key_spans[0].col, 14);
    cr_assert_eq(wifi->key_spans[1].line, 3);
    cr_assert(!wifi->armor && !wifi->has_armor);
    cr_assert(vpn->armor && vpn->has_armor);
    cr_assert_eq(vpn->span.line, 9);
    cr_assert_eq(r->nwarnings, 1);
    cr_assert(strstr(r->warnings[0].msg, "secrets.nix:9:66: 'secrets/vpn.age': unknown "
                                         "attribute 'owner'") != NULL,
              "%s", r->warnings[0].msg);
    /* key bindings: strings and lists of strings; the function is left out */
    cr_assert_eq(r->nkeybinds, 3);
    kb = reg_registry_keybind(r, "users");
    cr_assert(kb != NULL && kb->is_list && kb->nvalues == 1);
    kb = reg_registry_keybind(r, "m3-ares");
    cr_assert(kb != NULL && !kb->is_list);
    cr_assert_str_eq(kb->values[0], "ssh-ed25519 BBBB root@m3-ares");
    cr_assert_eq(kb->span.line, 3);
    cr_assert_null(reg_registry_keybind(r, "helper"));
    reg_registry_free(r);
    reg_file_free(f);
}

struct schema_case {
    const char *src;
    const char *msg;
};

static const struct schema_case schema[] = {
    {"{ \"a.age\" = 1; }", "secrets.nix:1:3: 'a.age': value is an integer, expected a set with "
                           "publicKeys and optional armor"},
    {"{ \"a.age\".armor = true; }", "secrets.nix:1:3: 'a.age': publicKeys is missing"},
    {"{ \"a.age\".publicKeys = [ ]; }", "secrets.nix:1:11: 'a.age': publicKeys is empty"},
    {"{ \"a.age\".publicKeys = \"k\"; }",
     "secrets.nix:1:11: 'a.age': publicKeys is a string, expected a list of strings"},
    {"{ \"a.age\".publicKeys = [ \"k\" 1 ]; }",
     "secrets.nix:1:30: 'a.age': publicKeys element 2 is an integer, expected a string"},
    {"{ \"a.age\" = { publicKeys = [ \"k\" ]; armor = \"yes\"; }; }",
     "secrets.nix:1:37: 'a.age': armor is a string, expected a Boolean"},
    {"[ ]", "secrets.nix:1:1: the registry is a list, expected a set of secrets"},
};

Test(registry_eval, schema_violations_have_positions)
{
    for (size_t i = 0; i < sizeof(schema) / sizeof(schema[0]); i++) {
        struct reg_file *f = NULL;
        struct reg_registry *r = NULL;
        struct m3_diag d = {0};
        cr_assert_eq(reg_parse("secrets.nix", schema[i].src, strlen(schema[i].src), &f, &d), 0);
        cr_assert_eq(reg_registry_load(f, NULL, &r, &d), M3_EINVAL, "case %zu: %s", i, d.msg);
        cr_assert_null(r);
        cr_assert_str_eq(d.msg, schema[i].msg, "case %zu", i);
        reg_file_free(f);
    }
}

Test(registry_eval, computed_registry_is_flagged)
{
    const char *src = "builtins.listToAttrs [ { name = \"a.age\"; value = { publicKeys = [ "
                      "\"k\" ]; }; } ]";
    struct reg_file *f = NULL;
    struct reg_registry *r = NULL;

    cr_assert_eq(reg_parse("s.nix", src, strlen(src), &f, NULL), 0);
    cr_assert_eq(reg_registry_load(f, NULL, &r, NULL), 0);
    cr_assert(r->computed);
    cr_assert_eq(r->nentries, 1);
    reg_registry_free(r);
    reg_file_free(f);
}

Test(registry_eval, reader_stays_inside_the_repository)
{
    char root[] = "/tmp/m3regXXXXXX", path[256], *buf = NULL;
    struct reg_reader rd;
    struct m3_diag d = {0};
    size_t len;
    FILE *fp;

    cr_assert_not_null(mkdtemp(root));
    snprintf(path, sizeof(path), "%s/repo", root);
    cr_assert_eq(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/outside.pub", root);
    fp = fopen(path, "w");
    fputs("secret\n", fp);
    fclose(fp);
    snprintf(path, sizeof(path), "%s/repo/link.pub", root);
    cr_assert_eq(symlink("../outside.pub", path), 0);
    snprintf(path, sizeof(path), "%s/repo", root);
    cr_assert_eq(reg_reader_fs(path, &rd), 0);
    snprintf(path, sizeof(path), "%s/outside.pub", root);
    cr_assert_eq(rd.read(rd.ctx, path, &buf, &len, &d), M3_EINVAL);
    cr_assert(strstr(d.msg, "outside the repository") != NULL, "%s", d.msg);
    snprintf(path, sizeof(path), "%s/repo/link.pub", root);
    cr_assert_eq(rd.read(rd.ctx, path, &buf, &len, &d), M3_EINVAL, "a symlink out is refused");
    snprintf(path, sizeof(path), "%s/repo/../outside.pub", root);
    cr_assert_eq(rd.read(rd.ctx, path, &buf, &len, &d), M3_EINVAL);
    reg_reader_fs_free(&rd);
    snprintf(path, sizeof(path), "rm -rf '%s'", root);
    cr_assert_eq(system(path), 0);
}

/* put: writes text to root/rel. */
static void
put(const char *root, const char *rel, const char *text)
{
    char path[512];
    FILE *fp;

    snprintf(path, sizeof(path), "%s/%s", root, rel);
    cr_assert_not_null(fp = fopen(path, "w"), "%s", path);
    fputs(text, fp);
    fclose(fp);
}

/* eval_in: src (named root/secrets.nix) evaluated with the reader of root. */
static int
eval_in(const char *root, const char *src, char **json, struct m3_diag *d)
{
    struct reg_reader rd;
    struct reg_eval_opts opts = {0};
    struct reg_file *f = NULL;
    char name[512];
    size_t len;
    int rc;

    snprintf(name, sizeof(name), "%s/secrets.nix", root);
    cr_assert_eq(reg_reader_fs(root, &rd), 0);
    opts.reader = &rd;
    opts.base_dir = root;
    rc = reg_parse(name, src, strlen(src), &f, d);
    if (rc == 0)
        rc = reg_eval_json(f, &opts, json, &len, d);
    reg_file_free(f);
    reg_reader_fs_free(&rd);
    return rc;
}

/* Nix imports a folder as its default.nix: that file's own paths are relative to the folder,
 * its errors name it, and readFile of a folder fails. (m3age once read default.nix for
 * both, with the folder's parent as its base.) */
Test(registry_eval, import_of_a_folder_is_its_default_nix)
{
    char root[] = "/tmp/m3regXXXXXX", cmd[300], *json = NULL;
    struct m3_diag d = {0};

    cr_assert_not_null(mkdtemp(root));
    snprintf(cmd, sizeof(cmd), "%s/keys", root);
    cr_assert_eq(mkdir(cmd, 0700), 0);
    put(root, "keys/m3-atlas.pub", "ssh-ed25519 AAAA root@m3-atlas\n");
    put(root, "keys/default.nix",
        "{\n  m3-atlas = builtins.readFile ./m3-atlas.pub;\n  m3-hermes = throw \"no key yet\";\n}\n");
    cr_assert_eq(eval_in(root, "(import ./keys).m3-atlas", &json, &d), 0, "%s", d.msg);
    cr_assert_str_eq(json, "\"ssh-ed25519 AAAA root@m3-atlas\\n\"");
    free(json);
    json = NULL;
    cr_assert_neq(eval_in(root, "(import ./keys).m3-hermes", &json, &d), 0);
    cr_assert(strstr(d.msg, "keys/default.nix:3:15: ") != NULL, "%s", d.msg);
    cr_assert(strstr(d.msg, "no key yet") != NULL, "%s", d.msg);
    cr_assert_neq(eval_in(root, "builtins.readFile ./keys", &json, &d), 0);
    cr_assert(strstr(d.msg, "Is a directory") != NULL, "%s", d.msg);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    cr_assert_eq(system(cmd), 0);
}

/* A NUL byte in a string: Nix cuts the value there (it decodes strings as C strings), so a
 * value m3age printed with the NUL would differ from Nix's; m3age refuses it as outside its
 * subset, where the string is evaluated. A NUL in a comment changes nothing. (m3age once
 * printed the NUL as \u0000.) */
#define SRC(lit) lit, sizeof(lit) - 1
static const struct {
    const char *src;
    size_t len;
    const char *where; /* NULL: evaluates */
} nul_cases[] = {
    {SRC("{ a = \"x\0y\"; }"), "secrets.nix:1:8: "},
    {SRC("{ a = ''\n  x\0\n''; }"), "secrets.nix:2:1: "},
    {SRC("{ a = \"x\\\0\"; }"), "secrets.nix:1:8: "},
    {SRC("{ a = \"${\"b\"}\0\"; }"), "secrets.nix:1:14: "},
    {SRC("{ \"k\0\" = 1; }"), "secrets.nix:1:4: "},
    {SRC("{ a = 1; /* \0 */ b = 2; # \0\n}"), NULL},
};
#undef SRC

Test(registry_eval, nul_bytes_in_strings_are_refused)
{
    for (size_t i = 0; i < sizeof(nul_cases) / sizeof(nul_cases[0]); i++) {
        struct reg_file *f = NULL;
        struct m3_diag d = {0};
        char *json = NULL;
        size_t len;
        int rc = reg_parse("secrets.nix", nul_cases[i].src, nul_cases[i].len, &f, &d);

        cr_assert_eq(rc, 0, "case %zu parses: %s", i, d.msg);
        rc = reg_eval_json(f, NULL, &json, &len, &d);
        reg_file_free(f);
        if (nul_cases[i].where == NULL) {
            cr_assert_eq(rc, 0, "case %zu: %s", i, d.msg);
            cr_assert_str_eq(json, "{\"a\":1,\"b\":2}");
            free(json);
            continue;
        }
        cr_assert_eq(rc, M3_EUNSUPPORTED, "case %zu: rc %d", i, rc);
        cr_assert(strncmp(d.msg, nul_cases[i].where, strlen(nul_cases[i].where)) == 0 &&
                      strstr(d.msg, "a NUL byte in a string is not supported") != NULL &&
                      strstr(d.msg, "Nix would cut the string there") != NULL,
                  "case %zu: %s", i, d.msg);
    }
}
