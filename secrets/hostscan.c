/* hostscan.c: a host's key read from its sshd: the SSH key exchange through libssh and
 * nothing more (no authentication, no channel, no command). */
#include "secrets/hostkeys.h"

#include "keys/sshlib.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Host key algorithms offered, best first: only types age can encrypt to. */
#define HOSTSCAN_ALGOS "ssh-ed25519,rsa-sha2-512,rsa-sha2-256"

/* session_new: a libssh session for host with the config applied: HostName, Port, and the
 * options ssh would take from it. Global configs are not read (the caller names the file). */
static int
session_new(const char *host, const struct hostkeys_scan_opts *o, ssh_session *out,
            struct m3_diag *d)
{
    ssh_session s;
    bool no = false;
    int verbosity = SSH_LOG_NOLOG;
    long timeout = o != NULL && o->timeout > 0 ? o->timeout : HOSTKEYS_DEFAULT_TIMEOUT;
    int rc = 0;

    *out = NULL;
    if (host[0] == '\0' || host[0] == '-' || strpbrk(host, " \t\n\r") != NULL)
        return m3_diag_set(d, M3_EINVAL, "'%s' is not a host name", host);
    if ((rc = m3_sshlib_load(d)) != 0)
        return rc;
    if ((s = ssh_new()) == NULL)
        return M3_ENOMEM;
    if (ssh_options_set(s, SSH_OPTIONS_LOG_VERBOSITY, &verbosity) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_HOST, host) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: %s", host, ssh_get_error(s));
        goto out;
    }
    if (o != NULL && o->config != NULL && ssh_options_parse_config(s, o->config) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: cannot use it: %s", o->config, ssh_get_error(s));
        goto out;
    }
    if (o != NULL && o->port != 0) {
        unsigned port = o->port;

        if (ssh_options_set(s, SSH_OPTIONS_PORT, &port) != 0) {
            rc = m3_diag_set(d, M3_EINVAL, "%s: %s", host, ssh_get_error(s));
            goto out;
        }
    }
    /* After the config, so a HostKeyAlgorithms line there cannot bring in a type age cannot
     * encrypt to. */
    if (ssh_options_set(s, SSH_OPTIONS_HOSTKEYS, HOSTSCAN_ALGOS) != 0 ||
        ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout) != 0) {
        rc = m3_diag_set(d, M3_EINVAL, "%s: %s", host, ssh_get_error(s));
        goto out;
    }
    *out = s;
    s = NULL;
out:
    if (s != NULL)
        ssh_free(s);
    return rc;
}

static int
session_target(ssh_session s, const char *host, char **hostname, unsigned *port, struct m3_diag *d)
{
    char *h = NULL;

    if (ssh_options_get(s, SSH_OPTIONS_HOST, &h) != SSH_OK || h == NULL)
        return m3_diag_set(d, M3_EINVAL, "%s: no host name to connect to", host);
    *hostname = strdup(h);
    ssh_string_free_char(h);
    if (*hostname == NULL)
        return M3_ENOMEM;
    if (ssh_options_get_port(s, port) != SSH_OK)
        *port = 22;
    return 0;
}

int
hostkeys_resolve(const char *host, const struct hostkeys_scan_opts *o, char **hostname,
                 unsigned *port, struct m3_diag *d)
{
    ssh_session s = NULL;
    int rc;

    *hostname = NULL;
    if ((rc = session_new(host, o, &s, d)) != 0)
        return rc;
    rc = session_target(s, host, hostname, port, d);
    ssh_free(s);
    return rc;
}

int
hostkeys_scan(const char *host, const struct hostkeys_scan_opts *o, struct hostkey *out,
              struct m3_diag *d)
{
    ssh_session s = NULL;
    ssh_key key = NULL;
    char *b64 = NULL, *line = NULL, *target = NULL;
    unsigned port = 22;
    const char *type;
    int rc;

    if ((rc = session_new(host, o, &s, d)) != 0)
        return rc;
    if ((rc = session_target(s, host, &target, &port, d)) != 0)
        goto out;
    if (ssh_connect(s) != SSH_OK) {
        rc = m3_diag_set(d, M3_EIO, "%s (%s port %u): cannot read the host key: %s", host, target,
                         port, ssh_get_error(s));
        goto out;
    }
    if (ssh_get_server_publickey(s, &key) != SSH_OK ||
        ssh_pki_export_pubkey_base64(key, &b64) != SSH_OK) {
        rc = m3_diag_set(d, M3_EIO, "%s (%s port %u): no host key after the key exchange: %s", host,
                         target, port, ssh_get_error(s));
        goto out;
    }
    type = ssh_key_type_to_char(ssh_key_type(key));
    if (type == NULL || asprintf(&line, "%s %s", type, b64) < 0) {
        line = NULL;
        rc = type == NULL ? m3_diag_set(d, M3_EUNSUPPORTED, "%s: unknown host key type", host)
                          : M3_ENOMEM;
        goto out;
    }
    if ((rc = hostkey_parse(line, out, d)) != 0) {
        struct m3_diag inner = d != NULL ? *d : (struct m3_diag){0};

        m3_diag_set(d, rc, "%s (%s port %u): host key: %s", host, target, port, inner.msg);
    }
out:
    free(line);
    free(target);
    if (b64 != NULL)
        ssh_string_free_char(b64);
    if (key != NULL)
        ssh_key_free(key);
    if (s != NULL) {
        if (ssh_is_connected(s))
            ssh_disconnect(s);
        ssh_free(s);
    }
    return rc;
}
