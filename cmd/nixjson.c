/* nixjson.c: the little JSON that Nix prints for m3age read back (see nixjson.h). */
#include "cmd/nixjson.h"
#include "libage/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* json_string: the JSON string at *p (past the opening quote) decoded into a malloc'd
 * string; *p moves past the closing quote. NULL: malformed, or no memory. */
static char *
json_string(const char **p)
{
    const char *s = *p;
    size_t cap = strlen(s) + 1, n = 0;
    char *o = malloc(cap);

    if (o == NULL)
        return NULL;
    while (*s != '"') {
        unsigned c = (unsigned char)*s++;
        if (c == '\0')
            goto bad;
        if (c != '\\') {
            o[n++] = (char)c;
            continue;
        }
        switch (c = (unsigned char)*s++) {
        case 'n':
            o[n++] = '\n';
            break;
        case 't':
            o[n++] = '\t';
            break;
        case 'r':
            o[n++] = '\r';
            break;
        case 'b':
            o[n++] = '\b';
            break;
        case 'f':
            o[n++] = '\f';
            break;
        case '"':
        case '\\':
        case '/':
            o[n++] = (char)c;
            break;
        case 'u': {
            unsigned u;
            if (sscanf(s, "%4x", &u) != 1 || u == 0)
                goto bad;
            s += 4;
            /* Nix prints only control characters this way (UTF-8 stays as it is) */
            if (u >= 0x80)
                goto bad;
            o[n++] = (char)u;
            break;
        }
        default:
            goto bad;
        }
    }
    o[n] = '\0';
    *p = s + 1;
    return o;
bad:
    free(o);
    return NULL;
}

/* json_strings: a JSON list of strings. */
int
m3_json_strings(const char *text, char ***v, size_t *n)
{
    const char *p = text + strspn(text, " \n");
    char **a = NULL;

    *v = NULL;
    *n = 0;
    if (*p++ != '[')
        return M3_EINVAL;
    p += strspn(p, " \n");
    while (*p == '"') {
        char **na = realloc(a, (*n + 1) * sizeof(*na)), *s;
        p++;
        if (na == NULL || (s = json_string(&p)) == NULL) {
            a = na != NULL ? na : a;
            goto bad;
        }
        a = na;
        a[(*n)++] = s;
        p += strspn(p, " \n");
        if (*p == ',')
            p += 1 + strspn(p + 1, " \n");
    }
    if (*p != ']')
        goto bad;
    *v = a;
    return 0;
bad:
    for (size_t i = 0; i < *n; i++)
        free(a[i]);
    free(a);
    *n = 0;
    return M3_EINVAL;
}

void
m3_strings_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

/* (`nix flake metadata --json`: the top-level "path" is the flake's copy in the store,
 * nested ones its location.) */
char *
m3_json_top_string(const char *json, const char *key)
{
    int depth = 0;

    for (const char *p = json; *p != '\0'; p++) {
        if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            depth--;
        else if (*p == '"') {
            const char *start = ++p;
            for (; *p != '"' && *p != '\0'; p++)
                if (*p == '\\' && p[1] != '\0')
                    p++;
            if (*p == '\0')
                return NULL;
            if (depth != 1 || (size_t)(p - start) != strlen(key) ||
                strncmp(start, key, strlen(key)) != 0 || p[1] != ':' || p[2] != '"')
                continue;
            p += 3;
            return json_string(&p);
        }
    }
    return NULL;
}
