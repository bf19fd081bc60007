/* agent.c: the client side of the `m3age git` decryption agent (see agent.h and git.c). */
#include "cmd/agent.h"
#include "cmd/agentproto.h"
#include "cmd/io.h"
#include "libage/internal.h"

#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
m3_agent_write_full(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t w = send(fd, p, len, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int
m3_agent_write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int
m3_agent_read_full(int fd, void *buf, size_t len)
{
    return m3_fd_read(&fd, buf, len) == (ssize_t)len ? 0 : -1;
}

int
m3_agent_decrypt(const unsigned char *ct, size_t len, const char *const *paths, size_t n,
                 unsigned char **pt, size_t *pt_len, char *why, size_t whycap)
{
    const char *sock = getenv(M3_AGENT_ENV), *tfd_text = getenv(M3_AGENT_TOKEN_FD_ENV);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    char token[M3_AGENT_TOKEN_HEX + 1] = "";
    long tfd = -1;
    unsigned char status, *buf = NULL;
    uint32_t n32 = (uint32_t)n, l32;
    uint64_t l64 = len;
    int fd = -1, rc = -1;

    *pt = NULL;
    *pt_len = 0;
    if (sock == NULL || tfd_text == NULL || strlen(sock) >= sizeof(sa.sun_path) ||
        len > M3_AGENT_MAX_CT || n > M3_AGENT_MAX_IDS)
        return -1;
    /* the token: the first bytes of the inherited descriptor (a sealed memfd) */
    errno = 0;
    tfd = strtol(tfd_text, NULL, 10);
    if (errno != 0 || tfd < 3 || tfd > INT_MAX ||
        pread((int)tfd, token, M3_AGENT_TOKEN_HEX, 0) != M3_AGENT_TOKEN_HEX ||
        strspn(token, "0123456789abcdef") != M3_AGENT_TOKEN_HEX)
        return -1;
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        goto out;
    if (m3_agent_write_full(fd, token, M3_AGENT_TOKEN_HEX) != 0 ||
        m3_agent_write_full(fd, &n32, sizeof(n32)) != 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        l32 = (uint32_t)strlen(paths[i]);
        if (l32 > M3_AGENT_MAX_PATH || m3_agent_write_full(fd, &l32, sizeof(l32)) != 0 ||
            m3_agent_write_full(fd, paths[i], l32) != 0)
            goto out;
    }
    if (m3_agent_write_full(fd, &l64, sizeof(l64)) != 0 || m3_agent_write_full(fd, ct, len) != 0)
        goto out;
    if (m3_agent_read_full(fd, &status, 1) != 0 || m3_agent_read_full(fd, &l64, sizeof(l64)) != 0 ||
        l64 > M3_AGENT_MAX_CT)
        goto out;
    if ((buf = age_secret_alloc(l64 ? l64 : 1)) == NULL || m3_agent_read_full(fd, buf, l64) != 0)
        goto out;
    if (status == 0) {
        *pt = buf;
        *pt_len = l64;
        buf = NULL;
        rc = 0;
    } else {
        snprintf(why, whycap, "%.*s", (int)(l64 < whycap ? l64 : whycap - 1), (char *)buf);
        rc = 1;
    }
out:
    sodium_memzero(token, sizeof(token));
    age_secret_free(buf);
    if (fd >= 0)
        close(fd);
    return rc;
}
