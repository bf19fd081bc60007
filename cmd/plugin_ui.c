/* plugin_ui.c: what age plugins ask of the user, on the terminal: messages on stderr, PINs
 * and confirmations read from /dev/tty (echo off for secrets), and the plugin timeout. */
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "keys/keys.h"

#include <bsd/readpassphrase.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
ui_msg(void *ctx, const char *plugin, const char *text)
{
    (void)ctx;
    m3_info("age-plugin-%s: %s", plugin, text);
    return 0;
}

static int
ui_confirm(void *ctx, const char *plugin, const char *text, const char *yes, const char *no)
{
    char prompt[512], ans[64];

    (void)ctx;
    snprintf(prompt, sizeof(prompt), "age-plugin-%s: %s ([1] %s%s%s): ", plugin, m3_shown(text),
             yes, no ? ", [2] " : "", no ? no : "");
    /* The answer is the choice's number (as age asks) or its text. */
    for (int tries = 0; tries < 3; tries++) {
        if (readpassphrase(prompt, ans, sizeof(ans), RPP_ECHO_ON | RPP_REQUIRE_TTY) == NULL)
            return -1;
        if (strcmp(ans, "1") == 0 || strcmp(ans, yes) == 0)
            return 1;
        if (no != NULL && (strcmp(ans, "2") == 0 || strcmp(ans, no) == 0))
            return 0;
        m3_warn("answer 1%s", no ? " or 2" : "");
    }
    return -1;
}

static int
ui_request(void *ctx, const char *plugin, const char *text, bool secret, char *buf, size_t cap)
{
    char prompt[512];

    (void)ctx;
    snprintf(prompt, sizeof(prompt), "age-plugin-%s: %s ", plugin, m3_shown(text));
    if (readpassphrase(prompt, buf, cap, RPP_REQUIRE_TTY | (secret ? 0 : RPP_ECHO_ON)) == NULL)
        return -1;
    return 0;
}

void
m3_plugin_ui_install(void)
{
    struct keys_plugin_ui ui = {
        .msg = ui_msg,
        .confirm = ui_confirm,
        .request = ui_request,
        .timeout_ms = KEYS_PLUGIN_TIMEOUT_DEFAULT_MS,
    };
    const char *env = getenv("M3AGE_PLUGIN_TIMEOUT");
    char *end;

    if (env != NULL && *env != '\0') {
        long s = strtol(env, &end, 10);
        if (*end == '\0' && s >= 0 && s <= 86400)
            ui.timeout_ms = (int)s * 1000;
        else
            m3_warn("M3AGE_PLUGIN_TIMEOUT='%.20s' is not a number of seconds; using %d", env,
                    KEYS_PLUGIN_TIMEOUT_DEFAULT_MS / 1000);
    }
    keys_plugin_set_ui(&ui);
}
