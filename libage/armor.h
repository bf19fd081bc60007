/* armor.h: internal streaming ASCII armor (strict PEM, "AGE ENCRYPTED FILE"). */
#ifndef M3_AGE_ARMOR_H
#define M3_AGE_ARMOR_H

#include "libage/age.h"

#define AGE_ARMOR_BEGIN "-----BEGIN AGE ENCRYPTED FILE-----"
#define AGE_ARMOR_END "-----END AGE ENCRYPTED FILE-----"

/* A reader that returns the binary bytes inside an armored stream. Errors come back as
 * -1 from age_armor_read with r->err set to M3_EARMOR (diag in r->diag) or M3_EIO. */
struct age_armor_reader;
struct age_armor_reader *age_armor_reader_new(age_read_fn rd, void *ctx);
ssize_t age_armor_read(void *reader, void *buf, size_t len);
/* age_armor_reader_error: the M3_E* code and message of the last failure. */
int age_armor_reader_error(const struct age_armor_reader *r, struct m3_diag *d);
void age_armor_reader_free(struct age_armor_reader *r);

/* A writer that armors what it is given and writes through wr. */
struct age_armor_writer;
struct age_armor_writer *age_armor_writer_new(age_write_fn wr, void *ctx);
int age_armor_write(void *writer, const void *buf, size_t len);
/* For a caller that encodes in parallel: age_armor_head is how many bytes of the next write
 * complete the group the writer holds (0..47); age_armor_encode_groups encodes ngroups
 * whole 48-byte groups as 64-column lines, newline included (65 bytes each), into out
 * (thread-safe; returns the bytes written); age_armor_write_lines(w, p, len, text, ngroups)
 * does what age_armor_write(w, p, len) does, given text = the encoding of the ngroups groups
 * at p + age_armor_head(w), where 48 * ngroups < len - head (a byte follows them), and 65
 * bytes of room before text, where it may put the line of the group it holds (so that all
 * the lines go in one write). */
size_t age_armor_head(const struct age_armor_writer *w);
size_t age_armor_encode_groups(char *out, const unsigned char *in, size_t ngroups);
int age_armor_write_lines(struct age_armor_writer *w, const unsigned char *p, size_t len,
                          char *text, size_t ngroups);
/* age_armor_writer_finish: final padded line and the END line. */
int age_armor_writer_finish(struct age_armor_writer *w);
void age_armor_writer_free(struct age_armor_writer *w);

/* age_looks_armored: true when buf (the start of a file) holds optional whitespace and then
 * the armor's BEGIN line prefix. */
bool age_looks_armored(const unsigned char *buf, size_t len);

#endif
