/* nixjson.h: reading what `nix eval --json` and `nix flake metadata --json` print for
 * cmd/nixhosts.c: a list of strings, and one top-level string field. Not a general JSON
 * parser: anything else is refused. */
#ifndef M3_CMD_NIXJSON_H
#define M3_CMD_NIXJSON_H

#include <stddef.h>

/* m3_json_strings: the JSON list of strings text as *n malloc'd strings in a malloc'd *v
 * (free with m3_strings_free). \uXXXX escapes above U+007F are refused (Nix writes UTF-8 as
 * it is). Errors: M3_EINVAL (not such a list, or no memory). */
int m3_json_strings(const char *text, char ***v, size_t *n);
void m3_strings_free(char **v, size_t n);

/* m3_json_top_string: the string value of the top-level field key of the JSON object json
 * (fields of nested objects are skipped), malloc'd; NULL when there is none. */
char *m3_json_top_string(const char *json, const char *key);

#endif
