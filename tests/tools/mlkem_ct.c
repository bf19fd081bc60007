/* mlkem_ct: the constant-time check of ML-KEM-768 and X25519 (the ctgrind technique). Run
 * under valgrind memcheck by tests/conformance/mlkem_ct.sh: the secret inputs (KeyGen's d
 * and z, Encaps' m, the decapsulation key's secret parts, X25519 scalars) are marked
 * undefined, so memcheck reports any conditional jump or memory index that depends on them.
 * libage/mlkem.c and libage/hpke.c are compiled into this program with AGE_CT_CHECK, which
 * declares the public values computed from secrets (rho, X25519's low-order verdict) defined
 * again. The hybrid MLKEM768-X25519 KEM of age's mlkem768x25519 recipients runs whole:
 * seed expansion, public key, Encap and Decap (valid and invalid encapsulations). Prints "ok" and
 * exits 0 when every operation gave the right answer; memcheck's own exit status reports leaks of
 * secret-dependence. Without valgrind's header it is built as a stub that exits 77. */
#if defined(__has_include) && __has_include(<valgrind/memcheck.h>)
#define AGE_CT_CHECK 1
#include "libage/mlkem.c"
#undef declassify
#include "libage/hpke.c"

#include <stdio.h>

#include "libage/age.h"

#define SECRET(p, n) VALGRIND_MAKE_MEM_UNDEFINED(p, n)
#define PUBLIC(p, n) VALGRIND_MAKE_MEM_DEFINED(p, n)

int
main(void)
{
    static unsigned char seed[64], ek[1184], dk[2400], ct[1088], m[32], k1[32], k2[32], k3[32];
    static unsigned char sk[32], pk[32], esk[32], epk[32], sh1[32], sh2[32];
    int bad = 0, rc;

    if (age_init() != 0)
        return 2;
    randombytes_buf(seed, sizeof(seed));
    randombytes_buf(m, sizeof(m));

    SECRET(seed, sizeof(seed));
    bad |= age_mlkem768_keygen(ek, dk, seed) != 0;
    PUBLIC(ek, sizeof(ek));

    SECRET(m, sizeof(m));
    bad |= age_mlkem768_encaps(ct, k1, ek, m) != 0;
    PUBLIC(ct, sizeof(ct));

    /* dk = dk_pke || ek || H(ek) || z: ek and its hash are public. */
    SECRET(dk, 1152);
    SECRET(dk + 2368, 32);
    bad |= age_mlkem768_decaps(k2, dk, ct) != 0;
    ct[100] ^= 1; /* an invalid ciphertext: implicit rejection */
    bad |= age_mlkem768_decaps(k3, dk, ct) != 0;
    PUBLIC(k1, 32), PUBLIC(k2, 32), PUBLIC(k3, 32);
    bad |= memcmp(k1, k2, 32) != 0 || memcmp(k1, k3, 32) == 0;

    /* X25519 as the hybrid KEMs use it: key generation, the sender's share and the shared
     * secret on both sides (libsodium's contributory check folds the result without a
     * branch; its return value is public by design: a low-order share). */
    randombytes_buf(sk, sizeof(sk));
    randombytes_buf(esk, sizeof(esk));
    SECRET(sk, 32), SECRET(esk, 32);
    crypto_scalarmult_base(pk, sk);
    crypto_scalarmult_base(epk, esk);
    PUBLIC(pk, 32), PUBLIC(epk, 32);
    rc = crypto_scalarmult(sh1, esk, pk);
    PUBLIC(&rc, sizeof(rc));
    bad |= rc != 0;
    rc = crypto_scalarmult(sh2, sk, epk);
    PUBLIC(&rc, sizeof(rc));
    bad |= rc != 0;
    PUBLIC(sh1, 32), PUBLIC(sh2, 32);
    bad |= memcmp(sh1, sh2, 32) != 0;

    /* MLKEM768-X25519: the 32-byte seed is the secret; public key, Encap, Decap. */
    {
        static unsigned char hseed[32], hpk[1216], henc[1120], hs1[32], hs2[32], hs3[32];
        randombytes_buf(hseed, sizeof(hseed));
        SECRET(hseed, sizeof(hseed));
        bad |= age_hpke_public_key(AGE_HPKE_KEM_MLKEM768_X25519, hpk, hseed) != 0;
        PUBLIC(hpk, sizeof(hpk));
        bad |= age_hpke_encap(AGE_HPKE_KEM_MLKEM768_X25519, henc, hs1, hpk, NULL) != 0;
        PUBLIC(henc, sizeof(henc));
        bad |= age_hpke_decap(AGE_HPKE_KEM_MLKEM768_X25519, hs2, henc, hseed) != 0;
        henc[7] ^= 1;
        bad |= age_hpke_decap(AGE_HPKE_KEM_MLKEM768_X25519, hs3, henc, hseed) != 0;
        PUBLIC(hs1, 32), PUBLIC(hs2, 32), PUBLIC(hs3, 32);
        bad |= memcmp(hs1, hs2, 32) != 0 || memcmp(hs1, hs3, 32) == 0;
    }

    puts(bad ? "wrong results" : "ok");
    return bad ? 1 : 0;
}
#else
int main(void);
int
main(void)
{
    return 77;
}
#endif
