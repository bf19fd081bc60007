/* agentproto.h: the wire format between `m3age git` (git.c) and its textconv clients
 * (agent.c). Same machine, same binary: integers in native byte order.
 *
 * request:  token (64 hex characters), u32 n, n x (u32 len, path bytes), u64 len, ciphertext
 * response: u8 status (0 plaintext follows, 1 a reason follows), u64 len, bytes */
#ifndef M3_CMD_AGENTPROTO_H
#define M3_CMD_AGENTPROTO_H

#include <stddef.h>

#define M3_AGENT_TOKEN_HEX 64
#define M3_AGENT_MAX_IDS 64
#define M3_AGENT_MAX_PATH 4096
#define M3_AGENT_MAX_CT (256u << 20) /* as secrets_slurp */

int m3_agent_write_full(int fd, const void *buf, size_t len);
int m3_agent_read_full(int fd, void *buf, size_t len);
/* m3_agent_write_all: write(2) of all len bytes (for a file, not a socket); 0 or -1. */
int m3_agent_write_all(int fd, const void *buf, size_t len);

#endif
