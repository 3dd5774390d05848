/* fork_mt - fork() again and again while other threads allocate.
 *
 *   fork_mt FORKS THREADS
 *
 * THREADS threads malloc, realloc and free mixed sizes without pause while
 * the main thread forks FORKS times. Each child allocates, checks and frees
 * (every tenth child also from a new thread of its own) and exits 0; a child
 * that hangs is killed by its own alarm (5 s), and the whole program by its
 * alarm (60 s), so a deadlock shows as a signal, never as a hang.
 * Prints forks= and ok= (children that exited 0).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hout.h"

#define MAX_THREADS 16

static atomic_bool stop;
static atomic_ulong churn;

static const size_t sizes[] = {8, 24, 64, 100, 128, 256, 1000, 4096, 9000};
#define NSIZES (sizeof sizes / sizeof sizes[0])

static void *spin(void *arg)
{
    unsigned long long rng = 77 + (size_t)arg;
    void *held[32] = {0};
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned i = (unsigned)(hrand(&rng) % 32);
        size_t n = sizes[hrand(&rng) % NSIZES];
        if (held[i] == NULL) {
            held[i] = malloc(n);
            if (held[i])
                memset(held[i], 1, n);
        } else if (hrand(&rng) & 1) {
            void *q = realloc(held[i], n);
            if (q)
                held[i] = q;
        } else {
            free(held[i]);
            held[i] = NULL;
        }
        atomic_fetch_add_explicit(&churn, 1, memory_order_relaxed);
    }
    for (int i = 0; i < 32; i++)
        free(held[i]);
    return NULL;
}

/* The child's work; returns false when a block was wrong. */
static bool child_work(void)
{
    void *p[2 * NSIZES];
    bool ok = true;
    for (int round = 0; round < 20; round++) {
        for (size_t i = 0; i < 2 * NSIZES; i++) {
            size_t n = sizes[i % NSIZES];
            p[i] = (i & 1) ? calloc(1, n) : malloc(n);
            if (p[i] == NULL || malloc_usable_size(p[i]) < n)
                return false;
            memset(p[i], (int)i, n);
        }
        for (size_t i = 0; i < 2 * NSIZES; i++) {
            size_t n = sizes[i % NSIZES];
            const unsigned char *b = p[i];
            if (b[0] != (unsigned char)i || b[n - 1] != (unsigned char)i)
                ok = false;
            void *q = realloc(p[i], n * 2);
            if (q == NULL)
                return false;
            free(q);
        }
    }
    return ok;
}

static void *child_thread(void *arg)
{
    *(bool *)arg = child_work();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        hout_fd(2, "usage: fork_mt FORKS THREADS");
        return 2;
    }
    unsigned long forks = harg(argv[1]), nthreads = harg(argv[2]);
    if (nthreads > MAX_THREADS)
        return 2;
    alarm(60);

    pthread_t t[MAX_THREADS];
    for (size_t i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, spin, (void *)i);
    while (atomic_load(&churn) < 1000)
        sched_yield();

    unsigned long ok = 0, done = 0;
    for (unsigned long k = 0; k < forks; k++) {
        pid_t pid = fork();
        if (pid < 0) {
            fail("fork: %d", errno);
            break;
        }
        if (pid == 0) {
            alarm(5);
            bool good = child_work();
            if (k % 10 == 0) {
                pthread_t ct;
                bool tgood = false;
                if (pthread_create(&ct, NULL, child_thread, &tgood) != 0 ||
                    pthread_join(ct, NULL) != 0)
                    tgood = false;
                good = good && tgood;
            }
            exit(good ? 0 : 1);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            ;
        done++;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            ok++;
        else if (WIFSIGNALED(status))
            fail("fork %lu: child killed by signal %d", k, WTERMSIG(status));
        else
            fail("fork %lu: child exit status %d", k, WEXITSTATUS(status));
    }
    atomic_store(&stop, true);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    say("forks=%lu", done);
    say("ok=%lu", ok);
    return hout_status();
}
