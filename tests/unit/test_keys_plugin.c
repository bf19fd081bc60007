/* test_keys_plugin.c: the age plugin protocol's framing (keys/plugin_proto.c) as a client
 * reads it from a plugin: every malformed stanza is refused with a message, never a crash;
 * what it sends is what the spec says. Plugin identity parsing. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "keys/keys.h"
#include "keys/plugin.h"
#include "libage/age.h"

/* recv_of: what keys_pconn_recv makes of `text` written by a "plugin" that then hangs up. */
static int
recv_of(const char *text, struct keys_pmsg *m, struct m3_diag *d)
{
    struct keys_pconn c;
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(&c, 0, sizeof(c));
    c.fd = sv[0];
    c.pid = -1;
    c.timeout_ms = 2000;
    strcpy(c.name, "age-plugin-t");
    cr_assert_eq(write(sv[1], text, strlen(text)), (ssize_t)strlen(text));
    close(sv[1]);
    m3_diag_clear(d);
    int rc = keys_pconn_recv(&c, m, d);
    close(sv[0]);
    return rc;
}

Test(plugin, well_formed_stanzas)
{
    struct keys_pmsg m;
    struct m3_diag d;

    cr_assert_eq(recv_of("-> file-key 0\nAAECAwQFBgcICQoLDA0ODw\n", &m, &d), 0, "%s", d.msg);
    cr_expect_eq(m.nargs, 2);
    cr_expect_str_eq(m.args[0], "file-key");
    cr_expect_str_eq(m.args[1], "0");
    cr_expect_eq(m.body_len, 16);
    cr_expect_eq(m.body[15], 15);
    keys_pmsg_free(&m);
    cr_assert_eq(recv_of("-> done\n\n", &m, &d), 0, "%s", d.msg);
    cr_expect_eq(m.body_len, 0);
    keys_pmsg_free(&m);
    /* a body of exactly 48 bytes: a full line, then an empty one */
    cr_assert_eq(recv_of("-> msg\n"
                         "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n\n",
                         &m, &d),
                 0, "%s", d.msg);
    cr_expect_eq(m.body_len, 48);
    keys_pmsg_free(&m);
}

Test(plugin, malformed_stanzas_are_refused)
{
    static const struct {
        const char *text, *msg;
    } cases[] = {
        {"garbage\n\n", "age-plugin-t: sent something that is not a protocol stanza"},
        {"->  done\n\n", "age-plugin-t: sent a malformed stanza"},
        {"-> done \n\n", "age-plugin-t: sent a malformed stanza"},
        {"-> a  b\n\n", "age-plugin-t: sent a malformed stanza"},
        {"-> \n\n", "age-plugin-t: sent a malformed stanza"},
        {"-> ok\nAA=\n", "age-plugin-t: sent a malformed stanza body"},
        {"-> ok\nAB\n", "age-plugin-t: sent a malformed stanza body"}, /* non-canonical */
        {"-> ok\n!!\n", "age-plugin-t: sent a malformed stanza body"},
        {"-> ok\n", "age-plugin-t: the plugin exited in the middle of the protocol"},
        {"-> ok", "age-plugin-t: the plugin exited in the middle of the protocol"},
        {"", "age-plugin-t: the plugin exited in the middle of the protocol"},
    };
    struct keys_pmsg m;
    struct m3_diag d;

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_expect_neq(recv_of(cases[i].text, &m, &d), 0, "case %zu accepted", i);
        cr_expect_str_eq(d.msg, cases[i].msg, "case %zu", i);
        cr_expect_null(m.body, "case %zu", i);
    }
}

Test(plugin, overlong_lines_and_bodies_are_refused)
{
    static char buf[KEYS_PLUGIN_MAX_BODY * 2];
    struct keys_pmsg m;
    struct m3_diag d;
    size_t n;

    /* a command line past the limit */
    n = (size_t)sprintf(buf, "-> ");
    memset(buf + n, 'a', KEYS_PLUGIN_MAX_LINE + 10);
    strcpy(buf + n + KEYS_PLUGIN_MAX_LINE + 10, "\n\n");
    cr_expect_eq(recv_of(buf, &m, &d), M3_EHEADER);
    cr_expect(strstr(d.msg, "a line longer than") != NULL, "%s", d.msg);
    /* a body past the limit, in full lines */
    n = (size_t)sprintf(buf, "-> msg\n");
    while (n + 70 < sizeof(buf) - 2)
        n += (size_t)sprintf(buf + n, "%s\n",
                             "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB");
    strcpy(buf + n, "\n");
    cr_expect_eq(recv_of(buf, &m, &d), M3_EHEADER);
    cr_expect_str_eq(d.msg, "age-plugin-t: sent a malformed stanza body");
}

Test(plugin, sent_stanzas_follow_the_spec)
{
    struct keys_pconn c;
    unsigned char key[48];
    const char *args[3] = {"recipient-stanza", "0", "X25519"};
    char out[512] = "";
    int sv[2];

    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    memset(&c, 0, sizeof(c));
    c.fd = sv[0];
    c.pid = -1;
    strcpy(c.name, "age-plugin-t");
    memset(key, 'A', sizeof(key));
    cr_assert_eq(keys_pconn_send(&c, args, 3, key, sizeof(key), NULL), 0);
    cr_assert_eq(keys_pconn_send(&c, args, 1, NULL, 0, NULL), 0);
    close(sv[0]);
    cr_assert_gt(read(sv[1], out, sizeof(out) - 1), 0);
    close(sv[1]);
    cr_expect_str_eq(out, "-> recipient-stanza 0 X25519\n"
                          "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\n"
                          "\n"
                          "-> recipient-stanza\n"
                          "\n");
}

Test(plugin, identities_parse_and_never_echo)
{
    struct age_identity *id = NULL;
    struct m3_diag d;
    char ok[] = "AGE-PLUGIN-M3TEST-1QRJJNU0WCW5ER8XAE32URUSDXND754VP77Y2P9CGXYJJLK2N3VU7X2DFGL7";

    m3_diag_clear(&d);
    cr_assert_eq(keys_plugin_identity_parse(&id, ok, &d), 0, "%s", d.msg);
    cr_expect(keys_identity_is_plugin(id));
    cr_expect_str_eq(keys_identity_plugin_name(id), "m3test");
    age_identity_free(id);
    cr_expect_eq(keys_plugin_identity_parse(&id, "AGE-SECRET-KEY-1QQ", &d), M3_ENOMATCH);
    ok[strlen(ok) - 1] = 'Q';
    cr_expect_eq(keys_plugin_identity_parse(&id, ok, &d), M3_EINVAL);
    cr_expect_str_eq(d.msg, "malformed plugin identity (bad bech32 encoding)");
    cr_expect_null(id);
    cr_assert_eq(keys_plugin_identity_default(&id, "YubiKey", &d), 0, "%s", d.msg);
    cr_expect_str_eq(keys_identity_plugin_name(id), "yubikey");
    age_identity_free(id);
    cr_expect_eq(keys_plugin_identity_default(&id, "../x", &d), M3_EINVAL);
    cr_expect_str_eq(d.msg, "'../x' is not a valid plugin name");
}
