/* depot.h - the shared free list of a pool: a lock-free stack of object
 * indices (internal to pool/).
 *
 * The stack links indices through a `next` array kept outside the objects,
 * so a pool never writes into an object it does not own. The head packs the
 * top index with a 32-bit tag that every successful update increments: as long
 * as the tag read before a compare-and-swap is still there, no index in the
 * stack has moved, which makes popping a whole chain in one CAS safe (no ABA).
 *
 * Invariant (whenever no operation is in flight):
 *   free == number of indices reachable from head.top
 */
#ifndef POOL_DEPOT_H
#define POOL_DEPOT_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define DEPOT_NIL UINT32_MAX

struct depot {
    _Alignas(64) _Atomic uint64_t head; /* tag << 32 | top index */
    _Atomic uint32_t free;              /* indices on the stack */
    uint32_t count;                     /* indices 0 .. count-1 exist */
    _Atomic uint32_t *next;             /* next[i]: the index below i */
};

/* Bytes of `next` storage that depot_init() needs for `count` indices. */
static inline size_t depot_storage(uint32_t count)
{
    return (size_t)count * sizeof(uint32_t);
}

/* Fill the depot with every index 0 .. count-1, 0 on top. `storage` holds
 * depot_storage(count) bytes. Cannot fail. Not thread-safe. */
void depot_init(struct depot *d, uint32_t count, void *storage);

/* The same with no index on the stack (they are pushed later). */
void depot_init_empty(struct depot *d, uint32_t count, void *storage);

/* Pop up to `want` indices into out[]; returns how many (0 when empty).
 * Lock-free. */
uint32_t depot_pop(struct depot *d, uint32_t *out, uint32_t want);

/* Push the `n` indices of in[] (n >= 1). Lock-free. */
void depot_push(struct depot *d, const uint32_t *in, uint32_t n);

/* Set the free counter to the number of indices on the stack, walking it:
 * for a fork's child, where another thread may have been between a push's
 * (or pop's) count and its compare-and-swap. Not thread-safe. */
void depot_recount(struct depot *d);

static inline uint32_t depot_free(const struct depot *d)
{
    return atomic_load_explicit(&d->free, memory_order_relaxed);
}

#endif
