/* nixgen.c: random Nix expressions for comparing m3age's evaluator with nix-instantiate
 * (tests/cli/registry_random.sh).
 *
 * Usage: nixgen SEED COUNT DEPTH DIR. Writes DIR/t00000.nix ... of COUNT expressions,
 * each from its own seed (SEED * 100000 + i: a failing case is made again alone). They use
 * what m3age's evaluator supports, mostly well typed so that most evaluate, with some
 * errors on purpose: lets, rec sets, attribute paths merged and duplicated, inherit,
 * `with`, functions with formals and @-patterns, `or`, `?`, ${ } names, strings and
 * indented strings with escapes and interpolation, arithmetic, comparisons and the list
 * builtins. Variables are only those in scope (fresh names), so few fail as undefined. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ty { T_INT, T_STR, T_BOOL, T_LIST, T_SET, T_COUNT };

struct var {
    char name[16];
    enum ty t;
};

struct env {
    struct var v[64];
    int n;
};

struct gen {
    uint64_t s;
    int fresh;
    char *out;
    size_t n, cap;
};

static uint64_t
next(struct gen *g)
{
    /* splitmix64: small, and the same sequence everywhere */
    uint64_t z = (g->s += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* rnd: a number in [0, 1000). */
static int
rnd(struct gen *g)
{
    return (int)(next(g) % 1000);
}

static int
pick(struct gen *g, int n)
{
    return (int)(next(g) % (uint64_t)n);
}

static void put(struct gen *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
put(struct gen *g, const char *fmt, ...)
{
    va_list ap;
    int k;

    for (;;) {
        va_start(ap, fmt);
        k = vsnprintf(g->out + g->n, g->cap - g->n, fmt, ap);
        va_end(ap);
        if (k < 0)
            exit(2);
        if (g->n + (size_t)k < g->cap)
            break;
        g->cap = (g->cap + (size_t)k) * 2;
        if ((g->out = realloc(g->out, g->cap)) == NULL)
            exit(2);
    }
    g->n += (size_t)k;
}

static void
ws(struct gen *g)
{
    int r = rnd(g);

    put(g, r < 800 ? " " : r < 900 ? "\n  " : r < 950 ? " # c\n " : " /* c */ ");
}

static const char *const strs[] = {"",     "a",     "ssh-ed25519 AAAA", "age1x", "m3-ares", "x y",
                                   "q\"t", "b\\s",  "n\nl",              "t\tb",  "$d",      "${",
                                   "\xc3\xbc", "'", "''"};

/* strlit: a "..." literal of s, escaped. */
static void
strlit(struct gen *g, const char *s)
{
    put(g, "\"");
    for (; *s; s++) {
        if (*s == '"' || *s == '\\' || *s == '$')
            put(g, "\\%c", *s);
        else if (*s == '\n')
            put(g, "\\n");
        else if (*s == '\t')
            put(g, "\\t");
        else
            put(g, "%c", *s);
    }
    put(g, "\"");
}

static void
name(struct gen *g)
{
    static const char *const ids[] = {"a", "b", "c", "d", "publicKeys", "armor"};
    static const char *const quoted[] = {"x y", "s.age", "a", "\xc3\xa9", ""};
    int r = rnd(g);

    if (r < 700)
        put(g, "%s", ids[pick(g, 6)]);
    else if (r < 850)
        strlit(g, quoted[pick(g, 5)]);
    else
        put(g, "${\"%s\"}", (const char *[]){"a", "b", "z"}[pick(g, 3)]);
}

static const char *
var_of(struct gen *g, const struct env *e, enum ty t)
{
    int idx[64], n = 0, i;

    for (i = 0; i < e->n; i++)
        if (e->v[i].t == t)
            idx[n++] = i;
    return n ? e->v[idx[pick(g, n)]].name : NULL;
}

/* with: e plus a fresh variable of type t, whose name is left in nm. */
static struct env
with_var(struct gen *g, const struct env *e, enum ty t, char *nm)
{
    struct env n = *e;

    snprintf(nm, 16, "v%d", ++g->fresh);
    if (n.n < 64) {
        memcpy(n.v[n.n].name, nm, 16);
        n.v[n.n++].t = t;
    }
    return n;
}

static void gen(struct gen *g, enum ty t, int d, const struct env *e);

static void
leaf(struct gen *g, enum ty t, const struct env *e)
{
    static const char *const ints[] = {"0", "1", "2", "3", "10", "42", "1000000007"};
    static const char *const lists[] = {"[ ]", "[ 1 ]", "[ \"a\" \"b\" ]", "[ [ ] ]"};
    static const char *const sets[] = {"{ }", "{ a = 1; }", "{ b = \"x\"; a = true; }",
                                       "{ a.p = 2; }"};
    const char *v = var_of(g, e, t);

    if (v != NULL && rnd(g) < 500) {
        put(g, "%s", v);
        return;
    }
    switch (t) {
    case T_INT:
        put(g, "%s", ints[pick(g, 7)]);
        break;
    case T_STR:
        strlit(g, strs[pick(g, 15)]);
        break;
    case T_BOOL:
        put(g, pick(g, 2) ? "true" : "false");
        break;
    case T_LIST:
        put(g, "%s", lists[pick(g, 4)]);
        break;
    default:
        put(g, "%s", sets[pick(g, 4)]);
        break;
    }
}

static void
strlist(struct gen *g, int d, const struct env *e)
{
    const char *v = var_of(g, e, T_LIST);
    int i, k;

    if (d > 0 && rnd(g) >= 600 && v != NULL && rnd(g) < 300) {
        put(g, "%s", v);
        return;
    }
    put(g, "[ ");
    for (i = 0, k = pick(g, 4); i < k; i++) {
        gen(g, T_STR, d - 1, e);
        put(g, " ");
    }
    put(g, "]");
}

/* setlit: a set literal; a name (or name and path element) is defined once in it. */
static void
setlit(struct gen *g, int d, const struct env *e)
{
    char used[8][40];
    int i, k = pick(g, 5), x, nused = 0, u;

    put(g, rnd(g) < 150 ? "rec {" : "{");
    ws(g);
    for (i = 0; i < k; i++) {
        size_t at = g->n;
        x = rnd(g);
        if (x < 150 && e->n > 0) {
            put(g, "inherit %s", e->v[pick(g, e->n)].name);
        } else {
            name(g);
            if (x < 350)
                put(g, ".%s", pick(g, 2) ? "p" : "q");
        }
        /* the definition so far is its name: drop it if defined already */
        for (u = 0; u < nused && strncmp(used[u], g->out + at, sizeof(used[0])) != 0; u++)
            ;
        if (u < nused || g->n - at >= sizeof(used[0])) {
            g->n = at;
            g->out[at] = '\0';
            continue;
        }
        if (nused < 8)
            memcpy(used[nused++], g->out + at, g->n - at + 1);
        if (x < 150 && e->n > 0) {
            put(g, ";");
        } else {
            put(g, " = ");
            gen(g, x < 350 ? (pick(g, 2) ? T_INT : T_STR) : (enum ty)pick(g, T_COUNT), d - 1, e);
            put(g, ";");
        }
        ws(g);
    }
    put(g, "}");
}

static void
gen(struct gen *g, enum ty t, int d, const struct env *e)
{
    const char *v;
    char n1[16], n2[16];
    struct env e1, e2;
    int k, c;

    if (d <= 0) {
        leaf(g, t, e);
        return;
    }
    if ((v = var_of(g, e, t)) != NULL && rnd(g) < 250) {
        put(g, "%s", v);
        return;
    }
    k = rnd(g);
    if (k < 80) { /* let */
        enum ty vt = (enum ty)pick(g, T_COUNT);
        e1 = with_var(g, e, vt, n1);
        put(g, "(let");
        ws(g);
        put(g, "%s = ", n1);
        gen(g, vt, d - 1, e);
        put(g, ";");
        ws(g);
        put(g, "in");
        ws(g);
        gen(g, t, d - 1, &e1);
        put(g, ")");
        return;
    }
    if (k < 130) {
        put(g, "(if ");
        gen(g, T_BOOL, d - 1, e);
        put(g, " then ");
        gen(g, t, d - 1, e);
        put(g, " else ");
        gen(g, t, d - 1, e);
        put(g, ")");
        return;
    }
    if (k < 180) { /* a function applied */
        enum ty vt = (enum ty)pick(g, T_COUNT);
        e1 = with_var(g, e, vt, n1);
        if (rnd(g) < 300) {
            e2 = with_var(g, &e1, T_INT, n2);
            put(g, "(({ %s, %s ? ", n1, n2);
            gen(g, T_INT, d - 2, e);
            put(g, ", ... }: ");
            gen(g, t, d - 1, &e2);
            put(g, ") { %s = ", n1);
            gen(g, vt, d - 1, e);
            put(g, "; extra = 1; })");
        } else {
            put(g, "((%s: ", n1);
            gen(g, t, d - 1, &e1);
            put(g, ") ");
            gen(g, vt, d - 1, e);
            put(g, ")");
        }
        return;
    }
    if (k < 220) {
        put(g, "(");
        gen(g, T_SET, d - 1, e);
        put(g, ".");
        name(g);
        put(g, " or ");
        gen(g, t, d - 1, e);
        put(g, ")");
        return;
    }
    if (k < 250) {
        put(g, "(with ");
        gen(g, T_SET, d - 1, e);
        put(g, "; ");
        gen(g, t, d - 1, e);
        put(g, ")");
        return;
    }
    if (k < 280) { /* a rec set's attribute */
        snprintf(n1, sizeof(n1), "v%d", ++g->fresh);
        snprintf(n2, sizeof(n2), "v%d", ++g->fresh);
        put(g, "(rec { %s = ", n1);
        gen(g, t, d - 1, e);
        put(g, "; %s = %s; }).%s", n2, n1, n2);
        return;
    }
    if (k < 310) {
        put(g, "(");
        gen(g, T_SET, d - 1, e);
        put(g, ".");
        name(g);
        put(g, ".");
        name(g);
        put(g, " or ");
        gen(g, t, d - 1, e);
        put(g, ")");
        return;
    }
    if (k < 330) { /* curried */
        e1 = with_var(g, e, T_INT, n1);
        e2 = with_var(g, &e1, t, n2);
        put(g, "((%s: %s: ", n1, n2);
        gen(g, t, d - 1, &e2);
        put(g, ") ");
        gen(g, T_INT, d - 1, e);
        put(g, " ");
        gen(g, t, d - 1, e);
        put(g, ")");
        return;
    }
    if (k < 350) { /* @-pattern */
        e1 = with_var(g, e, T_SET, n1);
        put(g, "((%s@{ a ? 1, ... }: ", n1);
        gen(g, t, d - 1, &e1);
        put(g, ") ");
        gen(g, T_SET, d - 1, e);
        put(g, ")");
        return;
    }
    if (k < 370) { /* a let whose bindings refer to each other */
        snprintf(n1, sizeof(n1), "v%d", ++g->fresh);
        snprintf(n2, sizeof(n2), "v%d", ++g->fresh);
        put(g, "(let %s = %s; %s = ", n1, n2, n2);
        gen(g, t, d - 1, e);
        put(g, "; in %s)", n1);
        return;
    }
    c = rnd(g);
    switch (t) {
    case T_INT:
        if (c < 300) {
            put(g, "(");
            gen(g, T_INT, d - 1, e);
            put(g, " %s ", (const char *[]){"+", "-", "*"}[pick(g, 3)]);
            gen(g, T_INT, d - 1, e);
            put(g, ")");
        } else if (c < 350) {
            put(g, "(");
            gen(g, T_INT, d - 1, e);
            put(g, " / ");
            if (rnd(g) < 800)
                put(g, "%s", (const char *[]){"2", "3", "-2", "7"}[pick(g, 4)]);
            else
                gen(g, T_INT, d - 1, e);
            put(g, ")");
        } else if (c < 400) {
            put(g, "(-");
            gen(g, T_INT, d - 1, e);
            put(g, ")");
        } else if (c < 600) {
            put(g, "(builtins.length ");
            gen(g, T_LIST, d - 1, e);
            put(g, ")");
        } else if (c < 700) {
            put(g, "(builtins.elemAt [ ");
            gen(g, T_INT, d - 1, e);
            put(g, " ");
            gen(g, T_INT, d - 1, e);
            put(g, " ] %d)", (int[]){0, 1, 1, 2}[pick(g, 4)]);
        } else if (c < 800) {
            put(g, "(builtins.head [ ");
            gen(g, T_INT, d - 1, e);
            put(g, " ])");
        } else {
            leaf(g, t, e);
        }
        return;
    case T_STR:
        if (c < 250) {
            put(g, "(");
            gen(g, T_STR, d - 1, e);
            put(g, " + ");
            gen(g, T_STR, d - 1, e);
            put(g, ")");
        } else if (c < 450) {
            int i, parts = 1 + pick(g, 3);
            put(g, "\"");
            for (i = 0; i < parts; i++) {
                if (pick(g, 2)) {
                    size_t at = g->n;
                    strlit(g, strs[pick(g, 15)]);
                    /* the literal without its quotes */
                    memmove(g->out + at, g->out + at + 1, g->n - at - 1);
                    g->n -= 2;
                    g->out[g->n] = '\0';
                } else {
                    put(g, "${");
                    gen(g, T_STR, d - 1, e);
                    put(g, "}");
                }
            }
            put(g, "\"");
        } else if (c < 550) {
            static const char *const esc[] = {"''$", "'''", "''\\n", "$$", "'"};
            static const char *const text[] = {"text", "  indented\n", "\n  more\n", " x ",
                                               "tab\there"};
            int i, parts = 1 + pick(g, 3);
            put(g, "''\n    ");
            for (i = 0; i < parts; i++) {
                int x = rnd(g);
                if (x < 300) {
                    put(g, "${");
                    gen(g, T_STR, d - 1, e);
                    put(g, "}");
                } else if (x < 400) {
                    put(g, "%s", esc[pick(g, 5)]);
                } else {
                    put(g, "%s", text[pick(g, 5)]);
                }
            }
            put(g, "\n  ''");
        } else if (c < 700) {
            put(g, "(builtins.toString ");
            gen(g, (enum ty)pick(g, 3), d - 1, e);
            put(g, ")");
        } else if (c < 750) {
            put(g, "(builtins.concatStringsSep ");
            strlit(g, (const char *[]){",", " ", ""}[pick(g, 3)]);
            put(g, " ");
            strlist(g, d - 1, e);
            put(g, ")");
        } else if (c < 800) {
            static const char *const vals[] = {
                "[ 1 [ 2 \"x\" ] null ]", "null", "true", "false", "1.5", "0.1", "-3", "[ ]",
                "[ [ ] ]", "2.0", "123456789.123"};
            put(g, "(toString %s)", vals[pick(g, 11)]);
        } else {
            leaf(g, t, e);
        }
        return;
    case T_BOOL:
        if (c < 200) {
            enum ty tt = (enum ty)pick(g, T_COUNT);
            put(g, "(");
            gen(g, tt, d - 1, e);
            put(g, " %s ", pick(g, 2) ? "==" : "!=");
            gen(g, tt, d - 1, e);
            put(g, ")");
        } else if (c < 270) {
            put(g, "(");
            gen(g, T_INT, d - 1, e);
            put(g, " < ");
            gen(g, T_INT, d - 1, e);
            put(g, ")");
        } else if (c < 300) {
            put(g, "(");
            gen(g, T_STR, d - 1, e);
            put(g, " %s ", (const char *[]){"<", ">", "<=", ">="}[pick(g, 4)]);
            gen(g, T_STR, d - 1, e);
            put(g, ")");
        } else if (c < 450) {
            put(g, "(");
            gen(g, T_BOOL, d - 1, e);
            put(g, " %s ", (const char *[]){"&&", "||", "->"}[pick(g, 3)]);
            gen(g, T_BOOL, d - 1, e);
            put(g, ")");
        } else if (c < 500) {
            put(g, "(!");
            gen(g, T_BOOL, d - 1, e);
            put(g, ")");
        } else if (c < 600) {
            put(g, "(builtins.elem ");
            gen(g, T_STR, d - 1, e);
            put(g, " ");
            strlist(g, d - 1, e);
            put(g, ")");
        } else if (c < 700) {
            put(g, "(");
            gen(g, T_SET, d - 1, e);
            put(g, " ? ");
            name(g);
            put(g, ")");
        } else if (c < 800) {
            put(g, "(builtins.hasAttr ");
            strlit(g, (const char *[]){"a", "b", "publicKeys"}[pick(g, 3)]);
            put(g, " ");
            gen(g, T_SET, d - 1, e);
            put(g, ")");
        } else if (c < 900) {
            e1 = with_var(g, e, T_STR, n1);
            put(g, "(builtins.%s (%s: ", pick(g, 2) ? "any" : "all", n1);
            gen(g, T_BOOL, d - 1, &e1);
            put(g, ") ");
            strlist(g, d - 1, e);
            put(g, ")");
        } else {
            leaf(g, t, e);
        }
        return;
    case T_LIST:
        if (c < 300) {
            int i, n = pick(g, 4);
            put(g, "[");
            ws(g);
            for (i = 0; i < n; i++) {
                put(g, "(");
                gen(g, (enum ty)pick(g, T_COUNT), d - 1, e);
                put(g, ")");
                ws(g);
            }
            put(g, "]");
        } else if (c < 450) {
            put(g, "(");
            gen(g, T_LIST, d - 1, e);
            put(g, " ++ ");
            gen(g, T_LIST, d - 1, e);
            put(g, ")");
        } else if (c < 550) {
            e1 = with_var(g, e, T_STR, n1);
            put(g, "(map (%s: ", n1);
            gen(g, (enum ty)(T_STR + pick(g, 2) * 3), d - 1, &e1); /* a string or a set */
            put(g, ") ");
            strlist(g, d - 1, e);
            put(g, ")");
        } else if (c < 620) {
            e1 = with_var(g, e, T_STR, n1);
            put(g, "(builtins.filter (%s: ", n1);
            gen(g, T_BOOL, d - 1, &e1);
            put(g, ") ");
            strlist(g, d - 1, e);
            put(g, ")");
        } else if (c < 700) {
            put(g, "(builtins.concatLists [ ");
            gen(g, T_LIST, d - 1, e);
            put(g, " ");
            gen(g, T_LIST, d - 1, e);
            put(g, " ])");
        } else if (c < 780) {
            put(g, "(builtins.attrValues ");
            gen(g, T_SET, d - 1, e);
            put(g, ")");
        } else if (c < 860) {
            put(g, "(builtins.attrNames ");
            gen(g, T_SET, d - 1, e);
            put(g, ")");
        } else if (c < 930) {
            e1 = with_var(g, e, T_STR, n1);
            put(g, "(builtins.concatMap (%s: [ %s ", n1, n1);
            gen(g, T_STR, d - 1, &e1);
            put(g, " ]) ");
            strlist(g, d - 1, e);
            put(g, ")");
        } else {
            leaf(g, t, e);
        }
        return;
    default:
        if (c < 450) {
            setlit(g, d, e);
        } else if (c < 600) {
            put(g, "(");
            gen(g, T_SET, d - 1, e);
            put(g, " // ");
            gen(g, T_SET, d - 1, e);
            put(g, ")");
        } else if (c < 700) {
            put(g, "(builtins.listToAttrs [ { name = ");
            strlit(g, (const char *[]){"a", "b", "a"}[pick(g, 3)]);
            put(g, "; value = ");
            gen(g, T_INT, d - 1, e);
            put(g, "; } { name = ");
            strlit(g, (const char *[]){"a", "c"}[pick(g, 2)]);
            put(g, "; value = ");
            gen(g, T_STR, d - 1, e);
            put(g, "; } ])");
        } else if (c < 800) {
            snprintf(n1, sizeof(n1), "v%d", ++g->fresh);
            put(g, "(let %s = ", n1);
            setlit(g, d - 1, e);
            put(g, "; in { inherit (%s) %s; z = 1; })", n1,
                (const char *[]){"a", "b", "a b"}[pick(g, 3)]);
        } else {
            leaf(g, t, e);
        }
        return;
    }
}

int
main(int argc, char **argv)
{
    static const enum ty tops[] = {T_SET, T_SET, T_LIST, T_STR, T_INT, T_BOOL};
    long seed, count, depth, i;
    char path[4096];

    if (argc != 5) {
        fprintf(stderr, "usage: nixgen SEED COUNT DEPTH DIR\n");
        return 2;
    }
    seed = strtol(argv[1], NULL, 10);
    count = strtol(argv[2], NULL, 10);
    depth = strtol(argv[3], NULL, 10);
    for (i = 0; i < count; i++) {
        struct gen g = {.s = (uint64_t)(seed * 100000 + i)};
        struct env e = {.n = 0};
        FILE *f;
        g.cap = 4096;
        if ((g.out = malloc(g.cap)) == NULL)
            return 2;
        g.out[0] = '\0';
        gen(&g, tops[pick(&g, 6)], (int)depth, &e);
        put(&g, "\n");
        snprintf(path, sizeof(path), "%s/t%05ld.nix", argv[4], i);
        if ((f = fopen(path, "w")) == NULL || fwrite(g.out, 1, g.n, f) != g.n ||
            fclose(f) != 0) {
            perror(path);
            return 2;
        }
        free(g.out);
    }
    return 0;
}
