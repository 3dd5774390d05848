/* profile_fork - a forked child's POOLSHIM_PROFILE block (tests/test_stats.c,
 * tests/test_recommend.c).
 *
 *   profile_fork N M
 *
 * The parent allocates one block larger than 1 MiB (freed) and N blocks of
 * SIZE bytes (kept), then forks; the child allocates M more blocks of SIZE,
 * keeps them all and exits normally, which writes its block; the parent
 * waits for it and exits. The child's block must count its own requests
 * only, and a peak that starts from the N blocks it inherited live:
 *   parent: BUCKET N N,       larger 1
 *   child:  BUCKET M (N + M), larger 0
 * so that the merged profile counts N + M requests of SIZE, not 2N + M.
 * Prints (without stdio, hout.h) "pid=", "child=" (the child's pid) and
 * "bucket=" (SIZE's usable size rounded up to 16: the bucket). Exits 0, or
 * 1 when a self-check failed.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hout.h"

#define SIZE 3000
#define LARGE ((size_t)3 << 20)
#define KEEP_MAX 1000

static void *keep[2 * KEEP_MAX];

static void allocate(unsigned long from, unsigned long to)
{
    for (unsigned long i = from; i < to; i++) {
        keep[i] = malloc(SIZE);
        expect(keep[i] != NULL);
        escape(keep[i]);
    }
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        hout_fd(2, "usage: profile_fork N M");
        return 2;
    }
    unsigned long n = harg(argv[1]), m = harg(argv[2]);
    if (n < 1 || n > KEEP_MAX || m < 1 || m > KEEP_MAX) {
        hout_fd(2, "profile_fork: N and M from 1 to %d", KEEP_MAX);
        return 2;
    }
    say("pid=%d", (int)getpid());
    void *big = malloc(LARGE);
    expect(big != NULL);
    escape(big);
    free(big);
    allocate(0, n);
    size_t bucket = (malloc_usable_size(keep[0]) + 15) / 16 * 16;
    pid_t child = fork();
    if (child < 0) {
        fail("fork");
        return hout_status();
    }
    if (child == 0) {
        allocate(n, n + m);
        exit(hout_status()); /* exit, not _exit: the shim writes at exit */
    }
    int status;
    expect(waitpid(child, &status, 0) == child);
    expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    say("child=%d", (int)child);
    say("bucket=%zu", bucket);
    return hout_status();
}
