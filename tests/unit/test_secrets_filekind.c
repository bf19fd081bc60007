/* test_secrets_filekind.c: what a file of the secrets folder that is not age is (the kinds
 * audit notes as M3A022/M3A023 and the leaks it keeps as M3A014), table-driven. */
#include <criterion/criterion.h>
#include <string.h>

#include "secrets/filekind.h"

#define ARES "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKU6Poov6Qww7DsGxVqYG0abqj8kr3lNkNwZBO/7I8xp"
#define AGE1 "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"

struct kcase {
    const char *name;
    const char *bytes;
    size_t len; /* 0: strlen(bytes) */
    enum secrets_file_kind want;
};

static const struct kcase cases[] = {
    /* public keys: .pub, authorized_keys options, known_hosts patterns, age recipients */
    {"m3-ares.pub", ARES " root@m3-ares\n", 0, SECRETS_FILE_SSH_PUB},
    {"authorized_keys", "# m3tam3re\nno-pty,command=\"/bin/true\" " ARES " m3tam3re\n\n", 0,
     SECRETS_FILE_SSH_PUB},
    {"known_hosts", "m3-ares,10.0.0.1 " ARES "\n@cert-authority *.m3 " ARES "\n", 0,
     SECRETS_FILE_SSH_PUB},
    {"recipients.txt", "# created: 2026-12-06\n" AGE1 "\n", 0, SECRETS_FILE_AGE_PUB},
    {"keys.txt", AGE1 "\n" ARES "\n", 0, SECRETS_FILE_SSH_PUB},
    /* files other tools encrypted */
    {"backup.gpg", "\x8c\x0d\x04\x09\x03\x02", 6, SECRETS_FILE_PGP},
    {"backup.gpg", "\x85\x01\x0c\x03", 4, SECRETS_FILE_PGP},
    {"backup.asc", "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n", 0, SECRETS_FILE_PGP},
    {"m3tam3re.asc", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZ\n", 0, SECRETS_FILE_PGP_PUB},
    {"legacy.enc", "Salted__\x01\x02\x03\x04\x05\x06\x07\x08", 16, SECRETS_FILE_OPENSSL},
    {"legacy.b64", "U2FsdGVkX19hYmNkZWZnaA==\n", 0, SECRETS_FILE_OPENSSL},
    {"crypted", "\0GITCRYPT\0rest", 14, SECRETS_FILE_GITCRYPT},
    {"app.yaml", "db: ENC[AES256_GCM,data:Zm9v,iv:YQ==,tag:Yg==,type:str]\nsops:\n  version: 3\n",
     0, SECRETS_FILE_SOPS},
    {"app.json", "{\"db\": \"ENC[AES256_GCM,data:Zm9v]\", \"sops\": {\"version\": \"3\"}}", 0,
     SECRETS_FILE_SOPS},
    {"app.env", "DB=ENC[AES256_GCM,data:Zm9v]\nsops_version=3.8.1\n", 0, SECRETS_FILE_SOPS},
    /* repository files */
    {"rekey", "#!/bin/sh\nexec m3age rekey \"$@\"\n", 0, SECRETS_FILE_SCRIPT},
    {"deploy.sh", "set -e\nPASSWORD=$(pass show db)\n", 0, SECRETS_FILE_SCRIPT},
    {"justfile", "rekey:\n    m3age rekey\n", 0, SECRETS_FILE_REPO},
    {"Makefile", "all:\n\tm3age audit\n", 0, SECRETS_FILE_REPO},
    {".env.example", "DB_PASSWORD=change-me-please\n", 0, SECRETS_FILE_REPO},
    {"README.md", "# Secrets\n", 0, SECRETS_FILE_REPO},
    {"wifi.template", "psk=@PSK@\n", 0, SECRETS_FILE_REPO},
    /* leaks: a secret in clear wins over every name */
    {"id_ed25519", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n", 0,
     SECRETS_FILE_SECRET},
    {"README.md", "Key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n", 0, SECRETS_FILE_SECRET},
    {"m3-ares.pub", "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ\n", 0,
     SECRETS_FILE_SECRET},
    {"deploy.sh", "#!/bin/sh\nexport API_TOKEN=\"s3cr3t-t0ken-value\"\n", 0, SECRETS_FILE_SECRET},
    {"ci.env", "GITHUB=ghp_abcdefghijklmnopqrstuvwxyz0123456789\n", 0, SECRETS_FILE_SECRET},
    {"aws", "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", 0, SECRETS_FILE_SECRET},
    /* unknown: may be plaintext */
    {"wifi-password.txt", "hunter2\n", 0, SECRETS_FILE_UNKNOWN},
    {".env", "DB=postgres://u:p@h/d\n", 0, SECRETS_FILE_UNKNOWN},
    {"m3-ares.pub", "ssh-ed25519 not-base64\n", 0, SECRETS_FILE_UNKNOWN},
    {"m3-ares.pub", ARES "\nhunter2\n", 0, SECRETS_FILE_UNKNOWN},
    {"blob", "\x01\x02\x03\x00\xff", 5, SECRETS_FILE_UNKNOWN},
    {"empty", "", 0, SECRETS_FILE_UNKNOWN},
    {"app.yaml", "db: ENC[AES256_GCM,data:Zm9v]\n", 0, SECRETS_FILE_UNKNOWN}, /* no metadata */
};

Test(filekind, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct kcase *c = &cases[i];
        size_t len = c->len ? c->len : strlen(c->bytes);
        enum secrets_file_kind k = secrets_file_kind(c->name, (const unsigned char *)c->bytes, len);
        cr_expect_eq(k, c->want, "case %zu (%s): kind %d, expected %d", i, c->name, (int)k,
                     (int)c->want);
    }
}

Test(filekind, encrypted_and_descriptions)
{
    cr_assert(secrets_file_kind_encrypted(SECRETS_FILE_PGP));
    cr_assert(secrets_file_kind_encrypted(SECRETS_FILE_SOPS));
    cr_assert(!secrets_file_kind_encrypted(SECRETS_FILE_SSH_PUB));
    cr_assert(!secrets_file_kind_encrypted(SECRETS_FILE_SECRET));
    for (int k = SECRETS_FILE_SECRET; k <= SECRETS_FILE_REPO; k++)
        cr_assert(strlen(secrets_file_kind_desc((enum secrets_file_kind)k)) > 0);
}
