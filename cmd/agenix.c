/* agenix.c: agenix mode, when m3age is called as `agenix`: agenix's flags, messages and exit
 * statuses (every error exits 1), on m3age's edit, decrypt and lazy all-or-nothing rekey. */
#include "cmd/cmd.h"
#include "cmd/crypt.h"
#include "cmd/io.h"
#include "cmd/repo.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
agenix_help(void)
{
    printf("agenix (m3age %s): edit, decrypt and rekey the secrets of secrets.nix\n\n"
           "  agenix -e FILE [-i PRIVATE_KEY]...\n"
           "  agenix -d FILE [-i PRIVATE_KEY]...\n"
           "  agenix -r [-i PRIVATE_KEY]...\n\n"
           "-h, --help                this help\n"
           "-e, --edit FILE           edit FILE with $EDITOR and encrypt it again\n"
           "-r, --rekey               encrypt every secret again to its recipients\n"
           "-d, --decrypt FILE        write the plaintext of FILE to standard output\n"
           "-i, --identity            a private key to decrypt with (repeatable)\n"
           "-v, --verbose             accepted for compatibility\n\n"
           "FILE is a secret named in the rules; PRIVATE_KEY an ssh or age private key\n"
           "(default: ~/.ssh/id_rsa and ~/.ssh/id_ed25519).\n\n"
           "EDITOR: the editor, split on spaces; ':' re-encrypts without editing. When\n"
           "standard input is not a terminal, the new content is read from it.\n"
           "RULES: the rules file (default: ./secrets.nix).\n\n"
           "Rekeying is lazy and all or nothing (see 'm3age rekey --help').\n",
           M3AGE_VERSION);
}

static void
no_identity(const char *file)
{
    const char *home = getenv("HOME");
    fprintf(stderr,
            "No identity found to decrypt %s. Try adding an SSH key at %s/.ssh/id_rsa or "
            "%s/.ssh/id_ed25519 or using the --identity flag to specify a file.\n",
            file, home ? home : "~", home ? home : "~");
}

static struct secrets_repo *
open_rules(void)
{
    const char *rules = getenv("RULES");
    struct secrets_repo *r = NULL;
    struct m3_diag d;

    if (rules == NULL || *rules == '\0')
        rules = "./secrets.nix";
    m3_diag_clear(&d);
    if (secrets_repo_open(&r, rules, NULL, &d) != 0) {
        struct stat st;
        fprintf(stderr, "agenix: error: %s\n", d.msg[0] ? d.msg : "cannot read the rules");
        /* agenix reads ./secrets.nix only; m3age mode would have found one above. */
        if (stat(rules, &st) != 0 && stat("../secrets.nix", &st) == 0)
            fprintf(stderr, "agenix: hint: RULES=../secrets.nix agenix ... (or run it from the "
                            "folder of secrets.nix)\n");
        return NULL;
    }
    r->cwd_names = true;
    return r;
}

static int
find(struct secrets_repo *r, const char *file, struct secrets_target *t)
{
    struct m3_diag d;

    m3_diag_clear(&d);
    if (secrets_repo_find(r, file, t, &d) != 0) {
        /* agenix's message names RULES as the user set it. */
        const char *rules = getenv("RULES");
        fprintf(stderr, "There is no rule for %s in %s.\n", file,
                rules && *rules ? rules : "./secrets.nix");
        return -1;
    }
    return 0;
}

static int
do_decrypt(const char *file, struct m3_list *idfiles)
{
    struct secrets_repo *r = open_rules();
    struct secrets_target t = {0};
    struct m3_decrypt_args a;
    int rc = 1;

    if (r == NULL || find(r, file, &t) != 0)
        goto out;
    memset(&a, 0, sizeof(a));
    a.identity_files = *idfiles;
    if (a.identity_files.n == 0)
        m3_default_identity_paths(&a.identity_files);
    if (a.identity_files.n == 0) {
        no_identity(file);
        goto out;
    }
    a.input = t.path;
    rc = m3_run_decrypt(&a) == 0 ? 0 : 1;
    if (idfiles->n == 0)
        m3_list_free(&a.identity_files);
out:
    secrets_target_clear(&t);
    secrets_repo_free(r);
    return rc;
}

static int
do_edit(const char *file, struct m3_list *idfiles)
{
    struct secrets_repo *r = open_rules();
    struct secrets_target t = {0};
    struct keys_identities ids = {0};
    struct secrets_edit_opts o = {.input_fd = -1};
    enum secrets_edit_result res;
    struct m3_diag d;
    struct stat st;
    const char *editor = getenv("EDITOR");
    char **eargv = NULL, *estore = NULL;
    size_t loaded = 0;
    int rc = 1;

    if (r == NULL || find(r, file, &t) != 0)
        goto out;
    if (m3_repo_identities(idfiles, &ids, &loaded) != 0)
        goto out;
    if (loaded == 0 && stat(t.path, &st) == 0) {
        no_identity(file);
        goto out;
    }
    if (editor == NULL || *editor == '\0')
        editor = "vi";
    if (strcmp(editor, ":") == 0) {
        /* EDITOR=: is agenix's rekey of one file: re-encrypt without editing. */
        o.no_edit = true;
        o.force = true;
    } else if (!isatty(0)) {
        /* agenix's wrapper copies stdin as it is, even when it is empty. */
        o.input_fd = 0;
        o.allow_empty = true;
    } else if ((eargv = m3_editor_split(editor, &estore)) == NULL || eargv[0] == NULL) {
        fprintf(stderr, "agenix: error: EDITOR is empty\n");
        goto out;
    }
    o.editor = eargv;
    o.tmp_base = getenv("XDG_RUNTIME_DIR");
    m3_diag_clear(&d);
    if (secrets_repo_lock(r, &d) != 0) {
        fprintf(stderr, "agenix: error: %s\n", d.msg);
        goto out;
    }
    secrets_edit_clean_stale(o.tmp_base);
    m3_diag_clear(&d);
    if (secrets_edit(r, &t, &ids, &o, &res, &d) != 0) {
        fprintf(stderr, "agenix: error: %s: %s\n", t.path, d.msg[0] ? d.msg : "failed");
        goto out;
    }
    if (res == SECRETS_EDIT_UNCHANGED)
        fprintf(stderr, "%s wasn't changed, skipping re-encryption.\n", file);
    else if (res == SECRETS_EDIT_NOT_CREATED)
        fprintf(stderr, "%s wasn't created.\n", file);
    rc = 0;
out:
    free(eargv);
    free(estore);
    keys_identities_clear(&ids);
    secrets_target_clear(&t);
    secrets_repo_free(r);
    return rc;
}

static int
do_rekey(struct m3_list *idfiles)
{
    struct secrets_repo *r = open_rules();
    struct keys_identities ids = {0};
    struct secrets_rekey_opts o = {.jobs = m3_threads()};
    struct secrets_rekey *k = NULL;
    struct m3_diag d;
    size_t loaded = 0;
    int rc = 1, x;

    if (r == NULL || m3_repo_identities(idfiles, &ids, &loaded) != 0)
        goto out;
    m3_diag_clear(&d);
    x = secrets_rekey_run(r, NULL, 0, &ids, &o, &k, &d);
    if (x != 0 && x != M3_EPAYLOAD) {
        fprintf(stderr, "agenix: error: %s\n", d.msg[0] ? d.msg : m3_strerror(x));
        goto out;
    }
    for (size_t i = 0; i < k->n; i++) {
        const struct secrets_rekey_item *it = &k->items[i];
        /* agenix's line, on its stream, for the files this lazy, all-or-nothing run
         * rewrote (agenix prints it for every file as it goes). */
        if (it->state == SECRETS_ITEM_REKEYED)
            printf("rekeying %s...\n", it->path);
        else if (it->state == SECRETS_ITEM_MISSING)
            fprintf(stderr, "%s wasn't created.\n", it->path);
        else if (it->state == SECRETS_ITEM_FAILED && loaded == 0)
            no_identity(it->path);
        else if (it->state == SECRETS_ITEM_FAILED)
            fprintf(stderr, "agenix: error: %s: %s\n", it->path, it->msg);
    }
    if (k->held > 0)
        fprintf(stderr, "agenix: nothing was rekeyed: %zu file(s) could not be decrypted\n",
                k->failed);
    rc = k->failed > 0 ? 1 : 0;
out:
    secrets_rekey_free(k);
    keys_identities_clear(&ids);
    secrets_repo_free(r);
    return rc;
}

int
cmd_agenix(int argc, char **argv)
{
    struct m3_list idfiles = {0};
    const char *file = NULL;
    bool rekey = false, decrypt = false;
    int rc = 1;

    m3_progname = "agenix";
    if (argc < 2) {
        agenix_help();
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            agenix_help();
            rc = 0;
            goto out;
        } else if (strcmp(a, "-e") == 0 || strcmp(a, "--edit") == 0 || strcmp(a, "-d") == 0 ||
                   strcmp(a, "--decrypt") == 0) {
            if (a[1] == 'd' || a[2] == 'd')
                decrypt = true;
            if (i + 1 >= argc) {
                printf("no FILE specified\n");
                goto out;
            }
            file = argv[++i];
        } else if (strcmp(a, "-i") == 0 || strcmp(a, "--identity") == 0) {
            if (i + 1 >= argc) {
                printf("no PRIVATE_KEY specified\n");
                goto out;
            }
            m3_list_push(&idfiles, argv[++i]);
        } else if (strcmp(a, "-r") == 0 || strcmp(a, "--rekey") == 0) {
            rekey = true;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
            continue;
        } else {
            /* agenix shows its help and exits 1; one line first says why. */
            fprintf(stderr, "agenix: error: unknown option '%s'\n", a);
            agenix_help();
            goto out;
        }
    }
    if (rekey)
        rc = do_rekey(&idfiles);
    else if (decrypt)
        rc = do_decrypt(file, &idfiles);
    else if (file != NULL)
        rc = do_edit(file, &idfiles);
    else {
        agenix_help();
        rc = 1;
    }
out:
    m3_list_free(&idfiles);
    return rc;
}
