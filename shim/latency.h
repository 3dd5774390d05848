/* latency.h - the shim's timing mode (POOLSHIM_LATENCY=FILE): every
 * interposed call timed alone and counted, per thread and without locks, in
 * a histogram of its kind (latfile.h), with the page faults taken inside it.
 *
 * How the shim uses it (malloc.c): with the mode on, every call takes the
 * slow path, which does
 *     uint64_t t0 = lat_begin();
 *     ... the whole work of the call, deciding its kind k ...
 *     lat_record(k, t0, lat_now());
 * With the mode off nothing here runs.
 *
 * Timer: rdtscp (the invariant TSC; clock_gettime elsewhere), calibrated to
 * ns once at start against CLOCK_MONOTONIC. A sample includes the timer's
 * own floor (two back-to-back reads), which is measured at start and written
 * to the file; nothing is subtracted.
 *
 * Page faults inside calls: the thread's fault count (getrusage
 * RUSAGE_THREAD, minor + major) is read only when a fault may have happened.
 * At start the cheapest page fault is timed (F, a read of a fresh anonymous
 * page) and the window W = F / 2 is set; no fault can complete in less than
 * W. Per thread the count is known to be valid at a moment `clean`:
 *   - lat_begin(): if now - clean >= W, a fault may have happened since:
 *     read the count (about 250 ns here), clean = after the read;
 *   - lat_record(): a call shorter than W took no fault: clean = t1;
 *     a longer one may have: read the count, the difference is the call's.
 * So calls in quick succession cost no system call, and every fault counted
 * happened inside an allocator call: the program's own faults between calls
 * are never charged to it.
 *
 * Threads: each counts into its own slot of the file (no lock, no atomic);
 * at thread exit (a pthread key destructor) it writes its summary and frees
 * the slot for the next thread. fork: the child starts an empty file of its
 * own (pthread_atfork, registered by this module's constructor). exit: the
 * file is marked complete. _exit, exec, or a fatal signal: the file already
 * holds every call counted up to that moment; it stays marked incomplete.
 */
#ifndef SHIM_LATENCY_H
#define SHIM_LATENCY_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include <time.h>

#include "shim/latfile.h"

#define LAT_HIDDEN __attribute__((visibility("hidden")))

struct lat_self {
    struct lat_slot *slot;   /* NULL until the thread's first record */
    uint64_t clean;          /* ticks: no fault since then, as far as counted */
    uint64_t faults;         /* the thread's fault count at `clean` */
    unsigned index;          /* of the slot */
    int state;               /* latency.c */
    struct rusage ru;        /* getrusage writes here (TLS: touched, no fault) */
};

extern __thread struct lat_self lat_self
    __attribute__((tls_model("initial-exec"))) LAT_HIDDEN;
extern uint64_t lat_window LAT_HIDDEN; /* W, in ticks */

static inline uint64_t lat_now(void)
{
#if defined(__x86_64__)
    uint32_t lo, hi;
    /* rdtscp waits for the instructions before it; the clobber keeps the
     * compiler from moving the timed work across it */
    __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi) : : "rcx", "memory");
    return ((uint64_t)hi << 32) | lo;
#else
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
#endif
}

/* Read the thread's fault count; returns lat_now() after it. */
uint64_t lat_refresh(void) LAT_HIDDEN;

/* The start of a timed call: the time t0 to give lat_record(). Cannot fail;
 * only for the calling thread. */
static inline uint64_t lat_begin(void)
{
    uint64_t t = lat_now();
    if (__builtin_expect(t - lat_self.clean < lat_window, 1))
        return t;
    return lat_refresh();
}

/* Count one call of kind k that ran from t0 (lat_begin()'s, on this
 * thread) to t1 (lat_now() after the work). Allocates nothing, takes no
 * lock except at the thread's first call (taking a slot). Does nothing when
 * the mode is off or no slot could be had (then counted as lost). Keeps
 * errno. */
void lat_record(enum lat_kind k, uint64_t t0, uint64_t t1) LAT_HIDDEN;

/* Turn the mode on for this process: calibrate the timer (about 1 ms),
 * measure its floor and the cheapest fault, create the file (path with "%p"
 * as the pid; an existing latency file of that name is replaced, any other
 * existing file is left alone). Returns 0, or -1 after one line on stderr
 * (the mode then stays off; the program runs on). Allocates nothing (mmap
 * only); call once, from start-up, before any lat_record(). Keeps errno. */
int lat_start(const char *path) LAT_HIDDEN;

/* True once lat_start() succeeded (and, in a fork child, its own file
 * could be made). */
bool lat_active(void) LAT_HIDDEN;

/* Mark the file complete (exit handlers ran). Called by the module's own
 * destructor; calls made after it are still counted. */
void lat_finish(void) LAT_HIDDEN;

#endif
