/* warn.c - POOLSHIM_WARN: one line the first time a class runs dry.
 *
 * A class whose objects are all out makes its requests fall back to the
 * system allocator (or, strict, fail): the program keeps running but loses
 * what the pools were there for, quietly. The first time that happens to a
 * class, one line says so, on the stderr of start-up (never stdout):
 *
 *   poolshim: class 64 ran dry (capacity 1024): requests of 49 to 64 bytes
 *   fall back to the system allocator; raise it to 64:2048, e.g.
 *   POOLSHIM_CLASSES=16:8192,...,64:2048,... (said once per class;
 *   POOLSHIM_WARN=0 silences it)
 *
 * Rate-limited: at most one line per second in a process; a class whose
 * turn came inside that second is told at its next dry request after it.
 * Runs on the cold path of a dry class only, inside malloc: no allocation,
 * no stdio, no lock; one atomic word of classes told.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <time.h>

#include "pool/report.h"
#include "shim/shim.h"

#define GAP_NS 1000000000ull /* between two lines */

static _Atomic uint64_t told;    /* bit v: class v has had its line */
static _Atomic uint64_t next_ns; /* no line before this (CLOCK_MONOTONIC) */

_Static_assert(POOL_V_MAX <= 64, "one bit per class");

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Whether class v's line may go now: not told yet, and the last line is a
 * second old. Marks it told. */
static bool its_turn(unsigned v)
{
    uint64_t bit = UINT64_C(1) << v;
    if (atomic_load_explicit(&told, memory_order_relaxed) & bit)
        return false;
    uint64_t now = mono_ns();
    uint64_t next = atomic_load_explicit(&next_ns, memory_order_relaxed);
    if (now < next || !atomic_compare_exchange_strong(&next_ns, &next, now + GAP_NS))
        return false;
    return !(atomic_fetch_or(&told, bit) & bit);
}

static void warn_format(struct rbuf *b, const struct shim_config *cfg, unsigned c,
                        bool strict)
{
    struct shim_config more = *cfg;
    struct pool_class_spec *k = &more.classes[c];
    uint64_t count = k->count, grown = 2 * count, max = shim_config_count_max(k->size);
    size_t low = c > 0 ? cfg->classes[c - 1].size + 1 : 0;
    rb_str(b, "poolshim: class ");
    rb_u64(b, k->size);
    rb_str(b, " ran dry (capacity ");
    rb_u64(b, count);
    rb_str(b, "): requests of ");
    rb_u64(b, low);
    rb_str(b, " to ");
    rb_u64(b, k->size);
    rb_str(b, strict ? " bytes are refused (NULL, ENOMEM)"
                     : " bytes fall back to the system allocator");
    if (grown > max)
        grown = max;
    if (grown > count) {
        k->count = (size_t)grown;
        rb_str(b, "; raise it to ");
        rb_u64(b, k->size);
        rb_char(b, ':');
        rb_u64(b, grown);
        rb_str(b, ", e.g. POOLSHIM_CLASSES=");
        shim_config_rb_classes(b, &more);
    } else {
        rb_str(b, "; it is as large as a class can be: give part of its sizes a class of "
                  "their own");
    }
    rb_str(b, " (said once per class; POOLSHIM_WARN=0 silences it)\n");
}

void warn_dry(unsigned v)
{
    if (v == 0 || v > shim.cfg.nclasses || !its_turn(v))
        return;
    int saved = errno, fd = stats_stderr_fd();
    if (fd >= 0) {
        struct rbuf b = {0};
        warn_format(&b, &shim.cfg, v - 1, shim.strict);
        if (b.len == sizeof b.buf - 1)
            b.buf[b.len - 1] = '\n'; /* too long a line: cut, still one line */
        rb_flush(&b, fd);
    }
    errno = saved;
}
