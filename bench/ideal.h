/* ideal.h - the ideal reference of the benchmark (probe --ideal, window
 * --ideal), header-only. An allocator inside the program: a LIFO free list
 * per power-of-two class (16..4096 B) over a pre-faulted arena private to one
 * thread, with the size handed back to free. No preloaded allocator can do
 * less work, so its figures are the floor of this machine: the timer, the
 * call, and the interrupts and preemptions that hit any code.
 * Single-threaded: one per thread. */
#ifndef BENCH_IDEAL_H
#define BENCH_IDEAL_H

#include <stdint.h>
#include <stdlib.h>

#include "bench/latency.h"

#define IDEAL_ARENA (64u << 20)

struct ideal {
    char *next, *end;
    void *free[9];
    uint64_t fallbacks; /* arena exhausted: went to malloc */
};

static inline unsigned ideal_class(size_t n)
{
    return n <= 16 ? 0 : 60u - (unsigned)__builtin_clzll(n - 1); /* 16 << class >= n */
}

__attribute__((noinline)) static void *ideal_malloc(struct ideal *h, size_t n)
{
    unsigned c = ideal_class(n);
    void *p = h->free[c];
    if (p) {
        h->free[c] = *(void **)p;
        return p;
    }
    size_t sz = (size_t)16 << c;
    if ((size_t)(h->end - h->next) < sz) {
        h->fallbacks++;
        return malloc(n);
    }
    p = h->next;
    h->next += sz;
    return p;
}

__attribute__((noinline)) static void ideal_free(struct ideal *h, void *p, size_t n)
{
    if ((char *)p < h->end - IDEAL_ARENA || (char *)p >= h->end) {
        free(p);
        return;
    }
    unsigned c = ideal_class(n);
    *(void **)p = h->free[c];
    h->free[c] = p;
}

/* an empty one, its arena written before return (lat_alloc) */
static inline struct ideal *ideal_new(void)
{
    struct ideal *h = lat_alloc(sizeof *h);
    h->next = lat_alloc(IDEAL_ARENA);
    h->end = h->next + IDEAL_ARENA;
    return h;
}

#endif
