/* pool.h - pre-allocated, thread-safe object pools.
 *
 * A pool holds `count` objects of `size` bytes, allocated in one contiguous
 * block when the pool is created and never grown, shrunk or given back to the
 * system until pool_destroy(). pool_try_get() hands out a free object or
 * returns NULL at once when none is free (backpressure): it never blocks,
 * never allocates and never falls back to malloc.
 *
 * Guarantees
 *   - Alignment: every object is aligned to alignof(max_align_t) (16 on
 *     x86-64). Objects sit `stride` bytes apart, where stride is `size`
 *     rounded up to a multiple of 16, from a page-aligned base: so an object is
 *     aligned to the largest power of two that divides the stride, up to the
 *     page size (stride 64k -> 64-aligned, stride 4096 -> page-aligned).
 *     pool_alignment() tells the figure for a given pool.
 *   - Threads: every function may be called from any number of threads at
 *     once, except pool_destroy() and pool_set_reset(), which must not race
 *     with other calls on the same pool. An object may be put by another
 *     thread than the one that got it. get and put are lock-free: one
 *     compare-and-swap on the free list plus one atomic exchange on the
 *     object's state byte.
 *   - Misuse: pool_put() of a pointer that is not one of this pool's objects
 *     (foreign, interior, another pool's) and a second put of the same object
 *     print one line on stderr, "pool: pool_put(): ...", and abort(). These
 *     checks are always on.
 *   - Object contents: the pool never writes into an object after init; what
 *     an object holds when it is handed out again is what it held when it was
 *     put back (after the reset hook, if any).
 */
#ifndef POOL_POOL_H
#define POOL_POOL_H

#include <stdbool.h>
#include <stddef.h>

/* POOL_VERSION (MAJOR * 10000 + MINOR * 100 + PATCH) and POOL_VERSION_STRING */
#include "pool/version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct pool;

/* Create a pool of `count` objects of `size` bytes, calling init(obj, arg)
 * exactly once per object (init may be NULL: objects then start zeroed).
 * Returns NULL with errno EINVAL when count or size is 0, count exceeds
 * 2^32 - 2, or count * size overflows; NULL with ENOMEM when the memory cannot
 * be had. Nothing is left allocated on failure. */
struct pool *pool_create(size_t count, size_t size,
                         void (*init)(void *obj, void *arg), void *arg);

/* A free object, or NULL at once when all `count` objects are handed out.
 * Never blocks, never allocates. Thread-safe. */
void *pool_try_get(struct pool *p);

/* Give `obj` back. Runs the reset hook first, if one is set. Aborts with a
 * message on stderr when obj is not an object of this pool or is already
 * free. Thread-safe. */
void pool_put(struct pool *p, void *obj);

/* Set (or, with NULL, clear) the hook that pool_put() runs on each object it
 * takes back: reset(obj, arg). Not thread-safe against concurrent puts. */
void pool_set_reset(struct pool *p, void (*reset)(void *obj, void *arg),
                    void *arg);

/* Objects free right now. Exact whenever no get or put is in flight. */
size_t pool_available(const struct pool *p);

/* Objects in the pool, free or not: the `count` given at creation. */
size_t pool_capacity(const struct pool *p);

/* Bytes each object may use: the `size` given at creation. */
size_t pool_object_size(const struct pool *p);

/* The alignment every object of this pool has (a power of two, at least
 * alignof(max_align_t), at most the page size). */
size_t pool_alignment(const struct pool *p);

/* True when ptr is the start of one of this pool's objects (free or not).
 * O(1), cannot fail. */
bool pool_owns(const struct pool *p, const void *ptr);

/* Free the pool and all its objects, handed out or not. NULL is ignored. */
void pool_destroy(struct pool *p);

/* Scope guard: POOL_GUARD(struct order, o, pool) declares `struct order *o`
 * holding pool_try_get(pool) (NULL when the pool is exhausted), and puts the
 * object back when `o` leaves its scope by any path: falling off the end,
 * return, break, continue or goto. pool_keep(o) detaches the object from the
 * guard (returns it and sets o to NULL): the caller then owns it and puts it
 * back by hand. */
struct pool_guard_slot_ {
    struct pool *pool;
    void *obj;
};

void pool_guard_release_(void *slot);

#define POOL_CAT2_(a, b) a##b
#define POOL_CAT_(a, b) POOL_CAT2_(a, b)

#define POOL_GUARD(type, name, pool_)                                      \
    type *name = (type *)pool_try_get(pool_);                              \
    __attribute__((cleanup(pool_guard_release_), unused))                  \
    struct pool_guard_slot_ POOL_CAT_(pool_guard_slot_, name) = {          \
        (pool_), (void *)&name}

/* Detach the object held by a guard: evaluates to the object and leaves the
 * guard's variable NULL, so nothing is put back at the end of the scope. */
#define pool_keep(name) pool_keep_((void **)&(name))

static inline void *pool_keep_(void **slot)
{
    void *obj = *slot;
    *slot = NULL;
    return obj;
}

#ifdef __cplusplus
}
#endif

#endif
