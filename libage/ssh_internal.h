/* ssh_internal.h: what the ssh-ed25519 and ssh-rsa files share (not public API). */
#ifndef M3_AGE_SSH_INTERNAL_H
#define M3_AGE_SSH_INTERNAL_H

#include "libage/ssh.h"

#define AGE_SSH_ED25519_LABEL "age-encryption.org/v1/ssh-ed25519"
#define AGE_SSH_RSA_LABEL "age-encryption.org/v1/ssh-rsa"

/* The first member of every ssh recipient's and identity's state: the wire-format public
 * key (malloc'd) and its tag string, so tags and wire keys are found without the type. */
struct age_ssh_common {
    unsigned char *wire;
    size_t wire_len;
    char tag[AGE_SSH_TAG_LEN + 1];
};

extern const struct age_recipient_ops age_ssh_ed25519_recipient_ops;
extern const struct age_recipient_ops age_ssh_rsa_recipient_ops;
extern const struct age_identity_ops age_ssh_ed25519_identity_ops;
extern const struct age_identity_ops age_ssh_rsa_identity_ops;

/* age_ssh_common_set: copies wire into c and computes the tag. 0 or M3_ENOMEM. */
int age_ssh_common_set(struct age_ssh_common *c, const unsigned char *wire, size_t len);
void age_ssh_common_clear(struct age_ssh_common *c);
/* age_ssh_encode_line: "TYPE BASE64" for a wire key, malloc'd (NULL on failure). */
char *age_ssh_encode_line(const unsigned char *wire, size_t len);

/* age_ssh_rsa_recipient_from_wire: the ssh-rsa half of age_ssh_recipient_from_wire. */
int age_ssh_rsa_recipient_from_wire(struct age_recipient **out, const unsigned char *wire,
                                    size_t len, struct m3_diag *d);

#endif
