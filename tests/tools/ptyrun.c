/* ptyrun: run a command under a pseudo-terminal and answer its prompts.
 *
 * Usage:
 *   ptyrun [-t SECONDS] [-i FILE] [-o FILE] [-q] [-S]
 *          [-e PATTERN (-s SECRET | -r REPLY)]... [--] COMMAND [ARG]...
 *
 * The command runs in a new session whose controlling terminal is the pseudo-terminal, so
 * programs that open /dev/tty for a passphrase (Go age's -p, ssh-keygen, readpassphrase(3))
 * talk to ptyrun. Everything the command writes to the terminal (the transcript) is copied to
 * ptyrun's standard output with carriage returns removed, unless -q is given.
 *
 *   -e PATTERN  the next prompt to wait for: a plain substring of the terminal output seen
 *               since the previous answer. Each -e must be followed by -s or -r. The rules are
 *               used in order, each once ("Enter passphrase" then "Confirm passphrase").
 *   -s SECRET   answer the preceding -e with SECRET and a newline, after the program has
 *               turned terminal echo off (waits up to 5 s for that). readpassphrase(3) flushes
 *               the input queue when it turns echo off, so an answer typed earlier would be
 *               lost; waiting for echo-off avoids that race. Use for passphrases.
 *   -r REPLY    answer the preceding -e with REPLY and a newline at once (echoed prompts
 *               such as "Overwrite (y/n)?").
 *   -i FILE     the command's standard input comes from FILE instead of the terminal.
 *   -o FILE     the command's standard output goes to FILE (created or truncated, mode 0600)
 *               instead of the terminal.
 *   -t SECONDS  give up after SECONDS (default 60): the command is killed and ptyrun exits 124.
 *   -q          do not copy the transcript to standard output.
 *   -S          strict: exit 125 when the command ends with a rule still unanswered.
 *
 * Exit status: the command's own status, 128 + N when it died of signal N, 124 on timeout,
 * 125 on a usage or internal error (or an unanswered rule with -S), 127 when the command
 * cannot be run. Unanswered rules are reported on standard error.
 *
 * Example (Go age encrypting with a passphrase):
 *   ptyrun -e 'Enter passphrase' -s hunter2 -e 'Confirm passphrase' -s hunter2 \
 *          -- age -p -o secret.age secret.txt
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_RULES 32
#define MATCH_BUF 8192

struct rule {
    const char *pattern;
    const char *reply;
    bool secret;
};

static void
usage(const char *why)
{
    if (why != NULL)
        fprintf(stderr, "ptyrun: %s\n", why);
    fprintf(stderr, "usage: ptyrun [-t SECONDS] [-i FILE] [-o FILE] [-q] [-S]\n"
                    "              [-e PATTERN (-s SECRET | -r REPLY)]... [--] COMMAND [ARG]...\n");
    exit(125);
}

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Waits until the terminal has echo off (the program is reading a secret), at most 5 s.
 * On Linux the master side reports the slave's termios. */
static void
wait_echo_off(int master)
{
    double end = now() + 5.0;
    struct termios t;

    while (now() < end) {
        if (tcgetattr(master, &t) == 0 && !(t.c_lflag & ECHO))
            return;
        usleep(5000);
    }
}

static void
copy_transcript(const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (buf[i] != '\r')
            fputc(buf[i], stdout);
    fflush(stdout);
}

static void
child(char **argv, const char *in, const char *out)
{
    int fd;

    if (in != NULL) {
        fd = open(in, O_RDONLY);
        if (fd < 0 || dup2(fd, 0) < 0) {
            fprintf(stderr, "ptyrun: %s: %s\n", in, strerror(errno));
            _exit(127);
        }
        close(fd);
    }
    if (out != NULL) {
        fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0) {
            fprintf(stderr, "ptyrun: %s: %s\n", out, strerror(errno));
            _exit(127);
        }
        close(fd);
    }
    execvp(argv[0], argv);
    fprintf(stderr, "ptyrun: %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int
main(int argc, char **argv)
{
    struct rule rules[MAX_RULES];
    size_t nrules = 0, next = 0, have = 0;
    const char *in = NULL, *out = NULL;
    double timeout = 60, deadline;
    bool quiet = false, strict = false, pending = false;
    static char match[MATCH_BUF + 1];
    char buf[4096];
    struct winsize ws = {.ws_row = 24, .ws_col = 80};
    int opt, master, st;
    pid_t pid;

    while ((opt = getopt(argc, argv, "+t:i:o:qSe:s:r:h")) != -1) {
        switch (opt) {
        case 't':
            timeout = atof(optarg);
            if (timeout <= 0)
                usage("-t needs a positive number of seconds");
            break;
        case 'i':
            in = optarg;
            break;
        case 'o':
            out = optarg;
            break;
        case 'q':
            quiet = true;
            break;
        case 'S':
            strict = true;
            break;
        case 'e':
            if (pending)
                usage("-e must be followed by -s or -r");
            if (nrules == MAX_RULES)
                usage("too many -e rules");
            rules[nrules].pattern = optarg;
            pending = true;
            break;
        case 's':
        case 'r':
            if (!pending)
                usage("-s and -r must follow an -e PATTERN");
            rules[nrules].reply = optarg;
            rules[nrules].secret = opt == 's';
            nrules++;
            pending = false;
            break;
        case 'h':
            usage(NULL);
            break;
        default:
            usage(NULL);
        }
    }
    if (pending)
        usage("-e must be followed by -s or -r");
    if (optind >= argc)
        usage("no command given");

    fflush(stdout);
    pid = forkpty(&master, NULL, NULL, &ws);
    if (pid < 0) {
        fprintf(stderr, "ptyrun: forkpty: %s\n", strerror(errno));
        return 125;
    }
    if (pid == 0)
        child(argv + optind, in, out);

    deadline = now() + timeout;
    for (;;) {
        struct pollfd p = {.fd = master, .events = POLLIN};
        int r;
        ssize_t n;

        if (now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            fprintf(stderr, "ptyrun: timed out after %g s waiting for %s%s%s\n", timeout,
                    next < nrules ? "'" : "the command to end",
                    next < nrules ? rules[next].pattern : "", next < nrules ? "'" : "");
            return 124;
        }
        r = poll(&p, 1, 100);
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "ptyrun: poll: %s\n", strerror(errno));
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            return 125;
        }
        if (r <= 0)
            continue;
        n = read(master, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* EIO: every slave descriptor is closed; the command is done */
        if (!quiet)
            copy_transcript(buf, (size_t)n);
        /* Keep the output since the last answer (bounded) and look for the next prompt. */
        /* n <= sizeof(buf) < MATCH_BUF: drop the oldest bytes when the buffer is full */
        if (have + (size_t)n > MATCH_BUF) {
            size_t drop = have + (size_t)n - MATCH_BUF;
            memmove(match, match + drop, have - drop);
            have -= drop;
        }
        memcpy(match + have, buf, (size_t)n);
        have += (size_t)n;
        while (next < nrules &&
               memmem(match, have, rules[next].pattern, strlen(rules[next].pattern)) != NULL) {
            const struct rule *ru = &rules[next++];
            char *hit = memmem(match, have, ru->pattern, strlen(ru->pattern));
            size_t after = (size_t)(hit - match) + strlen(ru->pattern);

            memmove(match, match + after, have - after);
            have -= after;
            if (ru->secret)
                wait_echo_off(master);
            if (write_all(master, ru->reply, strlen(ru->reply)) < 0 ||
                write_all(master, "\n", 1) < 0) {
                fprintf(stderr, "ptyrun: writing to the terminal: %s\n", strerror(errno));
                break;
            }
        }
    }
    close(master);
    if (waitpid(pid, &st, 0) < 0) {
        fprintf(stderr, "ptyrun: waitpid: %s\n", strerror(errno));
        return 125;
    }
    for (size_t i = next; i < nrules; i++)
        fprintf(stderr, "ptyrun: prompt '%s' never appeared\n", rules[i].pattern);
    if (strict && next < nrules)
        return 125;
    if (WIFSIGNALED(st))
        return 128 + WTERMSIG(st);
    return WEXITSTATUS(st);
}
