/* opts.c: the options several commands share (cmd/opts.h). */
#include "cmd/opts.h"

bool
m3_opt_end(int c, void (*usage)(FILE *), int *rc)
{
    switch (c) {
    case 'C':
        if (m3_set_color(optarg) == 0)
            return false;
        break;
    case 'h':
        usage(stdout);
        *rc = 0;
        return true;
    case 0: /* --nix, --no-nix: m3_nix_mode set */
        return false;
    default:
        break;
    }
    *rc = M3_EXIT_USAGE;
    return true;
}
