/* stress.h - the threaded stress run of the library suites (test_pool,
 * test_classes), one harness for any get/put pair.
 *
 * STRESS_THREADS threads each get objects through ops->get, stamp them, hold
 * up to STRESS_HOLD, pass some to each other through STRESS_SLOTS shared
 * exchange slots, and give them back through ops->put, until each has had
 * STRESS_GETS objects. Every object starts with a token naming its holder:
 *   owner == STRESS_FREE     while the object is in the pool,
 *   owner == STRESS_TRANSIT  while it waits in an exchange slot,
 *   owner == the thread's id (1..) while a thread holds it,
 * and the holder's stamps, which it checks when it lets go. An object handed
 * out twice, written by someone else while held, or given back twice shows
 * up as an error. Workers never assert (Check's asserts belong to the test
 * thread): they count errors, and stress_run() asserts after joining them.
 */
#ifndef TESTS_STRESS_H
#define TESTS_STRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    STRESS_THREADS = 4,
    STRESS_GETS = 150000,  /* per thread: 4 * 150000 gets + as many puts */
    STRESS_SLOTS = 16,     /* the shared exchange */
    STRESS_HOLD = 4,       /* objects a thread holds at most */
    STRESS_FREE = 0,
    STRESS_TRANSIT = -1,
};

/* The first 32 bytes of every object the harness handles. */
struct stress_token {
    _Atomic int owner;
    unsigned stamp[7];     /* the holder's id and sequence */
};

/* What is stressed. Each callback gets `arg`; ctx is what thread_start
 * returned for the calling thread, or NULL on the test thread. */
struct stress_ops {
    void *arg;
    /* A worker's context (optional; NULL: the worker counts an error and
     * does nothing), and its end once the worker has put everything back. */
    void *(*thread_start)(void *arg);
    void (*thread_end)(void *arg, void *ctx);
    /* An object of at least sizeof(struct stress_token) bytes, or NULL when
     * none is left. r is random: the harness itself uses bits 8 to 31. */
    void *(*get)(void *arg, void *ctx, uint64_t r);
    void (*put)(void *arg, void *ctx, void *obj);
    /* Whether obj is one of the stressed objects (optional). */
    bool (*owns)(void *arg, const void *obj);
};

struct stress_totals {
    unsigned long gets, puts;
    unsigned long empties;   /* gets that returned NULL */
    unsigned long transit;   /* objects left in the exchange at the end */
};

/* Run the threads and join them; assert that no error was counted, that
 * gets + puts >= 1000000, and, once the objects left in the exchange are put
 * back (on the test thread, ctx NULL; each owned and marked in transit), that
 * gets == puts + transit. Returns the totals for the suite's own accounting. */
struct stress_totals stress_run(const struct stress_ops *ops);

/* Assert that obj[0 .. n), sorted by address, are n distinct objects whose
 * tokens all say STRESS_FREE. */
void stress_assert_free(void *const *obj, size_t n);

#endif
