/* edit.c: `m3age edit FILE`: edit a secret of the repository. */
#include "cmd/cmd.h"
#include "cmd/opts.h"
#include "cmd/repo.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
edit_usage(FILE *f)
{
    fprintf(f, "Usage: m3age edit [--rules FILE] [-i IDENTITY]... [--editor CMD] [--unsafe-tmp]\n"
               "                  [--allow-empty] [--] FILE\n\n"
               "Decrypt FILE (a secret named in secrets.nix) to a private folder on tmpfs, run\n"
               "the editor on it, and encrypt the result to exactly the registry's recipients.\n"
               "Unchanged content leaves FILE as it was; a missing FILE (and its folder) is\n"
               "created. Before the editor starts, edit checks that the result can be written;\n"
               "if writing still fails, the edit is kept encrypted as NAME.kept-XXXXXX.age.\n"
               "When standard input is not a terminal (and no --editor is given), the new\n"
               "content is read from it; an empty input does not replace an existing secret\n"
               "unless --allow-empty is given.\n\n"
               "  --rules FILE          the registry (default: RULES, ./secrets.nix, or the\n"
               "                        nearest secrets.nix above)\n"
               "  --nix, --no-nix       evaluate the registry with nix-instantiate, or never\n"
               "                        (default: only when m3age cannot evaluate it itself)\n"
               "  -i, --identity FILE   identity to decrypt with (repeatable; default:\n"
               "                        ~/.ssh/id_ed25519 and ~/.ssh/id_rsa)\n"
               "  --editor CMD          editor command (default: $VISUAL, $EDITOR, vi); ':' keeps\n"
               "                        the content (agenix -e re-encrypts with EDITOR=:)\n"
               "  --unsafe-tmp          allow a temp folder that is not on tmpfs\n"
               "  --allow-empty         let an empty standard input blank an existing secret\n\n"
               "Exit status: 0 saved or unchanged, 1 the editor failed or the file could not be\n"
               "decrypted, 2 usage or operational error.\n");
}

/* resolve_from_registry: a name the registry has, given from another folder than the
 * registry's (`cd secrets; m3age edit secrets/wifi.age`, the name shell completion offers),
 * matches agenix's rule (relative to the working directory) but names no file there. Then the
 * file is the entry's, relative to the registry's folder, as tab completion and Nix mean it:
 * editing an empty "new" secret in a folder that does not exist would lose what was typed. */
static int
resolve_from_registry(const struct secrets_repo *repo, struct secrets_target *t)
{
    struct stat st;
    char *p;

    /* --rules and RULES keep agenix's rule (names from the working directory). */
    if (t->via_dir || repo->cwd_names || strcmp(repo->how, "parent") != 0 ||
        stat(t->path, &st) == 0 || t->entry->name[0] == '/')
        return 0;
    if ((p = secrets_repo_entry_path(repo, t->entry)) == NULL) {
        m3_error("out of memory");
        return -1;
    }
    free(t->path);
    t->path = p;
    t->via_dir = true;
    return 0;
}

int
cmd_edit(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"rules", required_argument, NULL, 'R'},
        {"identity", required_argument, NULL, 'i'},
        {"editor", required_argument, NULL, 'E'},
        {"unsafe-tmp", no_argument, NULL, 'U'},
        {"allow-empty", no_argument, NULL, 'A'},
        M3_OPTS_NIX_HELP,
        {NULL, 0, NULL, 0},
    };
    struct m3_list idfiles = {0};
    struct keys_identities ids = {0};
    struct secrets_repo *repo = NULL;
    struct secrets_target t = {0};
    struct secrets_edit_opts o = {.input_fd = -1};
    enum secrets_edit_result res = SECRETS_EDIT_UNCHANGED;
    struct m3_diag d;
    const char *rules = NULL, *editor = NULL;
    char **eargv = NULL, *estore = NULL;
    int c, rc = M3_EXIT_USAGE, r;
    size_t loaded = 0;

    optind = 1;
    while ((c = m3_getopt(argc, argv, "i:h", longopts, "edit")) != -1) {
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
        case 'A':
            o.allow_empty = true;
            break;
        default:
            if (m3_opt_end(c, edit_usage, &rc))
                goto out;
            break;
        }
    }
    if (argc - optind != 1) {
        if (argc == optind)
            m3_error("edit: no FILE given");
        else
            m3_error("edit: one FILE at a time, not '%s' and '%s'", argv[optind], argv[optind + 1]);
        m3_hint("run 'm3age edit --help' for its usage");
        goto out;
    }
    if ((repo = m3_repo_open(rules)) == NULL)
        goto out;
    m3_diag_clear(&d);
    if ((r = secrets_repo_find(repo, argv[optind], &t, &d)) != 0) {
        m3_diag_error(d.code, &d);
        if (r == M3_ENOTFOUND)
            m3_hint("add its rule first: 'm3age registry add %s KEYNAME...' (e.g. users "
                    "m3-atlas)",
                    argv[optind]);
        goto out;
    }
    if (resolve_from_registry(repo, &t) != 0)
        goto out;
    if (t.via_dir)
        m3_info("using the rule '%s' of %s", t.entry->name, repo->rules);
    if (m3_repo_identities(&idfiles, &ids, &loaded) != 0)
        goto out;
    {
        struct stat st;
        if (loaded == 0 && stat(t.path, &st) == 0) {
            m3_no_identity(t.path, true);
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
        m3_diag_error(d.code, &d);
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
        m3_passphrase_hint(d.msg);
        if (r == M3_ECANCELED)
            m3_info("%s was left as it was", t.path);
        else if (r == M3_ESTATE)
            m3_hint("compare the kept file with the current one (m3age diff), then move it "
                    "into place and run m3age rekey");
        else if (res == SECRETS_EDIT_EMPTY_INPUT)
            m3_hint("to blank the secret on purpose, run it again with --allow-empty");
        else if (res == SECRETS_EDIT_KEPT)
            m3_hint("fix the cause, then move the kept file to %s", t.path);
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
    else
        m3_info("%s: saved, encrypted to %zu recipient%s", t.path, t.entry->nkeys,
                t.entry->nkeys == 1 ? "" : "s");
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
