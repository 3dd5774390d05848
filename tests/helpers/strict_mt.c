/* strict_mt - strict-mode backpressure under several threads.
 *
 *   strict_mt [COUNT [THREADS [ROUNDS]]]   defaults 1024, 4, 20; THREADS 2 .. 16
 *
 * Run with POOLSHIM_STRICT=1 POOLSHIM_CLASSES=64:COUNT, with or without
 * POOLSHIM_CACHE=0 (the helper reads that variable to know which bound
 * holds). Let cap = 2 * min(256, COUNT / 8), the most one thread's cache
 * keeps of 64-byte objects (two magazines; pool_classes_cache_bound), or 0
 * without caches or when COUNT / 8 < 2. Every count of objects is taken by a short-lived
 * thread (whose cache goes back when it ends), so that the main thread
 * never caches any object itself.
 *
 *   baseline   a thread takes objects until refused: COUNT exactly (nothing
 *              else in this process uses 64-byte objects). glibc's first
 *              pthread_exit() loads libgcc_s, whose loader data keeps a few
 *              small objects for good; counted again after one, that is the
 *              baseline for what follows (at most RUNTIME_KEEPS fewer).
 *   parked     THREADS threads take and free a share each, so their caches
 *              fill, and wait; a thread then gets at least
 *              baseline - THREADS * cap (exactly baseline without caches).
 *              A child forked now gets baseline (the parked threads' caches
 *              are the child's: those threads do not exist there).
 *              The parked threads end (half return, half pthread_exit):
 *              a thread then gets baseline again (their caches came back).
 *   race       ROUNDS times: THREADS threads start together and take objects
 *              of sizes 1..64, giving some back one at a time and some in
 *              bursts (which fill their caches and spill to the depot); every
 *              refusal must be NULL with errno ENOMEM. Even rounds run until
 *              every thread was refused: they then hold exactly baseline (a
 *              refused thread's cache is empty), and a fresh thread is
 *              refused by malloc, calloc, realloc(NULL), posix_memalign,
 *              aligned_alloc and memalign (ENOMEM; posix_memalign leaves
 *              *memptr alone), while malloc(65), which no class covers, still
 *              succeeds. Odd rounds stop at the first refusal: a fresh thread
 *              then takes what is left in the depot; held + left is at least
 *              baseline - (THREADS - 1) * cap, and without caches it is
 *              baseline with at most THREADS - 1 left (frees in flight when
 *              the refusal happened). After each round the threads free
 *              everything and end, and a thread gets baseline again.
 *
 * Prints one key=value line per phase and a closing "strict_mt: ok ..." or
 * "strict_mt: FAILED ..." line; exits 0 only when every check held.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hout.h"

#define MAX_THREADS 16
#define SIZE 64
#define RUNTIME_KEEPS 8 /* objects glibc may keep after a pthread_exit */

static unsigned long count, nthreads, cap;

/* a - b, or 0: a lower bound that the caches' bound may take below zero */
static unsigned long minus(unsigned long a, unsigned long b)
{
    return a > b ? a - b : 0;
}
static pthread_barrier_t start_line, all_refused, release_line;

/* ---- running something in a short-lived thread ---- */

static unsigned long in_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    void *rc = NULL;
    if (pthread_create(&t, NULL, fn, arg) != 0) {
        fail("pthread_create failed");
        return 0;
    }
    pthread_join(t, &rc);
    return (unsigned long)(uintptr_t)rc;
}

/* Take SIZE-byte objects until refused (or more than count + 64: the class
 * does not refuse, not strict?), then free them all. Returns how many. */
static void *grab_all(void *arg)
{
    (void)arg;
    unsigned long max = count + 64, n = 0;
    void **all = malloc((max + 1) * sizeof *all); /* > 64 bytes: not pooled */
    if (all == NULL)
        return NULL;
    for (; n <= max; n++) {
        errno = 0;
        all[n] = malloc(SIZE);
        if (all[n] == NULL) {
            if (errno != ENOMEM)
                fail("grab: refusal with errno %d, not ENOMEM", errno);
            break;
        }
        memset(all[n], 0x5A, SIZE);
    }
    if (n > max)
        fail("grab: more than %lu objects of %d bytes: is this run with "
             "POOLSHIM_STRICT=1 POOLSHIM_CLASSES=%d:%lu?", max, SIZE, SIZE, count);
    for (unsigned long i = 0; i < n; i++)
        free(all[i]);
    free(all);
    return (void *)(uintptr_t)n;
}

static void *ends_at_once(void *arg)
{
    pthread_exit(arg);
}

/* ---- parked: threads whose caches are full, waiting ---- */

static void *park(void *arg)
{
    unsigned long idx = (uintptr_t)arg, share = count / nthreads / 2;
    void **p = malloc(share * sizeof *p + 128); /* > 64 bytes: not pooled */
    for (unsigned long i = 0; i < share; i++)
        p[i] = malloc(SIZE);
    for (unsigned long i = 0; i < share; i++)
        free(p[i]);
    free(p);
    pthread_barrier_wait(&start_line);   /* parked: caches full */
    pthread_barrier_wait(&release_line); /* main has counted */
    if (idx & 1)
        pthread_exit(NULL);
    return NULL;
}

/* Fork (the parked threads' caches are full) and count in the child, which
 * has only the forking thread: the others' cached objects must be its own.
 * Returns the child's count, or -1 when it failed or hung. */
static long count_in_child(void)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        alarm(10);
        close(fd[0]);
        unsigned long n = (unsigned long)(uintptr_t)grab_all(NULL);
        _exit(write(fd[1], &n, sizeof n) == (ssize_t)sizeof n ? 0 : 1);
    }
    close(fd[1]);
    unsigned long n = 0;
    ssize_t got = pid > 0 ? read(fd[0], &n, sizeof n) : -1;
    close(fd[0]);
    int status = 0;
    if (pid > 0)
        waitpid(pid, &status, 0);
    if (pid < 0 || got != (ssize_t)sizeof n || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        fail("the child forked while the threads were parked failed "
             "(status %#x)", status);
        return -1;
    }
    return (long)n;
}

/* ---- race ---- */

struct racer {
    pthread_t tid;
    unsigned idx;
    unsigned long n;    /* objects held */
    unsigned long bad;  /* refusals that were not NULL + ENOMEM */
    unsigned long never; /* 1 when no refusal came at all */
    void **held;
};

static bool stop_at_first;          /* this round ends at the first refusal */
static atomic_bool someone_refused;

static bool over(void)
{
    return stop_at_first && atomic_load(&someone_refused);
}

/* Take objects of sizes 1..SIZE, give some back one at a time and some in
 * bursts (which fill the cache and spill to the depot), until refused; in a
 * stop_at_first round also stop as soon as any thread was refused. */
static void *race(void *arg)
{
    struct racer *r = arg;
    unsigned long long rng = 0xC0FFEE + r->idx * 7919 + (uintptr_t)r->held;
    unsigned long tries = 0, limit = 16 * count + 1024;
    pthread_barrier_wait(&start_line);
    while (!over()) {
        /* on average +0.78 - 0.22 - (cap + 1.5) / 1024: always growing, as
         * cap (two magazines) is at most 512 */
        unsigned op = (unsigned)(hrand(&rng) % 1024);
        if (op < 800 || r->n == 0) {
            errno = 0;
            size_t n = 1 + hrand(&rng) % SIZE;
            void *p = malloc(n);
            if (p == NULL) {
                if (errno != ENOMEM)
                    r->bad++;
                atomic_store(&someone_refused, true);
                break;
            }
            if (r->n == count) { /* more than the class holds: not strict */
                free(p);
                r->never++;
                break;
            }
            memset(p, (int)r->idx, n);
            r->held[r->n++] = p;
        } else if (op < 1023) {
            free(r->held[--r->n]);
        } else {
            unsigned long burst = 1 + hrand(&rng) % (2 * cap + 2);
            for (unsigned long k = 0; k < burst && r->n > 0 && !over(); k++)
                free(r->held[--r->n]);
        }
        if (tries % 32 == 0)
            sched_yield(); /* interleave the threads, even on few cores */
        if (++tries > limit) { /* never refused: not strict? */
            r->never++;
            break;
        }
    }
    pthread_barrier_wait(&all_refused);  /* main counts, a probe runs */
    pthread_barrier_wait(&release_line);
    for (unsigned long i = 0; i < r->n; i++)
        free(r->held[i]);
    r->n = 0;
    if (r->idx & 1)
        pthread_exit(NULL);
    return NULL;
}

/* A fresh thread, in a class that should be empty: every form of request
 * must be refused with ENOMEM. Returns the number of wrong answers. */
static void *probe(void *arg)
{
    (void)arg;
    unsigned long wrong = 0;
    void *p;
#define REFUSED(call, what)                                                  \
    do {                                                                     \
        errno = 0;                                                           \
        p = (call);                                                          \
        if (p != NULL || errno != ENOMEM) {                                  \
            if (wrong++ < 5)                                                 \
                fail("probe: %s gave %p, errno %d; expected NULL, ENOMEM",   \
                     what, p, errno);                                        \
            free(p);                                                         \
        }                                                                    \
    } while (0)
    REFUSED(malloc(SIZE), "malloc(64)");
    REFUSED(malloc(1), "malloc(1)");
    REFUSED(calloc(4, SIZE / 4), "calloc(4, 16)");
    REFUSED(realloc(NULL, SIZE), "realloc(NULL, 64)");
    REFUSED(aligned_alloc(16, SIZE), "aligned_alloc(16, 64)");
    REFUSED(memalign(32, 48), "memalign(32, 48)");
#undef REFUSED
    void *q = &p;
    int rc = posix_memalign(&q, 16, SIZE);
    if (rc != ENOMEM || q != &p) {
        if (wrong++ < 5)
            fail("probe: posix_memalign(16, 64) = %d%s; expected ENOMEM", rc,
                 q != &p ? ", *memptr changed" : "");
        if (rc == 0)
            free(q);
    }
    /* a size no class covers goes to the real allocator, strict or not */
    p = malloc(SIZE + 1);
    if (p == NULL) {
        wrong++;
        fail("probe: malloc(65) (no class) was refused");
    }
    free(p);
    return (void *)(uintptr_t)wrong;
}

int main(int argc, char **argv)
{
    count = argc > 1 ? harg(argv[1]) : 1024;
    nthreads = argc > 2 ? harg(argv[2]) : 4;
    unsigned long rounds = argc > 3 ? harg(argv[3]) : 20;
    if (argc > 4 || count < 16 || nthreads < 2 || nthreads > MAX_THREADS) {
        hout_fd(2, "usage: strict_mt [COUNT (>= 16) [THREADS (2..16) [ROUNDS]]]");
        return 2;
    }
    const char *env = getenv("POOLSHIM_CACHE");
    bool cached = env == NULL || !(strcmp(env, "0") == 0 || strcasecmp(env, "false") == 0 ||
                                   strcasecmp(env, "no") == 0 || strcasecmp(env, "off") == 0);
    unsigned long mag = count / 8 < 256 ? count / 8 : 256;
    cap = cached && mag >= 2 ? 2 * mag : 0;
    say("mode=%s count=%lu threads=%lu cap=%lu", cached ? "cached" : "exact",
        count, nthreads, cap);

    unsigned long first = in_thread(grab_all, NULL);
    if (first != count)
        fail("first count: took %lu objects of a class of %lu", first, count);
    /* glibc's first pthread_exit() loads libgcc_s, and its loader data (a
     * few small objects) stays allocated: after that, count again */
    in_thread(ends_at_once, NULL);
    unsigned long baseline = in_thread(grab_all, NULL);
    say("first=%lu baseline=%lu (after the first pthread_exit)", first, baseline);
    if (baseline > first || first - baseline > RUNTIME_KEEPS)
        fail("baseline: took %lu objects after the first pthread_exit, expected "
             "%lu .. %lu", baseline, first - RUNTIME_KEEPS, first);

    /* parked */
    pthread_barrier_init(&start_line, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&release_line, NULL, (unsigned)nthreads + 1);
    pthread_t parked[MAX_THREADS];
    for (unsigned long i = 0; i < nthreads; i++)
        pthread_create(&parked[i], NULL, park, (void *)(uintptr_t)i);
    pthread_barrier_wait(&start_line);
    unsigned long while_parked = in_thread(grab_all, NULL);
    long in_child = count_in_child();
    pthread_barrier_wait(&release_line);
    for (unsigned long i = 0; i < nthreads; i++)
        pthread_join(parked[i], NULL);
    unsigned long after_exit = in_thread(grab_all, NULL);
    say("parked=%lu (at least %lu) in_child=%ld after_exit=%lu", while_parked,
        minus(baseline, nthreads * cap), in_child, after_exit);
    if (in_child != (long)baseline)
        fail("a child forked while the threads were parked took %ld, expected "
             "%lu (the dead threads' caches belong to the child)", in_child,
             baseline);
    if (while_parked > baseline || while_parked < minus(baseline, nthreads * cap))
        fail("parked: took %lu, expected %lu .. %lu", while_parked,
             minus(baseline, nthreads * cap), baseline);
    if (after_exit != baseline)
        fail("after the parked threads ended: took %lu, expected %lu "
             "(objects lost in their caches?)", after_exit, baseline);
    pthread_barrier_destroy(&start_line);
    pthread_barrier_destroy(&release_line);

    /* race: even rounds until every thread is refused, odd rounds until the
     * first refusal */
    pthread_barrier_init(&start_line, NULL, (unsigned)nthreads);
    pthread_barrier_init(&all_refused, NULL, (unsigned)nthreads + 1);
    pthread_barrier_init(&release_line, NULL, (unsigned)nthreads + 1);
    static struct racer r[MAX_THREADS];
    unsigned long all_min = ~0ul, first_min = ~0ul, left_max = 0;
    unsigned long bad = 0, never = 0, wrong = 0, lost = 0;
    /* free objects possible at the first refusal: cap in each other thread's
     * cache; without caches, one free in flight per other thread */
    unsigned long slack = (nthreads - 1) * (cap ? cap : 1);
    for (unsigned long round = 0; round < rounds; round++) {
        stop_at_first = round % 2 == 1;
        atomic_store(&someone_refused, false);
        for (unsigned long i = 0; i < nthreads; i++) {
            r[i].idx = (unsigned)i;
            r[i].n = 0;
            r[i].bad = 0;
            r[i].never = 0;
            r[i].held = calloc(count + 1, sizeof(void *)); /* > 64 bytes */
            pthread_create(&r[i].tid, NULL, race, &r[i]);
        }
        pthread_barrier_wait(&all_refused);
        unsigned long held = 0, left = 0;
        for (unsigned long i = 0; i < nthreads; i++) {
            held += r[i].n;
            bad += r[i].bad;
            never += r[i].never;
        }
        if (!stop_at_first) {
            /* every thread was refused with an empty cache and gave nothing
             * back after: the class is empty, for any request form */
            all_min = held < all_min ? held : all_min;
            if (held != baseline && lost++ < 5)
                fail("race round %lu: threads held %lu when all were refused, "
                     "expected %lu", round, held, baseline);
            wrong += in_thread(probe, NULL);
        } else {
            /* objects free now sit in the depot (left: a fresh thread takes
             * them), or in the caches of the threads that were not refused,
             * cap each; without caches only frees in flight at the refusal
             * (one per other thread) can have reached the depot since */
            left = in_thread(grab_all, NULL);
            first_min = held < first_min ? held : first_min;
            left_max = left > left_max ? left : left_max;
            if (cap == 0 && (held + left != baseline || left > slack) && lost++ < 5)
                fail("race round %lu: at the first refusal threads held %lu and "
                     "%lu were free; expected %lu in all, at most %lu free",
                     round, held, left, baseline, slack);
            if (cap != 0 && (held + left > baseline || held + left < minus(baseline, slack)) &&
                lost++ < 5)
                fail("race round %lu: at the first refusal threads held %lu and "
                     "%lu were in the depot; expected %lu .. %lu in all", round,
                     held, left, baseline - slack, baseline);
        }
        pthread_barrier_wait(&release_line);
        for (unsigned long i = 0; i < nthreads; i++) {
            pthread_join(r[i].tid, NULL);
            free(r[i].held);
        }
        unsigned long again = in_thread(grab_all, NULL);
        if (again != baseline && lost++ < 5)
            fail("race round %lu: took %lu after the threads ended, expected %lu "
                 "(objects lost in their caches?)", round, again, baseline);
    }
    if (bad != 0)
        fail("race: %lu refusals without errno ENOMEM", bad);
    if (never != 0)
        fail("race: %lu threads were never refused (is this run with "
             "POOLSHIM_STRICT=1 POOLSHIM_CLASSES=%d:%lu?)", never, SIZE, count);
    say("race rounds=%lu all_refused_held_min=%lu (expected %lu) "
        "first_refusal_held_min=%lu depot_max=%lu (held+depot at least %lu) "
        "bad_errno=%lu probe_wrong=%lu",
        rounds, all_min, baseline, first_min, left_max, baseline - slack, bad,
        wrong);
    say("strict_mt: %s mode=%s count=%lu threads=%lu",
        hout_status() == 0 ? "ok" : "FAILED", cached ? "cached" : "exact",
        count, nthreads);
    return hout_status();
}
