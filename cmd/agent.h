/* agent.h: the decryption agent of `m3age git`, so that one git command asks for each
 * passphrase once, not once per file.
 *
 * git runs the textconv driver (`m3age diff --textconv FILE`) in a new process for every file
 * version it shows; each process would load the identities again and ask again for their
 * passphrases. `m3age git ARGS...` loads identities in its own process, at most once each,
 * and runs git ARGS as its child. The textconv processes git starts find the agent through
 * what only git's descendants inherit:
 *   M3AGE_AGENT           the path of a Unix socket in a fresh 0700 folder,
 *   M3AGE_AGENT_TOKEN_FD  the number of an inherited descriptor (a sealed memfd) whose
 *                         content is 32 random bytes (hex) that every request must carry:
 *                         the token itself is in no process's environment,
 * and send it the ciphertext and the identity files they would have used; the agent returns
 * the plaintext (or why it could not decrypt). The agent refuses peers of another uid and
 * peers that are not descendants of its git (a token copied out of git's descriptors is of
 * no use to another process). It is not dumpable (no ptrace, no /proc/PID/mem, no core of
 * it by other processes of the user). The private keys never leave the agent's process;
 * nothing is cached on disk; the socket and its folder are removed and the keys wiped as
 * soon as git exits. */
#ifndef M3_CMD_AGENT_H
#define M3_CMD_AGENT_H

#include <stddef.h>

#define M3_AGENT_ENV "M3AGE_AGENT"
#define M3_AGENT_TOKEN_ENV "M3AGE_AGENT_TOKEN" /* the old way: removed from git's environment */
#define M3_AGENT_TOKEN_FD_ENV "M3AGE_AGENT_TOKEN_FD"

/* m3_agent_decrypt: asks the agent named by the environment to decrypt ct with the identity
 * files paths[0..n) (absolute). Returns 0 with *pt (secret memory: age_secret_free) and
 * *pt_len; 1 when the agent could not decrypt, with its reason in why; -1 when there is no
 * usable agent (no variables, or it does not answer): the caller then works alone. */
int m3_agent_decrypt(const unsigned char *ct, size_t len, const char *const *paths, size_t n,
                     unsigned char **pt, size_t *pt_len, char *why, size_t whycap);

#endif
