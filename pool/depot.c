/* depot.c - lock-free stack of object indices; see depot.h. */
#include "depot.h"

static inline uint32_t head_top(uint64_t h) { return (uint32_t)h; }
static inline uint64_t head_make(uint64_t old, uint32_t top)
{
    return ((old >> 32) + 1) << 32 | top;
}

void depot_init(struct depot *d, uint32_t count, void *storage)
{
    d->next = storage;
    d->count = count;
    for (uint32_t i = 0; i < count; i++)
        atomic_store_explicit(&d->next[i], i + 1 < count ? i + 1 : DEPOT_NIL,
                              memory_order_relaxed);
    atomic_store_explicit(&d->free, count, memory_order_relaxed);
    atomic_store_explicit(&d->head, count ? 0 : DEPOT_NIL, memory_order_release);
}

void depot_init_empty(struct depot *d, uint32_t count, void *storage)
{
    d->next = storage;
    d->count = count;
    atomic_store_explicit(&d->free, 0, memory_order_relaxed);
    atomic_store_explicit(&d->head, DEPOT_NIL, memory_order_release);
}

uint32_t depot_pop(struct depot *d, uint32_t *out, uint32_t want)
{
    uint64_t old = atomic_load_explicit(&d->head, memory_order_acquire);
    for (;;) {
        uint32_t cur = head_top(old), got = 0, below;
        if (cur == DEPOT_NIL || want == 0)
            return 0;
        /* Walk the chain. Links read here may be stale if another thread
         * changes the stack meanwhile; the CAS below then fails, and the
         * range check keeps a stale link from indexing outside next[]. */
        for (;;) {
            out[got++] = cur;
            below = atomic_load_explicit(&d->next[cur], memory_order_relaxed);
            if (got == want || below == DEPOT_NIL)
                break;
            if (below >= d->count)
                goto retry;
            cur = below;
        }
        if (atomic_compare_exchange_weak_explicit(&d->head, &old,
                                                  head_make(old, below),
                                                  memory_order_acquire,
                                                  memory_order_acquire)) {
            atomic_fetch_sub_explicit(&d->free, got, memory_order_relaxed);
            return got;
        }
        continue;
    retry:
        old = atomic_load_explicit(&d->head, memory_order_acquire);
    }
}

void depot_push(struct depot *d, const uint32_t *in, uint32_t n)
{
    for (uint32_t i = 0; i + 1 < n; i++)
        atomic_store_explicit(&d->next[in[i]], in[i + 1], memory_order_relaxed);
    /* Count first, so that `free` never drops below the real number. */
    atomic_fetch_add_explicit(&d->free, n, memory_order_relaxed);
    uint64_t old = atomic_load_explicit(&d->head, memory_order_relaxed);
    do {
        atomic_store_explicit(&d->next[in[n - 1]], head_top(old),
                              memory_order_relaxed);
    } while (!atomic_compare_exchange_weak_explicit(&d->head, &old,
                                                    head_make(old, in[0]),
                                                    memory_order_release,
                                                    memory_order_relaxed));
}

void depot_recount(struct depot *d)
{
    uint32_t n = 0;
    uint32_t x = head_top(atomic_load_explicit(&d->head, memory_order_relaxed));
    for (; x < d->count && n <= d->count; n++)
        x = atomic_load_explicit(&d->next[x], memory_order_relaxed);
    atomic_store_explicit(&d->free, n, memory_order_relaxed);
}
