/* ssh_pty: run a command with a pseudo-terminal as its controlling terminal (its stdin,
 * stdout and stderr stay as given) and answer its passphrase prompts on /dev/tty.
 *
 *   ssh_pty [-t TRANSCRIPT] ANSWER... -- COMMAND [ARG]...
 *
 * Each time the terminal shows text ending in ": " after the word "passphrase" (any case),
 * the next ANSWER is typed followed by a newline; when the answers run out, end-of-file is
 * typed. Everything shown on the terminal goes to TRANSCRIPT (for the tests to count prompts).
 * Exits with the command's status (128 + signal), or 124 after 20 seconds. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int
prompt_pending(const char *buf, size_t len)
{
    char low[8192];
    size_t n = len < sizeof(low) - 1 ? len : sizeof(low) - 1;

    if (len < 2 || buf[len - 2] != ':' || buf[len - 1] != ' ')
        return 0;
    for (size_t i = 0; i < n; i++)
        low[i] = (char)tolower((unsigned char)buf[len - n + i]);
    low[n] = '\0';
    return strstr(low, "passphrase") != NULL;
}

int
main(int argc, char **argv)
{
    const char *transcript = NULL;
    char **answers, buf[8192];
    int nanswers = 0, next = 0, master, slave, status = 0, i = 1;
    size_t have = 0;
    FILE *tf = NULL;
    pid_t pid;
    time_t start = time(NULL);

    if (argc > 2 && strcmp(argv[1], "-t") == 0) {
        transcript = argv[2];
        i = 3;
    }
    answers = argv + i;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++)
        nanswers++;
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: ssh_pty [-t TRANSCRIPT] ANSWER... -- COMMAND [ARG]...\n");
        return 2;
    }
    if (transcript != NULL && (tf = fopen(transcript, "w")) == NULL) {
        perror(transcript);
        return 2;
    }
    if (openpty(&master, &slave, NULL, NULL, NULL) != 0) {
        perror("openpty");
        return 2;
    }
    if ((pid = fork()) < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        close(master);
        setsid();
        if (ioctl(slave, TIOCSCTTY, 0) != 0) {
            perror("TIOCSCTTY");
            _exit(2);
        }
        close(slave);
        execvp(argv[i + 1], argv + i + 1);
        perror(argv[i + 1]);
        _exit(127);
    }
    /* The slave stays open here so the terminal outlives the command's own opens of /dev/tty
     * (no EIO between them); the command's exit is noticed with waitpid. */
    for (;;) {
        struct pollfd p = {master, POLLIN, 0};
        int r = poll(&p, 1, 200);
        if (r > 0) {
            ssize_t n = read(master, buf + have, sizeof(buf) - 1 - have);
            if (n <= 0)
                continue;
            if (tf != NULL)
                fwrite(buf + have, 1, (size_t)n, tf);
            have += (size_t)n;
            if (prompt_pending(buf, have)) {
                if (next < nanswers) {
                    dprintf(master, "%s\n", answers[next++]);
                } else {
                    char eof = 4;
                    (void)!write(master, &eof, 1);
                }
                have = 0;
            }
            if (have > sizeof(buf) / 2) {
                memmove(buf, buf + have - 64, 64);
                have = 64;
            }
        }
        if (r <= 0 && waitpid(pid, &status, WNOHANG) == pid) {
            pid = 0;
            break;
        }
        if (time(NULL) - start > 20) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            fprintf(stderr, "ssh_pty: timed out\n");
            return 124;
        }
    }
    if (pid != 0)
        waitpid(pid, &status, 0);
    if (tf != NULL)
        fclose(tf);
    close(master);
    close(slave);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
