/* lat_calls - known allocator calls, for the timing mode (POOLSHIM_LATENCY;
 * tests/test_latency.c counts them in the files the shim writes).
 *
 *   lat_calls none            no call at all (the baseline: what ld.so and
 *                             libc do around any program)
 *   lat_calls mix             the mix below, then exit
 *   lat_calls mix-exit        the mix, then _exit(0): no exit handlers
 *   lat_calls fork            the mix, then a child that makes 7 malloc(64)
 *                             and 7 frees of them and exits; prints child=PID
 *   lat_calls threads N       N threads at once, each 1000 malloc(64)+free
 *   lat_calls dry             100 malloc(64), all kept
 *   lat_calls touch           2000 malloc(64)+free pairs, and before each
 *                             pair the program writes a fresh page itself
 *   lat_calls grow            200 malloc(4000), all kept, on a heap that
 *                             grows a page at a time (M_TOP_PAD 0): each call
 *                             writes into a new page of the heap
 *
 * The mix, meant for POOLSHIM_CLASSES=64:100,256:10 (counts per kind):
 *   10 malloc(64)                        pool 10
 *   12 malloc(200)                       pool 10, dry 2
 *   5 malloc(100000), each freed         uncovered 5, free_other 5
 *   3 free of the malloc(64) objects     free_pool 3
 *   1 calloc(4, 16)                      pool 1
 *   1 posix_memalign(64, 64)             pool 1
 *   2 realloc of a malloc(64) object     realloc 2
 * (with POOLSHIM_CLASSES=none every allocation is uncovered and every free
 * free_other). Output without stdio (hout.h): "key=value" lines, the same
 * in every run (no pid but the fork child's).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hout.h"

static void *keep[64];

static void mix(void)
{
    for (int i = 0; i < 10; i++)
        escape(keep[i] = malloc(64));
    for (int i = 10; i < 22; i++)
        escape(keep[i] = malloc(200));
    for (int i = 0; i < 5; i++) {
        void *p = malloc(100000);
        escape(p);
        free(p);
    }
    for (int i = 7; i < 10; i++)
        free(keep[i]);
    escape(keep[22] = calloc(4, 16));
    void *a = NULL;
    expect(posix_memalign(&a, 64, 64) == 0);
    escape(keep[23] = a);
    void *r = realloc(keep[0], 60); /* same class: stays */
    expect(r == keep[0]);
    escape(keep[0] = realloc(r, 48));
    say("mix=done");
}

static void *thread_pairs(void *arg)
{
    (void)arg;
    for (int i = 0; i < 1000; i++) {
        void *p = malloc(64);
        escape(p);
        free(p);
    }
    return NULL;
}

static int cmd_threads(unsigned n)
{
    pthread_t t[64];
    if (n > 64)
        n = 64;
    for (unsigned i = 0; i < n; i++)
        expect(pthread_create(&t[i], NULL, thread_pairs, NULL) == 0);
    for (unsigned i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    say("threads=%u", n);
    return hout_status();
}

static int cmd_fork(void)
{
    mix();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 24; i < 31; i++)
            escape(keep[i] = malloc(64));
        for (int i = 24; i < 31; i++)
            free(keep[i]);
        exit(0);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    say("child=%d", (int)pid);
    expect(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    return hout_status();
}

static int cmd_touch(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), pages = 2000;
    char *mem = mmap(NULL, pages * page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    expect(mem != MAP_FAILED && madvise(mem, pages * page, MADV_NOHUGEPAGE) == 0);
    if (mem == MAP_FAILED)
        return hout_status();
    for (size_t i = 0; i < pages; i++) {
        mem[i * page] = 1; /* a fault of the program's own */
        void *p = malloc(64);
        escape(p);
        free(p);
    }
    say("touched=%zu", pages);
    return hout_status();
}

static int cmd_grow(void)
{
    expect(mallopt(M_TOP_PAD, 0) == 1);
    expect(mallopt(M_MMAP_THRESHOLD, 1 << 20) == 1);
    for (int i = 0; i < 200; i++)
        escape(malloc(4000));
    say("grown=200");
    return hout_status();
}

int main(int argc, char **argv)
{
    const char *cmd = argc > 1 ? argv[1] : "";
    if (strcmp(cmd, "none") == 0)
        return 0;
    if (strcmp(cmd, "mix") == 0) {
        mix();
        return hout_status();
    }
    if (strcmp(cmd, "mix-exit") == 0) {
        mix();
        _exit(hout_status());
    }
    if (strcmp(cmd, "fork") == 0)
        return cmd_fork();
    if (strcmp(cmd, "threads") == 0 && argc > 2)
        return cmd_threads((unsigned)harg(argv[2]));
    if (strcmp(cmd, "dry") == 0) {
        for (int i = 0; i < 100; i++)
            escape(malloc(64));
        return 0;
    }
    if (strcmp(cmd, "touch") == 0)
        return cmd_touch();
    if (strcmp(cmd, "grow") == 0)
        return cmd_grow();
    hout_fd(2, "usage: lat_calls none|mix|mix-exit|fork|threads N|dry|touch|grow");
    return 2;
}
