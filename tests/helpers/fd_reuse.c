/* fd_reuse - a program that closes descriptors it did not open and reuses
 * their numbers for its own files, as daemons and coreutils do.
 *
 *   fd_reuse reuse FILE          close every fd above 2, open /dev/null until
 *                                fd 99 is taken, then FILE: it gets 100 (and
 *                                is dup'ed onto 101..131 as well, wherever
 *                                a copy of stderr may have been); write a
 *                                known text through fd 100
 *   fd_reuse reuse-stderr FILE   the same, and fd 2 becomes /dev/null too
 *   fd_reuse reuse-threads FILE  the same as reuse, then 16 threads allocate
 *                                (the shim sets up its figures for each: the
 *                                live file grows for them)
 *   fd_reuse close-stderr        close fd 2 only
 *
 * Then a few pooled allocations, and exit() (the shim's exit report runs).
 * FILE must hold exactly the text written: "line N of fd_reuse\n" for N in
 * 1..50. Prints nothing on success; on a failed set-up, "FAIL: ..." on
 * stdout and exit 1.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hout.h"

#define FIRST 100
#define LAST 131

static int take_numbers_up_to(int last)
{
    for (;;) {
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -1;
        if (fd >= last)
            return 0;
    }
}

static int write_text(int fd)
{
    for (int i = 1; i <= 50; i++) {
        char line[64];
        int n = snprintf(line, sizeof line, "line %d of fd_reuse\n", i);
        if (write(fd, line, (size_t)n) != n)
            return -1;
    }
    return 0;
}

static int reuse(const char *path, bool stderr_too)
{
    if (close_range(3, ~0U, 0) != 0) {
        fail("close_range: errno %d", errno);
        return -1;
    }
    if (take_numbers_up_to(FIRST - 1) != 0) {
        fail("cannot fill fds 3..%d: errno %d", FIRST - 1, errno);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd != FIRST) {
        fail("open %s gave fd %d, want %d", path, fd, FIRST);
        return -1;
    }
    for (int k = FIRST + 1; k <= LAST; k++)
        if (dup3(fd, k, O_CLOEXEC) != k) {
            fail("dup3 onto %d: errno %d", k, errno);
            return -1;
        }
    if (stderr_too) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 2) != 2) {
            fail("cannot make fd 2 /dev/null: errno %d", errno);
            return -1;
        }
        close(null);
    }
    if (write_text(fd) != 0) {
        fail("write %s: errno %d", path, errno);
        return -1;
    }
    return 0;
}

static pthread_barrier_t all_in;

/* Each thread allocates, then waits until all have: 16 live at once. */
static void *allocate(void *arg)
{
    (void)arg;
    for (int i = 0; i < 4; i++) {
        void *p = malloc(64);
        escape(p);
        free(p);
    }
    pthread_barrier_wait(&all_in);
    return NULL;
}

/* Threads that start after the program took the shim's descriptor numbers. */
static int threads(void)
{
    pthread_t t[16];
    pthread_barrier_init(&all_in, NULL, 16);
    for (int i = 0; i < 16; i++)
        if (pthread_create(&t[i], NULL, allocate, NULL) != 0) {
            fail("pthread_create: errno %d", errno);
            return -1;
        }
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        hout_fd(2, "usage: fd_reuse reuse|reuse-stderr|reuse-threads FILE | close-stderr");
        return 2;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "close-stderr") == 0) {
        close(2);
    } else if ((strcmp(cmd, "reuse") == 0 || strcmp(cmd, "reuse-stderr") == 0 ||
                strcmp(cmd, "reuse-threads") == 0) && argc == 3) {
        if (reuse(argv[2], strcmp(cmd, "reuse-stderr") == 0) != 0)
            exit(1);
        if (strcmp(cmd, "reuse-threads") == 0 && threads() != 0)
            exit(1);
    } else {
        hout_fd(2, "fd_reuse: unknown command %s", cmd);
        return 2;
    }
    /* something for the table to count */
    void *p[8];
    for (int i = 0; i < 8; i++)
        escape(p[i] = malloc(64));
    for (int i = 0; i < 8; i++)
        free(p[i]);
    exit(hout_status());
}
