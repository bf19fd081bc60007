/* ML-KEM-768 (libage/mlkem.c) against the CCTV known answers copied in tests/testkit/mlkem
 * (see its SOURCE.md): every intermediate value of KeyGen, Encaps and Decaps, the modulus
 * check on every bad encapsulation key, the strcmp and unlucky-sampling vectors, and the
 * accumulated hash of 10,000 pq-crystals tests.
 *
 * Those vectors were made with FIPS 203's draft, whose K-PKE.KeyGen computed G(d) where the
 * final standard computes G(d || k): their KeyGen runs age_mlkem768_keygen_draft (the rest
 * of ML-KEM is the same in both). The final KeyGen is checked by the hybrid age vectors
 * (test_age_testkit) and the HPKE vectors (test_age_hpke). */
#include <criterion/criterion.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <zlib.h>

#include "libage/age.h"
#include "libage/mlkem.h"
#include "libage/mlkem_internal.h"
#include "libage/sha3.h"
#include "mlkem_testkit.h"

/* One record of a vector file: "name = hex" lines up to a blank line. */
#define MAXF 48
struct rec {
    int n;
    char *name[MAXF];
    char *val[MAXF];
};

static void
rec_free(struct rec *r)
{
    for (int i = 0; i < r->n; i++) {
        free(r->name[i]);
        free(r->val[i]);
    }
    r->n = 0;
}

/* rec_read: the next record of f; false at end of file. */
static bool
rec_read(FILE *f, struct rec *r)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;

    r->n = 0;
    while ((len = getline(&line, &cap, f)) > 0) {
        char *eq;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (len == 0) {
            if (r->n > 0)
                break;
            continue;
        }
        /* the value follows the last " = " ("dkPKE = NTT(s) = ...") */
        for (char *p = strstr(line, " = "); p != NULL; p = strstr(p + 1, " = "))
            eq = p;
        if (strstr(line, " = ") == NULL || r->n == MAXF)
            continue;
        *eq = '\0';
        r->name[r->n] = strdup(line);
        r->val[r->n] = strdup(eq + 3);
        r->n++;
    }
    free(line);
    return r->n > 0;
}

/* get: the nth (0-based) value named `name` as bytes; fails the test when absent. */
static unsigned char *
get(const struct rec *r, const char *name, int nth, size_t *len)
{
    for (int i = 0; i < r->n; i++)
        if (strcmp(r->name[i], name) == 0 && nth-- == 0)
            return unhex(r->val[i], len);
    cr_assert_fail("vector has no value %s", name);
    return NULL;
}

static FILE *
open_vectors(const char *rel)
{
    char path[PATH_MAX + 64];
    FILE *f;

    if (!testkit_path(rel, path, sizeof(path)))
        cr_skip_test("no ML-KEM vectors (tests/testkit/%s or $M3AGE_TESTKIT/%s)", rel, rel);
    cr_assert_not_null(f = fopen(path, "r"), "%s", path);
    return f;
}

static void
expect(const struct rec *r, const char *name, int nth, const void *got, size_t got_len)
{
    size_t len;
    unsigned char *want = get(r, name, nth, &len);

    cr_assert_eq(got_len, len, "%s: %zu bytes, expected %zu", name, got_len, len);
    cr_assert(memcmp(got, want, len) == 0, "%s differs from the vector", name);
    free(want);
}

typedef struct age_mlkem_poly poly;

/* encode12 of a vector of three polynomials */
static void
enc3(unsigned char out[3 * 384], poly v[3])
{
    for (int i = 0; i < 3; i++)
        age_mlkem_encode(out + 384 * i, &v[i], 12);
}

TestSuite(mlkem, .init = (void (*)(void))age_init);

Test(mlkem, intermediate_values)
{
    FILE *f = open_vectors("mlkem/intermediate/ML-KEM-768.txt");
    struct rec r;
    size_t n;
    unsigned char *d, *rho, *sigma, *z, *m, *rr, buf[9 * 384], ek[1184], dkpke[1152], dk[2400];
    unsigned char h[32], kr[64], ct[1088], ss[32];
    poly a[3][3], s[3], e[3], t[3], y[3], e1[3], u[3], e2, v, mu, w;
    struct age_bytes in[2];

    cr_assert(rec_read(f, &r));
    fclose(f);
    d = get(&r, "d", 0, &n);
    rho = get(&r, "ρ", 0, &n);
    sigma = get(&r, "σ", 0, &n);
    z = get(&r, "z", 0, &n);
    m = get(&r, "m", 0, &n);
    rr = get(&r, "r", 0, &n);

    /* The draft's G(d) (see the top of this file), then everything after G. */
    in[0] = (struct age_bytes){d, 32};
    cr_assert_eq(age_sha3(AGE_SHA3_512, in, 1, buf, 64), 0);
    cr_assert(memcmp(buf, rho, 32) == 0 && memcmp(buf + 32, sigma, 32) == 0, "G(d)");

    for (unsigned i = 0; i < 3; i++)
        for (unsigned j = 0; j < 3; j++) {
            cr_assert_eq(age_mlkem_sample_ntt(&a[i][j], rho, j, i), 0);
            age_mlkem_encode(buf + 384 * (3 * i + j), &a[i][j], 12);
        }
    expect(&r, "A", 0, buf, 9 * 384);
    for (unsigned i = 0; i < 3; i++) {
        cr_assert_eq(age_mlkem_sample_cbd(&s[i], sigma, i), 0);
        cr_assert_eq(age_mlkem_sample_cbd(&e[i], sigma, 3 + i), 0);
    }
    enc3(buf, s);
    expect(&r, "s", 0, buf, 1152);
    enc3(buf, e);
    expect(&r, "e", 0, buf, 1152);
    for (unsigned i = 0; i < 3; i++) {
        age_mlkem_ntt(&s[i]);
        age_mlkem_ntt(&e[i]);
    }
    enc3(buf, s);
    expect(&r, "dkPKE = NTT(s)", 0, buf, 1152);
    enc3(buf, e);
    expect(&r, "NTT(e)", 0, buf, 1152);
    for (unsigned i = 0; i < 3; i++) {
        t[i] = e[i];
        for (unsigned j = 0; j < 3; j++)
            age_mlkem_mul_acc(&t[i], &a[i][j], &s[j]);
    }
    enc3(buf, t);
    expect(&r, "t", 0, buf, 1152);
    cr_assert_eq(age_mlkem_pke_keygen(ek, dkpke, rho, sigma), 0);
    expect(&r, "ek", 0, ek, sizeof(ek));
    expect(&r, "dkPKE = NTT(s)", 0, dkpke, sizeof(dkpke));
    in[0] = (struct age_bytes){ek, sizeof(ek)};
    cr_assert_eq(age_sha3(AGE_SHA3_256, in, 1, h, 32), 0);
    expect(&r, "H(ek)", 0, h, 32);
    memcpy(dk, dkpke, 1152);
    memcpy(dk + 1152, ek, 1184);
    memcpy(dk + 2336, h, 32);
    memcpy(dk + 2368, z, 32);
    expect(&r, "dk", 0, dk, sizeof(dk));

    /* Encaps: (K, r) = G(m || H(ek)), then K-PKE.Encrypt step by step. */
    in[0] = (struct age_bytes){m, 32};
    in[1] = (struct age_bytes){h, 32};
    cr_assert_eq(age_sha3(AGE_SHA3_512, in, 2, kr, 64), 0);
    expect(&r, "K", 0, kr, 32);
    expect(&r, "r", 0, kr + 32, 32);
    age_mlkem_decode(&mu, m, 1);
    age_mlkem_decompress(&mu, 1);
    age_mlkem_encode(buf, &mu, 12);
    expect(&r, "μ", 0, buf, 384);
    for (unsigned i = 0; i < 3; i++)
        for (unsigned j = 0; j < 3; j++) {
            cr_assert_eq(age_mlkem_sample_ntt(&a[i][j], rho, i, j), 0); /* A^T */
            age_mlkem_encode(buf + 384 * (3 * i + j), &a[i][j], 12);
        }
    expect(&r, "A^T", 0, buf, 9 * 384);
    for (unsigned i = 0; i < 3; i++) {
        cr_assert_eq(age_mlkem_sample_cbd(&y[i], rr, i), 0);
        cr_assert_eq(age_mlkem_sample_cbd(&e1[i], rr, 3 + i), 0);
    }
    cr_assert_eq(age_mlkem_sample_cbd(&e2, rr, 6), 0);
    enc3(buf, y);
    expect(&r, "r", 1, buf, 1152);
    enc3(buf, e1);
    expect(&r, "e1", 0, buf, 1152);
    age_mlkem_encode(buf, &e2, 12);
    expect(&r, "e2", 0, buf, 384);
    for (unsigned i = 0; i < 3; i++)
        age_mlkem_ntt(&y[i]);
    enc3(buf, y);
    expect(&r, "NTT(r)", 0, buf, 1152);
    memset(u, 0, sizeof(u));
    memset(&v, 0, sizeof(v));
    for (unsigned i = 0; i < 3; i++) {
        for (unsigned j = 0; j < 3; j++)
            age_mlkem_mul_acc(&u[i], &a[i][j], &y[j]);
        age_mlkem_invntt(&u[i]);
        for (unsigned k = 0; k < 256; k++)
            u[i].c[k] = (uint16_t)((u[i].c[k] + e1[i].c[k]) % 3329);
        age_mlkem_mul_acc(&v, &t[i], &y[i]);
    }
    enc3(buf, u);
    expect(&r, "u", 0, buf, 1152);
    age_mlkem_invntt(&v);
    for (unsigned k = 0; k < 256; k++)
        v.c[k] = (uint16_t)((v.c[k] + e2.c[k] + mu.c[k]) % 3329);
    for (unsigned i = 0; i < 3; i++) {
        age_mlkem_compress(&u[i], 10);
        age_mlkem_encode(buf + 320 * i, &u[i], 10);
    }
    expect(&r, "c1", 0, buf, 960);
    age_mlkem_compress(&v, 4);
    age_mlkem_encode(buf, &v, 4);
    expect(&r, "c2", 0, buf, 128);
    cr_assert_eq(age_mlkem768_encaps(ct, ss, ek, m), 0);
    expect(&r, "c", 0, ct, sizeof(ct));
    expect(&r, "K", 0, ss, 32);

    /* Decaps: K-PKE.Decrypt step by step, then the whole. */
    for (unsigned i = 0; i < 3; i++) {
        age_mlkem_decode(&u[i], ct + 320 * i, 10);
        age_mlkem_decompress(&u[i], 10);
    }
    enc3(buf, u);
    expect(&r, "uᵈ", 0, buf, 1152);
    for (unsigned i = 0; i < 3; i++)
        age_mlkem_ntt(&u[i]);
    enc3(buf, u);
    expect(&r, "NTT(uᵈ)", 0, buf, 1152);
    age_mlkem_decode(&v, ct + 960, 4);
    age_mlkem_decompress(&v, 4);
    age_mlkem_encode(buf, &v, 12);
    expect(&r, "vᵈ", 0, buf, 384);
    memset(&w, 0, sizeof(w));
    for (unsigned i = 0; i < 3; i++)
        age_mlkem_mul_acc(&w, &s[i], &u[i]);
    age_mlkem_invntt(&w);
    for (unsigned k = 0; k < 256; k++)
        w.c[k] = (uint16_t)((v.c[k] + 3329 - w.c[k]) % 3329);
    age_mlkem_encode(buf, &w, 12);
    expect(&r, "w", 0, buf, 384);
    memset(ss, 0, sizeof(ss));
    cr_assert_eq(age_mlkem768_decaps(ss, dk, ct), 0);
    expect(&r, "K", 0, ss, 32);
    in[0] = (struct age_bytes){z, 32};
    in[1] = (struct age_bytes){ct, sizeof(ct)};
    cr_assert_eq(age_sha3(AGE_SHAKE256, in, 2, buf, 32), 0);
    expect(&r, "KBar", 0, buf, 32);
    /* a ciphertext with one bit changed decapsulates to K-bar of that ciphertext */
    ct[5] ^= 0x10;
    cr_assert_eq(age_mlkem768_decaps(ss, dk, ct), 0);
    cr_assert_eq(age_sha3(AGE_SHAKE256, in, 2, buf, 32), 0);
    cr_assert(memcmp(ss, buf, 32) == 0, "implicit rejection");
    free(d), free(rho), free(sigma), free(z), free(m), free(rr);
    rec_free(&r);
}

/* The unlucky keys need more than 575 bytes of SHAKE128 in SampleNTT (more than the first
 * squeeze: the fallback path); the strcmp ciphertexts re-encrypt to a string equal to the
 * given one up to a zero byte. Both files: one record per test. */
Test(mlkem, unlucky_sample)
{
    FILE *f = open_vectors("mlkem/unluckysample/ML-KEM-768.txt");
    struct rec r;
    int count = 0;

    while (rec_read(f, &r)) {
        size_t n;
        unsigned char seed[64], ek[1184], dk[2400], ct[1088], ss[32];
        unsigned char *d = get(&r, "d", 0, &n), *z = get(&r, "z", 0, &n), *m = get(&r, "m", 0, &n);
        memcpy(seed, d, 32);
        memcpy(seed + 32, z, 32);
        cr_assert_eq(age_mlkem768_keygen_draft(ek, dk, seed), 0);
        expect(&r, "ek", 0, ek, sizeof(ek));
        expect(&r, "dk", 0, dk, sizeof(dk));
        cr_assert_eq(age_mlkem768_encaps(ct, ss, ek, m), 0);
        expect(&r, "c", 0, ct, sizeof(ct));
        expect(&r, "K", 0, ss, sizeof(ss));
        memset(ss, 0, sizeof(ss));
        cr_assert_eq(age_mlkem768_decaps(ss, dk, ct), 0);
        expect(&r, "K", 0, ss, sizeof(ss));
        free(d), free(z), free(m);
        rec_free(&r);
        count++;
    }
    fclose(f);
    cr_assert_gt(count, 0);
}

Test(mlkem, strcmp_vectors)
{
    FILE *f = open_vectors("mlkem/strcmp/ML-KEM-768.txt");
    struct rec r;
    int count = 0;

    while (rec_read(f, &r)) {
        size_t n;
        unsigned char ss[32], *dk = get(&r, "dk", 0, &n), *c = get(&r, "c", 0, &n);
        cr_assert_eq(age_mlkem768_decaps(ss, dk, c), 0);
        expect(&r, "K", 0, ss, sizeof(ss));
        free(dk), free(c);
        rec_free(&r);
        count++;
    }
    fclose(f);
    cr_assert_gt(count, 0);
}

Test(mlkem, modulus_check_refuses_every_bad_key)
{
    char path[PATH_MAX + 64];
    gzFile gz;
    char *line = malloc(4096);
    int count = 0;

    if (!testkit_path("mlkem/modulus/ML-KEM-768.txt.gz", path, sizeof(path)))
        cr_skip_test("no ML-KEM vectors");
    cr_assert_not_null(gz = gzopen(path, "rb"));
    while (gzgets(gz, line, 4096) != NULL) {
        size_t n;
        unsigned char *ek = unhex(line, &n), ct[1088], ss[32];
        if (n == 0) {
            free(ek);
            continue;
        }
        cr_assert_eq(n, 1184, "line %d: %zu bytes", count + 1, n);
        cr_assert_eq(age_mlkem768_check_ek(ek), M3_EINVAL, "key %d accepted", count + 1);
        memset(ct, 0xaa, sizeof(ct));
        cr_assert_eq(age_mlkem768_encaps_random(ct, ss, ek), M3_EINVAL, "key %d", count + 1);
        cr_assert_eq(ct[0], 0xaa, "nothing written for a refused key");
        free(ek);
        count++;
    }
    gzclose(gz);
    free(line);
    cr_assert_eq(count, 780); /* every position, every value from q to 2^12 - 1, in groups */
}

/* The accumulated pq-crystals tests (tests/testkit/mlkem/README.md): inputs from one
 * SHAKE128 stream of the empty string, outputs hashed into a running SHAKE128. OpenSSL 3.0
 * cannot squeeze a stream by parts, so the whole input stream is squeezed at once. */
static void
mlkem_accumulate(unsigned long tests, unsigned char out[32])
{
    size_t per = 32 + 32 + 32 + 1088, len = per * tests;
    unsigned char *rng = malloc(len), *p, ek[1184], dk[2400], ct[1088], k1[32], k2[32], k3[32];
    EVP_MD_CTX *acc = EVP_MD_CTX_new();
    struct age_bytes none = {"", 0};

    cr_assert_not_null(rng);
    cr_assert_eq(age_sha3(AGE_SHAKE128, &none, 1, rng, len), 0);
    cr_assert_eq(rng[0], 0x7f);
    cr_assert(EVP_DigestInit_ex(acc, EVP_shake128(), NULL));
    p = rng;
    for (unsigned long t = 0; t < tests; t++, p += per) {
        cr_assert_eq(age_mlkem768_keygen_draft(ek, dk, p), 0);
        cr_assert_eq(age_mlkem768_encaps(ct, k1, ek, p + 64), 0);
        cr_assert_eq(age_mlkem768_decaps(k2, dk, ct), 0);
        cr_assert(memcmp(k1, k2, 32) == 0, "test %lu: decaps", t);
        cr_assert_eq(age_mlkem768_decaps(k3, dk, p + 96), 0);
        EVP_DigestUpdate(acc, ek, sizeof(ek));
        EVP_DigestUpdate(acc, dk, sizeof(dk));
        EVP_DigestUpdate(acc, ct, sizeof(ct));
        EVP_DigestUpdate(acc, k1, sizeof(k1));
        EVP_DigestUpdate(acc, k3, sizeof(k3));
    }
    EVP_DigestFinalXOF(acc, out, 32);
    EVP_MD_CTX_free(acc);
    free(rng);
}

Test(mlkem, accumulated_10000, .timeout = 120)
{
    static const char want[] = "f7db260e1137a742e05fe0db9525012812b004d29040a5b606aad3d134b548d3";
    unsigned char h[32];
    char hex[65];

    mlkem_accumulate(10000, h);
    sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
    cr_assert_str_eq(hex, want);
}

Test(mlkem, keygen_encaps_decaps_round_trip)
{
    unsigned char seed[64], ek[1184], dk[2400], ct[1088], k1[32], k2[32];

    for (int i = 0; i < 20; i++) {
        randombytes_buf(seed, sizeof(seed));
        cr_assert_eq(age_mlkem768_keygen(ek, dk, seed), 0);
        cr_assert_eq(age_mlkem768_check_ek(ek), 0);
        cr_assert_eq(age_mlkem768_encaps_random(ct, k1, ek), 0);
        cr_assert_eq(age_mlkem768_decaps(k2, dk, ct), 0);
        cr_assert(memcmp(k1, k2, 32) == 0);
    }
}
