/* report.h: printing audit findings (human, colored on a terminal, or JSON), shared by
 * `m3age audit` and `m3age check`, and locating the registry for the repository commands. */
#ifndef M3_CMD_REPORT_H
#define M3_CMD_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "secrets/audit.h"

/* m3_json_str: writes s as a JSON string literal (quotes included). */
void m3_json_str(FILE *f, const char *s);

/* m3_report_human: findings grouped by file, then a summary line. color: ANSI colors. */
void m3_report_human(FILE *f, const struct secrets_audit *a, bool color);
/* m3_report_json: the --json document described in m3age-audit(1). */
void m3_report_json(FILE *f, const struct secrets_audit *a, const char *registry);

/* The --json rekey plan of `m3age diff --json` and `m3age rekey --dry-run --json` (its schema
 * in m3age-audit(1)): m3_plan_json_begin, one m3_plan_json_item per secret, m3_plan_json_end.
 * Paths are made relative to the repository root of registry. state: "same", "change",
 * "missing" or "failed"; add/remove: recipients by registry name; kept: the stanzas no key can
 * be told from that a rekey keeps ("1 fido2-hmac stanza"); error NULL or one line. */
struct m3_plan_json {
    FILE *f;
    char *root;
    size_t n;
};
void m3_plan_json_begin(struct m3_plan_json *j, FILE *f, const char *registry);
void m3_plan_json_item(struct m3_plan_json *j, const char *file, const char *state,
                       const char *const *add, size_t nadd, const char *const *remove,
                       size_t nremove, const char *const *kept, size_t nkept, const char *error);
void m3_plan_json_end(struct m3_plan_json *j, size_t nchange);

/* m3_find_registry: the registry path (--rules, else RULES, else ./secrets.nix or a parent's),
 * malloc'd; NULL after printing an error. */
char *m3_find_registry(const char *rules_opt);

#endif
