/* mlkem_testkit.h: finding the copied test vectors (tests/testkit) from a unit test, and
 * hex helpers. $M3AGE_TESTKIT overrides the folder. */
#ifndef M3_TESTS_MLKEM_TESTKIT_H
#define M3_TESTS_MLKEM_TESTKIT_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* testkit_path: <testkit>/rel into out, or false when the testkit is absent. The testkit is
 * $M3AGE_TESTKIT, else tests/testkit of the repository that holds the test binary. */
static inline bool
testkit_path(const char *rel, char *out, size_t cap)
{
    const char *env = getenv("M3AGE_TESTKIT");
    char exe[PATH_MAX];
    struct stat st;
    ssize_t n;

    if (env != NULL && *env != '\0') {
        snprintf(out, cap, "%s/%s", env, rel);
        return stat(out, &st) == 0;
    }
    n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    for (char *slash = strrchr(exe, '/'); slash != NULL; slash = strrchr(exe, '/')) {
        *slash = '\0';
        snprintf(out, cap, "%s/libage/age.h", exe);
        if (stat(out, &st) == 0) {
            snprintf(out, cap, "%s/tests/testkit/%s", exe, rel);
            return stat(out, &st) == 0;
        }
    }
    return false;
}

static inline int
hexval(int c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* unhex: decodes a hex string (to its first non-hex character) into a malloc'd buffer. */
static inline unsigned char *
unhex(const char *s, size_t *len)
{
    size_t n = 0;
    unsigned char *b;

    while (hexval(s[n]) >= 0)
        n++;
    if ((b = malloc(n / 2 + 1)) == NULL)
        abort();
    for (size_t i = 0; i < n / 2; i++)
        b[i] = (unsigned char)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
    *len = n / 2;
    return b;
}

#endif
