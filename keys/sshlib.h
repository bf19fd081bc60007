/* sshlib.h: libssh, loaded the first time it is needed.
 *
 * Only two things need libssh: opening passphrase-protected ed25519 keys (keys/openssh.c)
 * and reading a host key from a running sshd (secrets/hostscan.c). Linking it normally
 * would make every m3age process load it and the eight libraries it depends on (Kerberos
 * among them) and run its constructor, which initialises its crypto: about 5 ms of start-up
 * on every command, measured on the development machine, for work most commands never do.
 * So libssh is opened with dlopen on first use, and the few functions used are called
 * through pointers. A file that includes this header after <libssh/libssh.h> calls them by
 * their usual names (the macros below), after m3_sshlib_load() succeeded. */
#ifndef M3_KEYS_SSHLIB_H
#define M3_KEYS_SSHLIB_H

#include <libssh/libssh.h>

#include "libage/error.h"

/* The libssh functions m3age uses, with their own prototypes. */
#define M3_SSHLIB_FUNCS(X)                                                                         \
    X(ssh_connect)                                                                                 \
    X(ssh_disconnect)                                                                              \
    X(ssh_free)                                                                                    \
    X(ssh_get_error)                                                                               \
    X(ssh_get_server_publickey)                                                                    \
    X(ssh_is_connected)                                                                            \
    X(ssh_key_free)                                                                                \
    X(ssh_key_type)                                                                                \
    X(ssh_key_type_to_char)                                                                        \
    X(ssh_new)                                                                                     \
    X(ssh_options_get)                                                                             \
    X(ssh_options_get_port)                                                                        \
    X(ssh_options_parse_config)                                                                    \
    X(ssh_options_set)                                                                             \
    X(ssh_pki_export_privkey_base64)                                                               \
    X(ssh_pki_export_pubkey_base64)                                                                \
    X(ssh_pki_import_privkey_base64)                                                               \
    X(ssh_string_free_char)

#define M3_SSHLIB_FIELD(name) __typeof__(name) *name;
struct m3_sshlib {
    M3_SSHLIB_FUNCS(M3_SSHLIB_FIELD)
};
#undef M3_SSHLIB_FIELD

extern struct m3_sshlib m3_sshlib_fn;

/* m3_sshlib_load: opens libssh once per process (thread-safe); 0, or M3_EUNSUPPORTED with
 * a message naming the library and dlopen's reason. */
int m3_sshlib_load(struct m3_diag *d);

#ifndef M3_SSHLIB_IMPL
#define ssh_connect (m3_sshlib_fn.ssh_connect)
#define ssh_disconnect (m3_sshlib_fn.ssh_disconnect)
#define ssh_free (m3_sshlib_fn.ssh_free)
#define ssh_get_error (m3_sshlib_fn.ssh_get_error)
#define ssh_get_server_publickey (m3_sshlib_fn.ssh_get_server_publickey)
#define ssh_is_connected (m3_sshlib_fn.ssh_is_connected)
#define ssh_key_free (m3_sshlib_fn.ssh_key_free)
#define ssh_key_type (m3_sshlib_fn.ssh_key_type)
#define ssh_key_type_to_char (m3_sshlib_fn.ssh_key_type_to_char)
#define ssh_new (m3_sshlib_fn.ssh_new)
#define ssh_options_get (m3_sshlib_fn.ssh_options_get)
#define ssh_options_get_port (m3_sshlib_fn.ssh_options_get_port)
#define ssh_options_parse_config (m3_sshlib_fn.ssh_options_parse_config)
#define ssh_options_set (m3_sshlib_fn.ssh_options_set)
#define ssh_pki_export_privkey_base64 (m3_sshlib_fn.ssh_pki_export_privkey_base64)
#define ssh_pki_export_pubkey_base64 (m3_sshlib_fn.ssh_pki_export_pubkey_base64)
#define ssh_pki_import_privkey_base64 (m3_sshlib_fn.ssh_pki_import_privkey_base64)
#define ssh_string_free_char (m3_sshlib_fn.ssh_string_free_char)
#endif

#endif
