/* fork_storm - fork() hundreds of times while other threads allocate.
 *
 *   fork_storm [FORKS [THREADS]]     FORKS: default 300; THREADS: default 3, 1 .. 16
 *
 * THREADS threads malloc, check and free blocks of pooled sizes without
 * pause (each keeps a window of live blocks, so their caches are never
 * empty and objects are in flight at every fork). The main thread holds some
 * blocks of its own and forks FORKS times. Each child, with its own alarm as
 * a hang guard, checks the blocks it inherited from its parent, frees some of
 * them, allocates, fills, checks and frees a few hundred blocks of pooled
 * sizes (every 25th child also from a new thread of its own), and _exit(0)s;
 * any mismatch is exit 1. The parent waits each child with a deadline
 * (waitpid polling; a child still running after it is killed and counted as
 * hung) and fails on any crash, hang or non-zero exit. At the end the
 * threads stop and report how much they did and any corruption they saw.
 * Prints one line ("fork_storm: ok ..." or "fork_storm: FAILED ...") and
 * exits 0 only when every child exited 0 and nothing was corrupt.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hout.h"

#define MAX_THREADS 16
#define WINDOW 64          /* live blocks a spinning thread keeps */
#define INHERITED 64       /* blocks the main thread holds across forks */
#define CHILD_BLOCKS 300   /* blocks a child allocates */
#define CHILD_ALARM 10     /* seconds before a child kills itself */
#define CHILD_DEADLINE 15  /* seconds before the parent gives up on it */

static const size_t sizes[] = {8, 16, 24, 32, 48, 64, 90, 128, 200, 256, 500, 1000, 4096};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static atomic_bool stop;
static atomic_ulong churn, corrupt;

/* Byte i of a block tagged `tag`. */
static inline unsigned char pat(uintptr_t tag, size_t i)
{
    return (unsigned char)(tag * 131 + i * 7 + (i >> 8));
}

static void fill(unsigned char *p, size_t n, uintptr_t tag)
{
    for (size_t i = 0; i < n; i++)
        p[i] = pat(tag, i);
}

static bool intact(const unsigned char *p, size_t n, uintptr_t tag)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != pat(tag, i))
            return false;
    return true;
}

struct held {
    unsigned char *p;
    size_t n;
};

static void *spin(void *arg)
{
    unsigned long long rng = 1234 + (uintptr_t)arg;
    struct held h[WINDOW] = {{0}};
    unsigned long done = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        struct held *s = &h[hrand(&rng) % WINDOW];
        if (s->p != NULL) {
            if (!intact(s->p, s->n, (uintptr_t)s->p))
                atomic_fetch_add(&corrupt, 1);
            free(s->p);
            s->p = NULL;
        }
        s->n = sizes[hrand(&rng) % NSIZES];
        s->p = malloc(s->n);
        if (s->p == NULL) {
            atomic_fetch_add(&corrupt, 1);
            continue;
        }
        fill(s->p, s->n, (uintptr_t)s->p);
        done++;
    }
    for (unsigned i = 0; i < WINDOW; i++) {
        if (h[i].p != NULL && !intact(h[i].p, h[i].n, (uintptr_t)h[i].p))
            atomic_fetch_add(&corrupt, 1);
        free(h[i].p);
    }
    atomic_fetch_add(&churn, done);
    return NULL;
}

static void *child_thread(void *arg)
{
    unsigned long long rng = (uintptr_t)arg;
    for (int i = 0; i < 100; i++) {
        size_t n = sizes[hrand(&rng) % NSIZES];
        unsigned char *p = malloc(n);
        if (p == NULL)
            return (void *)1;
        fill(p, n, (uintptr_t)i);
        if (!intact(p, n, (uintptr_t)i))
            return (void *)1;
        free(p);
    }
    return NULL;
}

/* The child's whole life. Returns its exit status. */
static int child(unsigned long k, struct held *inherited)
{
    alarm(CHILD_ALARM);
    unsigned long long rng = 99 + k;
    for (unsigned i = 0; i < INHERITED; i++) {
        if (!intact(inherited[i].p, inherited[i].n, i + 1))
            return 1;
        if (i % 2 == 0)
            free(inherited[i].p);
    }
    static struct held b[CHILD_BLOCKS];
    for (unsigned round = 0; round < 2; round++) {
        for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
            b[i].n = sizes[hrand(&rng) % NSIZES];
            b[i].p = malloc(b[i].n);
            if (b[i].p == NULL)
                return 1;
            fill(b[i].p, b[i].n, i + 1000);
        }
        for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
            if (!intact(b[i].p, b[i].n, i + 1000))
                return 1;
            b[i].p = realloc(b[i].p, b[i].n * 2);
            if (b[i].p == NULL || !intact(b[i].p, b[i].n, i + 1000))
                return 1;
        }
        /* free in a shuffled order, so that objects cross classes' lists */
        for (unsigned i = 0; i < CHILD_BLOCKS; i++) {
            unsigned j = i + (unsigned)(hrand(&rng) % (CHILD_BLOCKS - i));
            struct held t = b[i];
            b[i] = b[j];
            b[j] = t;
            free(b[i].p);
        }
    }
    if (k % 25 == 0) {
        pthread_t t;
        void *rc = (void *)1;
        if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)k) != 0 ||
            pthread_join(t, &rc) != 0 || rc != NULL)
            return 1;
    }
    return 0;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Wait for pid until the deadline. Returns its wait status, or -1 when it
 * had to be killed. */
static int wait_child(pid_t pid)
{
    double deadline = now() + CHILD_DEADLINE;
    long pause_ns = 20000;
    for (;;) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return status;
        if (r < 0 && errno != EINTR)
            return -2;
        if (now() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return -1;
        }
        struct timespec t = {0, pause_ns};
        nanosleep(&t, NULL);
        if (pause_ns < 2000000)
            pause_ns *= 2;
    }
}

int main(int argc, char **argv)
{
    unsigned long forks = argc > 1 ? harg(argv[1]) : 300;
    unsigned long nthreads = argc > 2 ? harg(argv[2]) : 3;
    if (argc > 3 || nthreads < 1 || nthreads > MAX_THREADS) {
        hout_fd(2, "usage: fork_storm [FORKS [THREADS (1..16)]]");
        return 2;
    }
    pthread_t t[MAX_THREADS];
    for (unsigned long i = 0; i < nthreads; i++)
        if (pthread_create(&t[i], NULL, spin, (void *)(uintptr_t)i) != 0) {
            hout_fd(2, "fork_storm: pthread_create failed");
            return 2;
        }

    static struct held inherited[INHERITED];
    for (unsigned i = 0; i < INHERITED; i++) {
        inherited[i].n = sizes[i % NSIZES];
        inherited[i].p = malloc(inherited[i].n);
        if (inherited[i].p == NULL) {
            hout_fd(2, "fork_storm: malloc failed");
            return 2;
        }
        fill(inherited[i].p, inherited[i].n, i + 1);
    }

    unsigned long ok = 0, crashed = 0, hung = 0, failed = 0, nofork = 0;
    double worst = 0;
    for (unsigned long k = 0; k < forks; k++) {
        double t0 = now();
        pid_t pid = fork();
        if (pid < 0) {
            if (nofork++ < 3)
                fail("fork %lu: fork() failed, errno %d", k, errno);
            continue;
        }
        if (pid == 0)
            _exit(child(k, inherited));
        int status = wait_child(pid);
        double took = now() - t0;
        worst = took > worst ? took : worst;
        if (status == -1) {
            if (hung++ < 3)
                fail("fork %lu: child %d still running after %d s: killed", k,
                     (int)pid, CHILD_DEADLINE);
        } else if (status == -2) {
            if (failed++ < 3)
                fail("fork %lu: waitpid failed, errno %d", k, errno);
        } else if (WIFSIGNALED(status)) {
            if (crashed++ < 3)
                fail("fork %lu: child %d killed by signal %d%s", k, (int)pid,
                     WTERMSIG(status),
                     WTERMSIG(status) == SIGALRM ? " (its alarm: a hang)" : "");
        } else if (WEXITSTATUS(status) != 0) {
            if (failed++ < 3)
                fail("fork %lu: child %d exited %d (a check failed)", k, (int)pid,
                     WEXITSTATUS(status));
        } else {
            ok++;
        }
        /* the parent's allocator must still work after each fork */
        void *p = malloc(64);
        if (p == NULL)
            fail("fork %lu: parent malloc(64) failed", k);
        free(p);
    }

    atomic_store(&stop, true);
    for (unsigned long i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    for (unsigned i = 0; i < INHERITED; i++) {
        if (!intact(inherited[i].p, inherited[i].n, i + 1))
            fail("the parent's block %u was changed", i);
        free(inherited[i].p);
    }
    if (atomic_load(&corrupt) != 0)
        fail("the spinning threads saw %lu corrupt blocks or NULLs",
             (unsigned long)atomic_load(&corrupt));
    if (atomic_load(&churn) == 0)
        fail("the spinning threads did nothing");
    say("fork_storm: %s forks=%lu ok=%lu crashed=%lu hung=%lu failed=%lu "
        "threads=%lu churn=%lu slowest=%.3fs",
        hout_status() == 0 ? "ok" : "FAILED", forks, ok, crashed, hung,
        failed + nofork, nthreads, (unsigned long)atomic_load(&churn), worst);
    return hout_status();
}
