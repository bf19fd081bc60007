/* edit.c: `m3age edit FILE`: edit a secret of the repository. */
#include "cmd/cmd.h"
#include "cmd/repo.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
edit_usage(FILE *f)
{
    fprintf(f, "Usage: m3age edit [--rules FILE] [-i IDENTITY]... [--editor CMD] [--unsafe-tmp] "
               "FILE\n\n"
               "Decrypt FILE (a secret named in secrets.nix) to a private folder on tmpfs, run\n"
               "the editor on it, and encrypt the result to exactly the registry's recipients.\n"
               "Unchanged content leaves FILE as it was; a missing FILE is created. When\n"
               "standard input is not a terminal (and no --editor is given), the new content\n"
               "is read from it.\n\n"
               "  --rules FILE          the registry (default: RULES, ./secrets.nix, or the\n"
               "                        nearest secrets.nix above)\n"
               "  --nix, --no-nix       evaluate the registry with nix-instantiate, or never\n"
               "                        (default: only when m3age cannot evaluate it itself)\n"
               "  -i, --identity FILE   identity to decrypt with (repeatable; default:\n"
               "                        ~/.ssh/id_ed25519 and ~/.ssh/id_rsa)\n"
               "  --editor CMD          editor command (default: $VISUAL, $EDITOR, vi)\n"
               "  --unsafe-tmp          allow a temp folder that is not on tmpfs\n\n"
               "Exit status: 0 saved or unchanged, 1 the editor failed or the file could not be\n"
               "decrypted, 2 usage or operational error.\n");
}

int
cmd_edit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'R'},
        {"identity", required_argument, NULL, 'i'},
        {"editor", required_argument, NULL, 'E'},
        {"unsafe-tmp", no_argument, NULL, 'U'},
        {"nix", no_argument, &m3_nix_mode, M3_NIX_ALWAYS},
        {"no-nix", no_argument, &m3_nix_mode, M3_NIX_NEVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct m3_list idfiles = {0};
    struct keys_identities ids = {0};
    struct secrets_repo *repo = NULL;
    struct secrets_target t = {0};
    struct secrets_edit_opts o = {.input_fd = -1};
    enum secrets_edit_result res;
    struct m3_diag d;
    const char *rules = NULL, *editor = NULL;
    char **eargv = NULL, *estore = NULL;
    int c, rc = M3_EXIT_USAGE, r;
    size_t loaded = 0;

    optind = 1;
    while ((c = getopt_long(argc, argv, "+i:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'R':
            rules = optarg;
            break;
        case 'i':
            m3_list_push(&idfiles, optarg);
            break;
        case 'E':
            editor = optarg;
            break;
        case 'U':
            o.unsafe_tmp = true;
            break;
        case 'h':
            edit_usage(stdout);
            rc = 0;
            goto out;
        case 0: /* --nix, --no-nix: m3_nix_mode set */
            break;
        default:
            edit_usage(stderr);
            goto out;
        }
    }
    if (argc - optind != 1) {
        m3_error(argc == optind ? "no FILE given" : "one FILE at a time");
        edit_usage(stderr);
        goto out;
    }
    if ((repo = m3_repo_open(rules)) == NULL)
        goto out;
    m3_diag_clear(&d);
    if ((r = secrets_repo_find(repo, argv[optind], &t, &d)) != 0) {
        m3_error("%s", d.msg);
        goto out;
    }
    if (t.via_dir)
        m3_info("using the rule '%s' of %s", t.entry->name, repo->rules);
    if (m3_repo_identities(&idfiles, &ids, &loaded) != 0)
        goto out;
    {
        struct stat st;
        if (loaded == 0 && stat(t.path, &st) == 0) {
            m3_error("%s: no identity to decrypt it with", t.path);
            m3_hint("use -i IDENTITY, or add an ssh key at ~/.ssh/id_ed25519 or ~/.ssh/id_rsa");
            rc = M3_EXIT_NEGATIVE;
            goto out;
        }
    }
    if (editor == NULL && !isatty(0)) {
        o.input_fd = 0;
    } else {
        if (editor == NULL)
            editor = getenv("VISUAL");
        if (editor == NULL || *editor == '\0')
            editor = getenv("EDITOR");
        if (editor == NULL || *editor == '\0')
            editor = "vi";
        if (strcmp(editor, ":") == 0)
            o.no_edit = true;
        else if ((eargv = m3_editor_split(editor, &estore)) == NULL || eargv[0] == NULL) {
            m3_error("the editor command is empty");
            goto out;
        }
        o.editor = eargv;
    }
    o.tmp_base = getenv("XDG_RUNTIME_DIR");
    m3_diag_clear(&d);
    if ((r = secrets_repo_lock(repo, &d)) != 0) {
        m3_error("%s", d.msg);
        if (r == M3_ESTATE)
            m3_hint("wait for it to finish, then run this again");
        goto out;
    }
    {
        size_t stale = secrets_edit_clean_stale(o.tmp_base);
        if (stale > 0)
            m3_info("removed %zu private edit folder%s left by a killed m3age run", stale,
                    stale == 1 ? "" : "s");
    }
    m3_diag_clear(&d);
    r = secrets_edit(repo, &t, &ids, &o, &res, &d);
    if (r != 0) {
        m3_error_diag(t.path, r, &d);
        if (r == M3_ECANCELED)
            m3_info("%s was left as it was", t.path);
        else if (r == M3_ESTATE)
            m3_hint("compare the kept file with the current one (m3age diff), then move it "
                    "into place and run m3age rekey");
        rc = (r == M3_EINVAL || r == M3_EIO) ? M3_EXIT_USAGE : M3_EXIT_NEGATIVE;
        goto out;
    }
    if (res == SECRETS_EDIT_UNCHANGED)
        fprintf(stderr, "%s wasn't changed, skipping re-encryption.\n", t.path);
    else if (res == SECRETS_EDIT_NOT_CREATED)
        fprintf(stderr, "%s wasn't created.\n", t.path);
    else if (res == SECRETS_EDIT_WRITTEN_REGISTRY_CHANGED)
        m3_info("%s changed the recipients of %s during the edit: encrypted to its current "
                "recipients",
                repo->rules, t.path);
    rc = 0;
out:
    free(eargv);
    free(estore);
    secrets_target_clear(&t);
    keys_identities_clear(&ids);
    secrets_repo_free(repo);
    m3_list_free(&idfiles);
    return rc;
}
