/* test_hostkeys.c: host key lines, .pub files and known_hosts matching (patterns, negation,
 * ports, hashed entries, @revoked, @cert-authority). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libage/age.h"
#include "secrets/hostkeys.h"

/* The demo repository's m3-aether host key and its `ssh-keygen -l` fingerprint. */
#define AETHER "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO/7VlPnKUBlhK8lHyVaDSiD3Jvf81iwabXKil9MQW+t"
#define AETHER_FP "SHA256:D37LLf0xG5ejTQ1sXBbHSmqlCBcdBb6kUmZ9pU5adSE"
#define ARES "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKU6Poov6Qww7DsGxVqYG0abqj8kr3lNkNwZBO/7I8xp"

static void
setup(void)
{
    cr_assert_eq(age_init(), 0);
}

TestSuite(hostkeys, .init = setup);

static char *
write_tmp(const char *text)
{
    char *path = strdup("/tmp/m3hk.XXXXXX");
    int fd = mkstemp(path);

    cr_assert(fd >= 0);
    cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

Test(hostkeys, parse_normalises_and_fingerprints_like_ssh_keygen)
{
    struct hostkey k = {0};
    struct m3_diag d;

    cr_assert_eq(hostkey_parse("  " AETHER "   root@m3-aether\n", &k, &d), 0, "%s", d.msg);
    cr_assert_str_eq(k.line, AETHER);
    cr_assert_str_eq(k.type, "ssh-ed25519");
    cr_assert_str_eq(k.fp, AETHER_FP);
    hostkey_clear(&k);
}

Test(hostkeys, parse_rejects_what_age_cannot_use)
{
    static const struct {
        const char *text;
        int rc;
        const char *msg;
    } bad[] = {
        {"", M3_EINVAL, "not an SSH public key"},
        {"hello world", M3_EINVAL, "not an SSH public key"},
        {"ssh-ed25519", M3_EINVAL, "no key"},
        {"ssh-ed25519 AAAA*AAA", M3_EINVAL, "base64"},
        {"ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIO/7VlPnKUBlhK8lHyVaDSiD3Jvf81iwabXKil9MQW+t", M3_EINVAL,
         "corrupted"},
        {"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBA==",
         M3_EUNSUPPORTED, "ecdsa"},
        {"AGE-SECRET-KEY-1QQQQ", M3_EINVAL, "not an SSH public key"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct hostkey k = {0};
        struct m3_diag d;

        m3_diag_clear(&d);
        cr_assert_eq(hostkey_parse(bad[i].text, &k, &d), bad[i].rc, "case %zu: %s", i, d.msg);
        cr_assert(strstr(d.msg, bad[i].msg) != NULL, "case %zu: '%s'", i, d.msg);
        cr_assert_null(k.line);
    }
}

Test(hostkeys, equal_ignores_comments)
{
    struct hostkey a = {0}, b = {0}, c = {0};

    cr_assert_eq(hostkey_parse(AETHER " one", &a, NULL), 0);
    cr_assert_eq(hostkey_parse(AETHER " two", &b, NULL), 0);
    cr_assert_eq(hostkey_parse(ARES, &c, NULL), 0);
    cr_assert(hostkey_equal(&a, &b));
    cr_assert_not(hostkey_equal(&a, &c));
    hostkey_clear(&a);
    hostkey_clear(&b);
    hostkey_clear(&c);
}

Test(hostkeys, pub_file_one_key_with_comments_and_blank_lines)
{
    struct hostkey k = {0};
    struct m3_diag d;
    char *ok = write_tmp("# m3-aether\n\n" AETHER " root@m3-aether\n\n");
    char *two = write_tmp(AETHER "\n" ARES "\n");
    char *none = write_tmp("# nothing\n\n");
    char *bad = write_tmp("\n\nssh-ed25519 AAAA!\n");

    cr_assert_eq(hostkeys_read_file(ok, &k, &d), 0, "%s", d.msg);
    cr_assert_str_eq(k.fp, AETHER_FP);
    hostkey_clear(&k);
    cr_assert_eq(hostkeys_read_file(two, &k, &d), M3_EINVAL);
    cr_assert(strstr(d.msg, ":2: more than one key (the first is on line 1)") != NULL, "%s", d.msg);
    cr_assert_eq(hostkeys_read_file(none, &k, &d), M3_EINVAL);
    cr_assert(strstr(d.msg, "no public key") != NULL, "%s", d.msg);
    cr_assert_eq(hostkeys_read_file(bad, &k, &d), M3_EINVAL);
    cr_assert(strstr(d.msg, ":3: ") != NULL, "%s", d.msg);
    cr_assert_eq(hostkeys_read_file("/nonexistent/x.pub", &k, &d), M3_ENOTFOUND);
    unlink(ok);
    unlink(two);
    unlink(none);
    unlink(bad);
    free(ok);
    free(two);
    free(none);
    free(bad);
}

/* lookup: how many keys known_hosts text gives for name on port. */
static size_t
lookup(const char *text, const char *name, unsigned port)
{
    struct hostkey *keys = NULL;
    size_t n = 0;
    char *path = write_tmp(text);
    const char *names[] = {name};

    cr_assert_eq(hostkeys_known_hosts(path, names, 1, port, &keys, &n, NULL), 0);
    hostkeys_keys_free(keys, n);
    unlink(path);
    free(path);
    return n;
}

Test(hostkeys, known_hosts_patterns_ports_and_markers)
{
    static const struct {
        const char *line;
        const char *name;
        unsigned port;
        size_t want;
    } cases[] = {
        {"m3-atlas " AETHER "\n", "m3-atlas", 22, 1},
        {"M3-Atlas " AETHER "\n", "m3-atlas", 22, 1},
        {"m3-atlas " AETHER "\n", "m3-atlas", 2222, 0},
        {"[m3-atlas]:2222 " AETHER "\n", "m3-atlas", 2222, 1},
        {"[m3-atlas]:2222 " AETHER "\n", "m3-atlas", 22, 0},
        {"a,m3-atlas,b " AETHER "\n", "m3-atlas", 22, 1},
        {"m3-* " AETHER "\n", "m3-atlas", 22, 1},
        {"m3-?tlas " AETHER "\n", "m3-atlas", 22, 1},
        {"m3-*,!m3-atlas " AETHER "\n", "m3-atlas", 22, 0},
        {"m3-*,!m3-atlas " AETHER "\n", "m3-hermes", 22, 1},
        {"[1*]:2222 " AETHER "\n", "10.0.0.1", 2222, 1},
        {"m3-atlasx " AETHER "\n", "m3-atlas", 22, 0},
        {"# m3-atlas " AETHER "\n", "m3-atlas", 22, 0},
        {"@cert-authority * " AETHER "\n", "m3-atlas", 22, 0},
        {"m3-atlas " AETHER "\n@revoked * " AETHER "\n", "m3-atlas", 22, 0},
        {"m3-atlas " AETHER "\nm3-atlas " ARES "\n@revoked m3-atlas " AETHER "\n", "m3-atlas", 22,
         1},
        {"m3-atlas ecdsa-sha2-nistp256 AAAA\nm3-atlas garbage\nm3-atlas " AETHER "\n", "m3-atlas",
         22, 1},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_eq(lookup(cases[i].line, cases[i].name, cases[i].port), cases[i].want,
                     "case %zu: %s", i, cases[i].line);
}

Test(hostkeys, known_hosts_hashed_entry)
{
    /* Made by `ssh-keygen -H` from "m3-atlas KEY" and "[m3-atlas]:2222 KEY". */
    static const char *p22 =
        "|1|B0jmo6KyzFVBYEBXfZ+ogtP1ct4=|H1k2Tzg+xW/mJHPbSp6zhZQOhiM= " AETHER "\n";
    static const char *p2222 =
        "|1|8VhNb3fpV1PJFwmU4kmfNjgabYA=|LPFb1e8kq2LWc/sxR62fJ7rTTIM= " AETHER "\n";

    cr_assert_eq(lookup(p22, "m3-atlas", 22), 1);
    cr_assert_eq(lookup(p22, "m3-Atlas", 22), 0); /* hashed names are exact */
    cr_assert_eq(lookup(p22, "m3-hermes", 22), 0);
    cr_assert_eq(lookup(p22, "m3-atlas", 2222), 0);
    cr_assert_eq(lookup(p2222, "m3-atlas", 2222), 1);
    cr_assert_eq(lookup(p2222, "m3-atlas", 22), 0);
    cr_assert_eq(lookup("|1|bad|entry " AETHER "\n", "m3-atlas", 22), 0);
    cr_assert_eq(lookup("|1|" AETHER "\n", "m3-atlas", 22), 0);
}

Test(hostkeys, missing_known_hosts_is_empty_and_pick_prefers_ed25519)
{
    struct hostkey *keys = (struct hostkey *)1;
    size_t n = 9;
    const char *names[] = {"x"};

    cr_assert_eq(hostkeys_known_hosts("/nonexistent/known_hosts", names, 1, 22, &keys, &n, NULL),
                 0);
    cr_assert_eq(n, 0);
    cr_assert_null(keys);
    cr_assert_null(hostkeys_pick(NULL, 0));
}

Test(hostkeys, valid_host_names)
{
    cr_assert(hostkeys_valid_host_name("m3-atlas"));
    cr_assert(hostkeys_valid_host_name("_x.y"));
    cr_assert_not(hostkeys_valid_host_name("-rf"));
    cr_assert_not(hostkeys_valid_host_name("../etc"));
    cr_assert_not(hostkeys_valid_host_name("a/b"));
    cr_assert_not(hostkeys_valid_host_name(""));
    cr_assert_not(hostkeys_valid_host_name("1host"));
}
