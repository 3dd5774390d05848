/* thread_exit_cache - threads that exit while their caches hold objects.
 *
 *   thread_exit_cache SIZE COUNT ROUNDS THREADS [LATE_SIZE]
 *
 * Run with one class SIZE:COUNT and POOLSHIM_STRICT=1. In each round THREADS
 * threads each get a share of the class and free most of it just before
 * they end (so their caches are full when they exit); half end by returning,
 * half by pthread_exit(); every thread also keeps two objects that the main
 * thread frees after the join, and has a thread-specific-data destructor
 * that allocates and frees again while the thread is being torn down (after
 * the shim's own destructor, or before it). Before the rounds the main thread
 * counts the objects it can get (baseline=: COUNT less what glibc itself keeps,
 * see main), afterwards it must get exactly as many (reacquired=: nothing lost
 * in a dead thread's cache) and then ENOMEM (extra=). Also prints late= and
 * late_null=: the destructor's allocations of LATE_SIZE bytes (default
 * SIZE) that were pooled, and those that were refused; give LATE_SIZE a class
 * of its own, and no refusal is possible: at most 3 per thread are out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hout.h"

#define MAX_THREADS 32
#define KEEP 2

static size_t size, share, late_size;
static pthread_key_t key;
static atomic_ulong late_ok, late_null;

struct worker {
    pthread_t tid;
    unsigned id;
    void *kept[KEEP];
};

/* Runs at thread exit, possibly after the shim's own teardown: allocate and
 * free again, and re-arm once so that it also runs in a later round of
 * destructor calls. */
static void late(void *arg)
{
    uintptr_t left = (uintptr_t)arg;
    void *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = malloc(late_size);
        if (p[i] != NULL)
            memset(p[i], 0x77, late_size);
    }
    for (int i = 0; i < 3; i++) {
        if (p[i] == NULL)
            atomic_fetch_add(&late_null, 1);
        else if (malloc_usable_size(p[i]) == late_size)
            atomic_fetch_add(&late_ok, 1);
        free(p[i]);
    }
    if (left > 1)
        pthread_setspecific(key, (void *)(left - 1));
}

static void *work(void *arg)
{
    struct worker *w = arg;
    void **p = calloc(share, sizeof *p);
    pthread_setspecific(key, (void *)(uintptr_t)2);
    for (size_t i = 0; i < share; i++) {
        p[i] = malloc(size);
        if (p[i] != NULL)
            memset(p[i], (int)w->id, size);
    }
    for (int i = 0; i < KEEP; i++)
        w->kept[i] = p[i];
    for (size_t i = KEEP; i < share; i++)
        free(p[i]);
    free(p);
    if (w->id & 1)
        pthread_exit(NULL);
    return NULL;
}

static void *exit_at_once(void *arg)
{
    pthread_exit(arg);
}

/* Get objects of SIZE until the class refuses (at most max); free them all.
 * Returns how many were pooled; *extra tells how the first refusal looked. */
static unsigned long grab_all(unsigned long max, const char **extra)
{
    void **all = calloc(max + 1, sizeof *all);
    unsigned long n = 0, pooled = 0;
    *extra = "nonnull";
    for (; n <= max; n++) {
        errno = 0;
        all[n] = malloc(size);
        if (all[n] == NULL) {
            *extra = errno == ENOMEM ? "ENOMEM" : "null";
            break;
        }
        pooled += malloc_usable_size(all[n]) == size;
    }
    for (unsigned long i = 0; i < n; i++)
        free(all[i]);
    free(all);
    return pooled;
}

int main(int argc, char **argv)
{
    if (argc != 5 && argc != 6) {
        hout_fd(2, "usage: thread_exit_cache SIZE COUNT ROUNDS THREADS [LATE_SIZE]");
        return 2;
    }
    size = harg(argv[1]);
    late_size = argc == 6 ? harg(argv[5]) : size;
    unsigned long count = harg(argv[2]), rounds = harg(argv[3]);
    unsigned long nthreads = harg(argv[4]);
    if (nthreads == 0 || nthreads > MAX_THREADS)
        return 2;
    share = count / nthreads;
    if (share <= KEEP)
        return 2;
    pthread_key_create(&key, late);

    /* glibc's first pthread_exit() dlopens libgcc_s, whose loader data stays
     * allocated (a few small objects): take that out of the count first */
    pthread_t t;
    pthread_create(&t, NULL, exit_at_once, NULL);
    pthread_join(t, NULL);
    const char *extra;
    unsigned long baseline = grab_all(count, &extra);
    say("baseline=%lu", baseline);

    static struct worker w[MAX_THREADS];
    for (unsigned long r = 0; r < rounds; r++) {
        for (unsigned i = 0; i < nthreads; i++) {
            w[i].id = i;
            pthread_create(&w[i].tid, NULL, work, &w[i]);
        }
        for (unsigned i = 0; i < nthreads; i++) {
            pthread_join(w[i].tid, NULL);
            for (int k = 0; k < KEEP; k++)
                free(w[i].kept[k]);
        }
    }

    unsigned long again = grab_all(count, &extra);
    say("reacquired=%lu", again);
    say("extra=%s", extra);
    say("late=%lu", (unsigned long)atomic_load(&late_ok));
    say("late_null=%lu", (unsigned long)atomic_load(&late_null));
    return hout_status();
}
