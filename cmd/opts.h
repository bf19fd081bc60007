/* opts.h: what the option loops of audit, check, diff and edit share: the rows --nix,
 * --no-nix and --help of their getopt_long tables, and the handling of those and of
 * --color[=WHEN]. */
#ifndef M3_CMD_OPTS_H
#define M3_CMD_OPTS_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "cmd/cmd.h"

/* M3_OPTS_NIX_HELP: rows of a getopt_long table (put before its terminating row): --nix and
 * --no-nix (flags on m3_nix_mode: m3_getopt returns 0) and --help ('h'). */
/* clang-format off */
#define M3_OPTS_NIX_HELP                                                                       \
    {"nix", no_argument, &m3_nix_mode, M3_NIX_ALWAYS},                                         \
    {"no-nix", no_argument, &m3_nix_mode, M3_NIX_NEVER},                                       \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

/* m3_opt_end: the end of an option loop's switch, for the c m3_getopt returned that the
 * command does not handle itself: 'C' (--color[=WHEN]) sets the color, 0 (--nix, --no-nix)
 * was set by getopt_long; both return false (go on). 'h' prints usage to standard output
 * and sets *rc = 0; a bad WHEN (printed by m3_set_color) and anything else (an option
 * m3_getopt refused, already printed) set *rc = M3_EXIT_USAGE; those return true (leave). */
bool m3_opt_end(int c, void (*usage)(FILE *), int *rc);

#endif
