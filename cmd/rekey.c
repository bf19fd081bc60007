/* rekey.c: `m3age rekey`: re-encrypt secrets to the registry's recipients. */
#include "cmd/cmd.h"
#include "cmd/io.h"
#include "cmd/repo.h"
#include "cmd/report.h"

#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
rekey_usage(FILE *f)
{
    fprintf(f,
            "Usage: m3age rekey [--rules FILE] [-i IDENTITY]... [--host HOST]... [--force]\n"
            "                   [--dry-run [--json]] [--jobs N] [--partial] [--allow-lockout]\n"
            "                   [--] [FILE...]\n\n"
            "Re-encrypt secrets to the recipients secrets.nix gives them: the FILEs named,\n"
            "those HOST's key may read, or all. Only files whose header differs from the\n"
            "registry are rewritten (no decryption is needed to compare). Every chosen file is\n"
            "decrypted before any is written: if one fails, nothing is written. A file with a\n"
            "stanza no key can be told from (a plugin's) is kept, and not rewritten unless\n"
            "--force; X25519 recipients are compared by count. Plugin keys (age1NAME1...,\n"
            "AGE-PLUGIN-NAME-1...) go through age-plugin-NAME, started once per run.\n\n"
            "  --rules FILE          the registry (default: RULES, ./secrets.nix, or above)\n"
            "  --nix, --no-nix       evaluate the registry with nix-instantiate, or never\n"
            "                        (default: only when m3age cannot evaluate it itself)\n"
            "  -i, --identity FILE   identity to decrypt with (repeatable; default:\n"
            "                        ~/.ssh/id_ed25519 and ~/.ssh/id_rsa)\n"
            "  --host HOST           the secrets HOST's key may read (repeatable)\n"
            "  --force               rewrite every chosen file, even if up to date, and\n"
            "                        drop stanzas no registry key can be told from\n"
            "  -n, --dry-run         print the plan (recipients added and removed) only; needs\n"
            "                        no identity\n"
            "  --json                with --dry-run: the plan as JSON (as m3age diff --json)\n"
            "  -j, --jobs N          worker threads (default: the number of cores)\n"
            "  --partial             write the files that could be decrypted even if some\n"
            "                        could not\n"
            "  --allow-lockout       write files none of your identities can open\n\n"
            "Exit status: 0 done (--dry-run: nothing to rekey), 1 a file could not be rekeyed\n"
            "(--dry-run: the plan has changes), 2 usage or operational error (no identity).\n");
}

static void
progress(void *ctx, const char *phase, size_t done, size_t total)
{
    (void)ctx;
    fprintf(stderr, "\r%s %zu/%zu", phase, done, total);
    if (done == total)
        fprintf(stderr, "\r\033[K");
}

/* Identities are loaded only when some file needs rewriting (secrets_rekey_opts.load_ids). */
struct id_loader {
    const struct m3_list *files;
    struct secrets_rekey_opts *opts;
    bool reported; /* the error was printed here */
    bool none;     /* a dry run with no identity: the plan, without the lockout guard */
};

static int
load_ids(void *ctx, struct keys_identities *ids, struct m3_diag *d)
{
    struct id_loader *l = ctx;
    size_t loaded = 0;

    (void)d;
    if (m3_repo_identities(l->files, ids, &loaded) != 0) {
        l->reported = true;
        return M3_EIO;
    }
    if (loaded == 0 && !l->opts->dry_run) {
        m3_no_identity(NULL, true);
        l->reported = true;
        return M3_ENOMATCH;
    }
    /* A plan needs no key. The lockout guard asks whether this run's identities could open
     * the new files: with none, every file would "lock out", hiding the plan behind advice
     * to use --allow-lockout. The real run stops at "no identity" before that. */
    if (loaded == 0) {
        l->opts->allow_lockout = true;
        l->none = true;
    }
    return 0;
}

/* plan_json: the dry run's plan as the --json document of m3age-audit(1), as diff --json. */
static void
plan_json(const struct secrets_rekey *k, const char *registry)
{
    struct m3_plan_json j;

    m3_plan_json_begin(&j, stdout, registry);
    for (size_t i = 0; i < k->n; i++) {
        const struct secrets_rekey_item *it = &k->items[i];
        const char *state = it->state == SECRETS_ITEM_MISSING      ? "missing"
                            : it->state == SECRETS_ITEM_UP_TO_DATE ? "same"
                            : it->state == SECRETS_ITEM_FAILED     ? "failed"
                                                                   : "change";

        m3_plan_json_item(&j, it->path, state, (const char *const *)it->added, it->nadded,
                          (const char *const *)it->removed, it->nremoved,
                          (const char *const *)it->kept, it->nkept,
                          it->state == SECRETS_ITEM_FAILED ? it->msg : NULL);
    }
    m3_plan_json_end(&j, k->planned);
}

/* rel: path relative to the working directory when inside it (a registry found above gives
 * absolute paths). The plan names secrets by their registry names, as diff does. */
static const char *
rel(const char *path)
{
    static char cwd[PATH_MAX];
    size_t n;

    if (cwd[0] == '\0' && getcwd(cwd, sizeof(cwd)) == NULL)
        return path;
    n = strlen(cwd);
    if (n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/')
        return path + n + 1;
    return path;
}

static void
print_plan(const struct secrets_rekey *k)
{
    for (size_t i = 0; i < k->n; i++) {
        const struct secrets_rekey_item *it = &k->items[i];
        switch (it->state) {
        case SECRETS_ITEM_MISSING:
            printf("%s: missing, nothing to rekey\n",
                   m3_shown(it->entry ? it->entry->name : rel(it->path)));
            continue;
        case SECRETS_ITEM_UP_TO_DATE:
            printf("%s: up to date", m3_shown(it->entry ? it->entry->name : rel(it->path)));
            for (size_t j = 0; j < it->nkept; j++)
                printf("%s?%s not attributable to any key (kept; --force drops it)",
                       j == 0 ? ": " : ", ", m3_shown(it->kept[j]));
            printf("\n");
            continue;
        case SECRETS_ITEM_FAILED:
            printf("%s: cannot rekey: %s\n", m3_shown(it->entry ? it->entry->name : rel(it->path)),
                   m3_shown(it->msg));
            continue;
        default:
            break;
        }
        printf("%s: rekey", m3_shown(it->entry ? it->entry->name : rel(it->path)));
        for (size_t j = 0; j < it->nadded; j++)
            printf("%s+%s", j == 0 ? ": " : ", ", m3_shown(it->added[j]));
        for (size_t j = 0; j < it->nremoved; j++)
            printf("%s-%s", (j == 0 && it->nadded == 0) ? ": " : ", ", m3_shown(it->removed[j]));
        if (it->nadded == 0 && it->nremoved == 0)
            printf(" (forced or armor changes)");
        printf("\n");
    }
}

/* print_failures: one line per failed file, but one line for a cause many files share (a
 * read-only folder fails every file in it the same way). */
static void
print_failures(const struct secrets_rekey *k)
{
    for (size_t i = 0; i < k->n; i++) {
        const struct secrets_rekey_item *it = &k->items[i];
        size_t same = 0;
        bool seen = false;

        if (it->state != SECRETS_ITEM_FAILED)
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen =
                k->items[j].state == SECRETS_ITEM_FAILED && strcmp(k->items[j].msg, it->msg) == 0;
        if (seen)
            continue;
        for (size_t j = i + 1; j < k->n; j++)
            same +=
                k->items[j].state == SECRETS_ITEM_FAILED && strcmp(k->items[j].msg, it->msg) == 0;
        if (same > 0)
            m3_error("%s and %zu other file%s: %s", rel(it->path), same, same == 1 ? "" : "s",
                     it->msg);
        else
            m3_error("%s: %s", rel(it->path), it->msg);
    }
}

int
cmd_rekey(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'J'},
        {"rules", required_argument, NULL, 'R'},
        {"identity", required_argument, NULL, 'i'},
        {"host", required_argument, NULL, 'H'},
        {"force", no_argument, NULL, 'f'},
        {"dry-run", no_argument, NULL, 'n'},
        {"jobs", required_argument, NULL, 'j'},
        {"partial", no_argument, NULL, 'P'},
        {"allow-lockout", no_argument, NULL, 'L'},
        {"nix", no_argument, &m3_nix_mode, M3_NIX_ALWAYS},
        {"no-nix", no_argument, &m3_nix_mode, M3_NIX_NEVER},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct secrets_rekey_opts o = {.jobs = 0};
    struct m3_list idfiles = {0}, hosts = {0};
    struct keys_identities ids = {0};
    struct secrets_repo *repo = NULL;
    struct secrets_rekey *k = NULL;
    const struct reg_entry **es = NULL;
    struct id_loader loader = {0};
    size_t nes = 0;
    struct m3_diag d;
    const char *rules = NULL;
    bool json = false;
    int c, rc = M3_EXIT_USAGE, r;

    optind = 1;
    while ((c = m3_getopt(argc, argv, "i:nj:fh", longopts, "rekey")) != -1) {
        switch (c) {
        case 'R':
            rules = optarg;
            break;
        case 'i':
            m3_list_push(&idfiles, optarg);
            break;
        case 'H':
            m3_list_push(&hosts, optarg);
            break;
        case 'f':
            o.force = true;
            break;
        case 'n':
            o.dry_run = true;
            break;
        case 'P':
            o.partial = true;
            break;
        case 'J':
            json = true;
            break;
        case 'L':
            o.allow_lockout = true;
            break;
        case 'j': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end != '\0' || v < 1 || v > 64) {
                m3_error("--jobs: expected a number from 1 to 64, got '%s'", optarg);
                goto out;
            }
            o.jobs = (unsigned)v;
            break;
        }
        case 0: /* --nix, --no-nix: m3_nix_mode set */
            break;
        case 'h':
            rekey_usage(stdout);
            rc = 0;
            goto out;
        default:
            goto out;
        }
    }
    if (json && !o.dry_run) {
        m3_error("rekey: --json is for the plan of --dry-run");
        goto out;
    }
    if (o.jobs == 0)
        o.jobs = m3_threads();
    if ((repo = m3_repo_open(rules)) == NULL)
        goto out;
    for (int i = optind; i < argc; i++) {
        struct secrets_target t;
        m3_diag_clear(&d);
        if (secrets_repo_find(repo, argv[i], &t, &d) != 0) {
            m3_diag_error(d.code, &d);
            goto out;
        }
        const struct reg_entry **nv = realloc(es, (nes + 1) * sizeof(*es));
        if (nv == NULL) {
            secrets_target_clear(&t);
            goto out;
        }
        es = nv;
        es[nes++] = t.entry;
        secrets_target_clear(&t);
    }
    for (size_t i = 0; i < hosts.n; i++) {
        char *key = NULL;
        size_t before = nes;
        m3_diag_clear(&d);
        if (secrets_host_key(repo, hosts.v[i], &key, &d) != 0) {
            m3_diag_error(d.code, &d);
            goto out;
        }
        r = secrets_entries_for_key(repo, key, &es, &nes);
        free(key);
        if (r != 0)
            goto out;
        /* a host's post-quantum identity (m3age hosts sync --pq), bound to HOST-pq */
        char pqname[300];
        snprintf(pqname, sizeof(pqname), "%s-pq", hosts.v[i]);
        const struct reg_keybind *pq = reg_registry_keybind(repo->reg, pqname);
        if (pq != NULL && !pq->is_list && pq->nvalues == 1 &&
            secrets_entries_for_key(repo, pq->values[0], &es, &nes) != 0)
            goto out;
        if (nes == before)
            m3_warn("host '%s': no secret in %s is encrypted to its key", hosts.v[i], repo->rules);
    }
    if (hosts.n > 0 && nes == 0) {
        printf("0 rekeyed, 0 already up to date, 0 failed\n");
        rc = 0;
        goto out;
    }
    loader.files = &idfiles;
    loader.opts = &o;
    o.load_ids = load_ids;
    o.load_ids_ctx = &loader;
    if (isatty(2) && !o.dry_run) {
        o.progress = progress;
    }
    m3_diag_clear(&d);
    r = secrets_rekey_run(repo, es, nes, &ids, &o, &k, &d);
    if (r != 0 && r != M3_EPAYLOAD) {
        if (!loader.reported)
            m3_diag_error(r, &d);
        goto out;
    }
    if (k->temps_cleaned > 0)
        m3_info("removed %zu temporary file(s) left by an interrupted run", k->temps_cleaned);
    if (o.dry_run) {
        if (json)
            plan_json(k, repo->rules);
        else
            print_plan(k);
        if (loader.none)
            m3_info("no identity was given: the plan is from the headers alone; rekeying "
                    "needs -i FILE (or ~/.ssh/id_ed25519, ~/.ssh/id_rsa)");
        /* As diff and hosts --dry-run: 1 when the plan has changes (or a file fails). */
        rc = (k->failed > 0 || k->planned > 0) ? M3_EXIT_NEGATIVE : 0;
        goto out;
    }
    print_failures(k);
    for (size_t i = 0; i < k->n; i++)
        if (k->items[i].state == SECRETS_ITEM_UP_TO_DATE)
            for (size_t j = 0; j < k->items[i].nkept; j++)
                m3_warn("%s: %s not attributable to any key, kept (--force drops it)",
                        rel(k->items[i].path), k->items[i].kept[j]);
    for (size_t i = 0; i < k->n; i++)
        if (k->items[i].state == SECRETS_ITEM_FAILED &&
            strstr(k->items[i].msg, "none was given") != NULL) {
            m3_passphrase_hint(k->items[i].msg);
            break;
        }
    if (k->held > 0) {
        m3_error("nothing was written: %zu file(s) could not be rekeyed", k->failed);
        m3_hint("fix them, or run with --partial to rekey the %zu other file(s)", k->held);
    }
    printf("%zu rekeyed, %zu already up to date, %zu failed", k->rekeyed, k->up_to_date, k->failed);
    if (k->missing > 0)
        printf(", %zu missing", k->missing);
    if (k->held > 0)
        printf(", %zu not written", k->held);
    printf("\n");
    rc = k->failed > 0 ? M3_EXIT_NEGATIVE : 0;
out:
    secrets_rekey_free(k);
    free(es);
    keys_identities_clear(&ids);
    secrets_repo_free(repo);
    m3_list_free(&idfiles);
    m3_list_free(&hosts);
    return rc;
}
