/* stats_mix - a known set of allocations, for the shim's statistics outputs
 * (POOLSHIM_STATS_FILE, POOLSHIM_STATS_SIGNAL; tests/test_stats.c).
 *
 *   stats_mix none [STATUS]      no allocation at all (the baseline)
 *   stats_mix mix [STATUS]       part 1, then part 2
 *   stats_mix signal [FILE]      part 1, SIGUSR1 to itself, FILE's content,
 *                                part 2
 *   stats_mix fork               part 1, part 2, then one fork; the child
 *                                makes 2 more malloc(64) and exits normally
 *
 * Meant for POOLSHIM_CLASSES=64:100,256:10:
 *   part 1: 10 malloc(64), the last 3 freed     64: in use 7, served 10
 *   part 2: 12 malloc(200), all kept            256: served 10, 2 misses
 *           5 malloc(100000), each freed        uncovered 5
 * Every line is "key=value" on stdout, written without stdio (hout.h), so the
 * shim sees only these requests. Exits STATUS (default 0), or 1 when a
 * self-check failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hout.h"

static void *small[16];
static void *medium[16];

static void part1(void)
{
    size_t pooled = 0;
    for (int i = 0; i < 10; i++) {
        small[i] = malloc(64);
        expect(small[i] != NULL);
        if (small[i] != NULL && malloc_usable_size(small[i]) == 64)
            pooled++;
        escape(small[i]);
    }
    for (int i = 7; i < 10; i++)
        free(small[i]);
    say("pooled64=%zu", pooled);
}

static void part2(void)
{
    size_t pooled = 0, fallback = 0, refused = 0, uncovered = 0;
    for (int i = 0; i < 12; i++) {
        errno = 0;
        medium[i] = malloc(200);
        if (medium[i] == NULL)
            refused += errno == ENOMEM;
        else if (malloc_usable_size(medium[i]) == 256)
            pooled++;
        else
            fallback++;
        escape(medium[i]);
    }
    for (int i = 0; i < 5; i++) {
        void *p = malloc(100000);
        uncovered += p != NULL;
        escape(p);
        free(p);
    }
    say("pooled256=%zu", pooled);
    say("fallback256=%zu", fallback);
    say("refused256=%zu", refused);
    say("uncovered=%zu", uncovered);
}

static int cmd_fork(void)
{
    part1();
    part2();
    pid_t pid = fork();
    if (pid < 0) {
        fail("fork: errno %d", errno);
        return hout_status();
    }
    if (pid == 0) {
        for (int i = 10; i < 12; i++) {
            small[i] = malloc(64);
            expect(small[i] != NULL && malloc_usable_size(small[i]) == 64);
            escape(small[i]);
        }
        say("child_pid=%d", (int)getpid());
        exit(hout_status()); /* exit, not _exit: the shim's destructor runs */
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    say("forked=%d", (int)pid);
    say("child_status=%d", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    return hout_status();
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        hout_fd(2, "usage: stats_mix none|mix [STATUS] | signal [FILE] | fork");
        return 2;
    }
    const char *cmd = argv[1];
    say("pid=%d", (int)getpid());
    if (strcmp(cmd, "none") == 0 || strcmp(cmd, "mix") == 0) {
        int status = argc > 2 ? (int)harg(argv[2]) : 0;
        if (strcmp(cmd, "mix") == 0) {
            part1();
            part2();
        }
        return hout_failures ? 1 : status;
    }
    if (strcmp(cmd, "signal") == 0) {
        part1();
        /* delivered to this thread before kill() returns */
        if (kill(getpid(), SIGUSR1) != 0)
            fail("kill: errno %d", errno);
        if (argc > 2)
            hout_file("mid", argv[2]);
        part2();
        return hout_status();
    }
    if (strcmp(cmd, "fork") == 0)
        return cmd_fork();
    hout_fd(2, "stats_mix: unknown command %s", cmd);
    return 2;
}
