/* zinflate: inflate a zlib stream from standard input to standard output.
 *
 * Usage: zinflate < FILE.z > FILE
 *
 * The C2SP age test vectors marked `compressed: zlib` carry their age file zlib-compressed;
 * the conformance runner uses this to unpack them. Exit status 0, or 1 on a corrupt or
 * truncated stream or an I/O error (with a message on standard error). */
#include <stdio.h>
#include <string.h>
#include <zlib.h>

int
main(void)
{
    static unsigned char in[1 << 16], out[1 << 16];
    z_stream z;
    int rc = Z_OK;

    memset(&z, 0, sizeof(z));
    if (inflateInit(&z) != Z_OK) {
        fprintf(stderr, "zinflate: inflateInit failed\n");
        return 1;
    }
    while (rc != Z_STREAM_END) {
        z.avail_in = (uInt)fread(in, 1, sizeof(in), stdin);
        if (ferror(stdin) || z.avail_in == 0) {
            fprintf(stderr, "zinflate: %s\n", ferror(stdin) ? "read error" : "truncated stream");
            inflateEnd(&z);
            return 1;
        }
        z.next_in = in;
        do {
            z.next_out = out;
            z.avail_out = sizeof(out);
            rc = inflate(&z, Z_NO_FLUSH);
            if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
                fprintf(stderr, "zinflate: corrupt stream (%d)\n", rc);
                inflateEnd(&z);
                return 1;
            }
            if (fwrite(out, 1, sizeof(out) - z.avail_out, stdout) != sizeof(out) - z.avail_out) {
                fprintf(stderr, "zinflate: write error\n");
                inflateEnd(&z);
                return 1;
            }
        } while (z.avail_out == 0 && rc != Z_STREAM_END);
    }
    inflateEnd(&z);
    return fflush(stdout) == 0 ? 0 : 1;
}
