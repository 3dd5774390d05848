/* classes.h - a set of pools in size classes, for malloc-like use.
 *
 * A set is built once from a list of (size, count) classes. All classes live
 * in one reserved address range, class i at base + (i << shift), so that
 *   - a request of n bytes finds the smallest class with size >= n in O(1):
 *     a table indexed by n up to POOL_SMALL_MAX, above it a table indexed by
 *     (n + 15) / 16 and one comparison;
 *   - a pointer's class, and whether it is an object start, come from its
 *     address alone in O(1): one range check, a shift, and a multiply (no
 *     header before objects).
 *
 * Threads keep a small per-thread cache of free objects per class (struct
 * pool_cache, which the caller places in thread-local storage) in front of
 * each class's shared lock-free depot, which they touch once per batch. A
 * cache holds its free objects as a stack of pointers per class, and batches
 * travel between cache and depot as magazines of indices, so neither the
 * fast paths nor a batch transfer ever touch an object's memory or walk links
 * scattered over memory (each a cache miss): a transfer costs a copy of
 * cache_cap / 2 indices and two compare-and-swaps. The fast paths write only
 * to the calling thread's cache: no atomics, no shared writes.
 *
 * Per class, whenever no get or put is in flight:
 *   capacity == in depot (one by one, or in full magazines) + in caches
 *               + handed out
 * A class of count objects lets each thread cache at most
 *   cache_cap = min(POOL_CACHE_SLOTS, count / 16)
 * objects, so a get that finds the class empty (a miss) happens only while at
 * most (threads - 1) * cache_cap free objects sit in other threads' caches.
 * POOL_CLASSES_NOCACHE makes misses exact (every get and put then costs one
 * compare-and-swap on the depot).
 */
#ifndef POOL_CLASSES_H
#define POOL_CLASSES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "depot.h"

#define POOL_CLASSES_MAX 32      /* classes in one set */
#define POOL_CACHE_SLOTS 32      /* per class, per thread */
#define POOL_SMALL_MAX 1024      /* sizes found by a direct table */
#define POOL_CLASS_SIZE_MAX (1u << 20) /* largest class size: 1 MiB */
#define POOL_GRANULE 16          /* class sizes round up to a multiple of this */
#define POOL_CLASS_BYTES_MAX (UINT64_C(1) << 32) /* largest class: 4 GiB */

struct pool_class_spec {
    size_t size;  /* bytes each object may use, 1 .. POOL_CLASS_SIZE_MAX */
    size_t count; /* objects, at least 1 */
};

enum {
    POOL_CLASSES_PREFAULT = 1u << 0, /* fault every page in at creation */
    POOL_CLASSES_MLOCK = 1u << 1,    /* mlock the objects (see _create) */
    POOL_CLASSES_CHECKED = 1u << 2,  /* detect double/invalid puts, poison
                                        free objects, report writes after put;
                                        implies NOCACHE */
    POOL_CLASSES_NOCACHE = 1u << 3,  /* no per-thread caching */
};

/* Figures of one class. in_use and available are exact whenever no get or
 * put is in flight. peak_out is the peak of objects out of the depot (handed
 * out, or in a thread's cache): an upper bound of the peak in use, exact with
 * NOCACHE. */
struct pool_class_stats {
    size_t size, stride, align;
    size_t capacity, available, in_use, peak_out;
    uint64_t gets;   /* objects handed out */
    uint64_t misses; /* gets that found the class empty */
};

/* ---- private layout: fields are read by the inline fast paths only ---- */

struct pool_class {
    char *base;          /* first object */
    size_t bytes;        /* count * stride */
    size_t size;         /* usable bytes per object */
    size_t stride;       /* distance between objects: size rounded to 16 */
    size_t align;        /* alignment every object has */
    uint64_t magic;      /* UINT64_MAX / stride + 1: offset / stride by multiply */
    uint32_t count;
    uint32_t cache_cap;  /* per-thread cache limit; 0: uncached */
    uint8_t *state;      /* CHECKED: 1 handed out, 0 free; else NULL */
    uint32_t mag_size;   /* objects a magazine holds: cache_cap / 2; 0: none */
    uint32_t *mag_slots; /* magazine m holds mag_slots[m * mag_size ...] */
    struct depot depot;  /* free objects one by one; starts its own cache line */
    /* Free objects in full magazines, moved between the depot and the caches
     * a batch at a time, by one compare-and-swap and a copy of mag_size
     * indices (never by walking links scattered over memory). Magazine ids
     * are on exactly one of the two stacks, or held by an op in flight. */
    struct depot mag_full, mag_empty;
    _Alignas(64) _Atomic uint64_t gets;   /* of detached caches and uncached gets */
    _Atomic uint64_t misses;
    _Atomic uint32_t peak_out;
};

#define POOL_CACHE_AUX 2 /* counters of the caller's own, per thread */

/* A thread's cache for one set. Zero-initialised (as thread-local storage
 * is) it attaches itself to the set at its first slow-path use, unless it
 * was retired. aux[] are the caller's per-thread counters: the set sums them
 * over attached caches and keeps those of detached ones (pool_classes_aux).
 * Per class, the free objects held are slot[cls][0 .. sp - lo):
 *   lo[cls] <= sp[cls] <= hi[cls],  hi[cls] - lo[cls] == the class's cap
 * and a cache that is not attached has every pointer NULL, so that both fast
 * paths fail over to the slow ones. sp and lo of class POOL_CLASSES_MAX stay
 * NULL: the fast lookup's "no class". */
struct pool_cache {
    void **sp[POOL_CLASSES_MAX + 1];
    void **lo[POOL_CLASSES_MAX + 1];
    void **hi[POOL_CLASSES_MAX];
    uint64_t gets[POOL_CLASSES_MAX];
    uint64_t misses[POOL_CLASSES_MAX];
    uint64_t aux[POOL_CACHE_AUX];
    struct pool_classes *set;   /* attached to; NULL when not attached */
    bool retired;               /* never attaches again */
    struct pool_cache *prev, *next;
    void *below_slots;  /* what push reads as sp[-1] on an empty class 0: NULL */
    void *slot[POOL_CLASSES_MAX][POOL_CACHE_SLOTS];
};

/* What the fast paths read of a class, packed: 16 bytes a class. */
struct pool_class_hot {
    uint64_t bytes;      /* count * stride */
    uint64_t magic;      /* UINT64_MAX / stride + 1 */
};

struct pool_classes {
    /* read by every fast path: the first cache line */
    char *base;          /* class i starts at base + (i << shift) */
    uintptr_t span;      /* nclasses << shift */
    uintptr_t slice_mask; /* (1 << shift) - 1 */
    size_t max_size;     /* largest class size */
    unsigned shift;
    unsigned nclasses;
    struct pool_class_hot hot[POOL_CLASSES_MAX];
    uint32_t sizes[POOL_CLASSES_MAX]; /* cls[i].size, packed for lookup */
    uint8_t small[POOL_SMALL_MAX + 1]; /* n -> class, POOL_CLASSES_MAX: none */
    unsigned flags;
    const char *name;    /* prefix of fatal messages */
    struct pool_class cls[POOL_CLASSES_MAX];
    size_t meta_bytes;   /* the mapping that holds this struct, lut, next[] */
    pthread_mutex_t lock;        /* guards the registry of caches */
    struct pool_cache *caches;   /* attached caches, a doubly linked list */
    _Atomic uint64_t aux[POOL_CACHE_AUX]; /* of detached caches */
    void (*on_attach)(struct pool_classes *s, struct pool_cache *c);
    uint8_t lut[];       /* (n + 15) >> 4 -> first class that may fit */
};

/* ---- API ---- */

/* Build a set from n classes (1 .. POOL_CLASSES_MAX), in any order: they are
 * sorted by size. Class sizes must be distinct once rounded up to 16 bytes
 * (the stride), and each class at most POOL_CLASS_BYTES_MAX bytes.
 * flags: POOL_CLASSES_*. With MLOCK, a failure to lock leaves the set usable
 * and sets *mlock_errno (when not NULL) to the errno of mlock, else to 0.
 * Returns NULL with errno EINVAL (bad spec) or ENOMEM (no memory or address
 * space); nothing is left allocated. Not thread-safe. */
struct pool_classes *pool_classes_create(const struct pool_class_spec *spec,
                                         size_t n, unsigned flags,
                                         int *mlock_errno);

/* Unmap the set and every object. Caches attached to it must not be used
 * again. NULL is ignored. */
void pool_classes_destroy(struct pool_classes *s);

/* Prefix of the one-line messages printed before an abort ("pool" unless
 * set). The string must outlive the set. */
void pool_classes_set_name(struct pool_classes *s, const char *name);

/* The class serving n bytes: the smallest with size >= n (n == 0 counts as
 * 1); -1 when n exceeds the largest class. O(1), cannot fail. */
static inline int pool_classes_lookup(const struct pool_classes *s, size_t n)
{
    if (n <= POOL_SMALL_MAX) {
        unsigned c = s->small[n];
        return c < POOL_CLASSES_MAX ? (int)c : -1;
    }
    if (n > s->max_size)
        return -1;
    unsigned c = s->lut[(n + 15) >> 4];
    return (int)(c + (n > s->sizes[c]));
}

/* The same for fast paths: POOL_CLASSES_MAX (whose cache list is always
 * empty) instead of -1. */
static inline unsigned pool_classes_lookup_fast(const struct pool_classes *s,
                                                size_t n)
{
    if (__builtin_expect(n <= POOL_SMALL_MAX, 1))
        return s->small[n];
    int c = pool_classes_lookup(s, n);
    return c < 0 ? POOL_CLASSES_MAX : (unsigned)c;
}

/* Where ptr lies: its class when it is an object start of the set (handed
 * out or not); POOL_NOT_OURS when outside the set's range; POOL_INTERIOR when
 * inside the range but not an object start. O(1), cannot fail. */
enum { POOL_NOT_OURS = -1, POOL_INTERIOR = -2 };

static inline int pool_classes_owner(const struct pool_classes *s,
                                     const void *ptr)
{
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)s->base;
    if (off >= s->span)
        return POOL_NOT_OURS;
    unsigned c = (unsigned)(off >> s->shift);
    const struct pool_class_hot *h = &s->hot[c];
    uint64_t o = off & s->slice_mask;
    if (o >= h->bytes || o * h->magic > h->magic - 1)
        return POOL_INTERIOR;
    return (int)c;
}

/* ptr lies in the set's range (an object start or not). */
static inline bool pool_classes_inside(const struct pool_classes *s,
                                       const void *ptr)
{
    return (uintptr_t)ptr - (uintptr_t)s->base < s->span;
}

/* The fast form of pool_classes_owner() for free: true, with *cls set, only
 * for an object start; false for anything else (then ask _owner). */
static inline bool pool_classes_object(const struct pool_classes *s,
                                       const void *ptr, unsigned *cls)
{
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)s->base;
    if (__builtin_expect(off >= s->span, 0))
        return false;
    unsigned c = (unsigned)(off >> s->shift);
    const struct pool_class_hot *h = &s->hot[c];
    uint64_t o = off & s->slice_mask;
    *cls = c;
    return o < h->bytes && o * h->magic <= h->magic - 1;
}

static inline size_t pool_classes_size(const struct pool_classes *s, int cls)
{
    return s->cls[cls].size;
}

static inline size_t pool_classes_align(const struct pool_classes *s, int cls)
{
    return s->cls[cls].align;
}

void *pool_classes_get_slow_(struct pool_classes *s, struct pool_cache *c,
                             int cls, bool quiet);
void pool_classes_put_slow_(struct pool_classes *s, struct pool_cache *c,
                            int cls, void *ptr);

/* Fast paths: an object from the calling thread's cache (NULL when its bin
 * is empty), and an object into it (false when the bin is full or the cache
 * not attached). No atomics, no shared writes; the caller falls back to
 * pool_classes_get() / pool_classes_put(). */
static inline void *pool_cache_pop(struct pool_cache *c, unsigned cls)
{
    void **sp = c->sp[cls];
    if (__builtin_expect(sp == c->lo[cls], 0))
        return NULL;
    c->sp[cls] = sp - 1;
    c->gets[cls]++;
    return sp[-1];
}

static inline bool pool_cache_push(struct pool_cache *c, unsigned cls, void *ptr)
{
    void **sp = c->sp[cls];
    /* A full stack, or ptr on top of it already (a double put: the slow
     * path reports it). Below an empty stack lies the previous class's last
     * slot or below_slots, both only ever written by this thread, never
     * holding an object of this class. */
    if (__builtin_expect(sp == c->hi[cls] || sp[-1] == ptr, 0))
        return false;
    *sp = ptr;
    c->sp[cls] = sp + 1;
    return true;
}

/* An object of class cls (from pool_classes_lookup), or NULL when the class is
 * empty (counted as a miss). c is the calling thread's cache, or NULL to
 * bypass caching. Never blocks, never allocates. */
static inline void *pool_classes_get(struct pool_classes *s,
                                     struct pool_cache *c, int cls)
{
    void *p = c != NULL ? pool_cache_pop(c, (unsigned)cls) : NULL;
    return p != NULL ? p : pool_classes_get_slow_(s, c, cls, false);
}

/* As pool_classes_get(), but an empty class is not counted as a miss: for
 * an optional move (a realloc that could stay where it is). */
static inline void *pool_classes_try_get(struct pool_classes *s,
                                         struct pool_cache *c, int cls)
{
    void *p = c != NULL ? pool_cache_pop(c, (unsigned)cls) : NULL;
    return p != NULL ? p : pool_classes_get_slow_(s, c, cls, true);
}

/* Give back ptr, an object start of class cls (from pool_classes_owner).
 * Aborts with a message when the object is already free: any double put
 * with CHECKED; otherwise when the object is the last one this thread put
 * (the usual double free), or is in this thread's cache when its list is
 * full, or is on top of the depot. */
static inline void pool_classes_put(struct pool_classes *s,
                                    struct pool_cache *c, int cls, void *ptr)
{
    if (c == NULL || !pool_cache_push(c, (unsigned)cls, ptr))
        pool_classes_put_slow_(s, c, cls, ptr);
}

/* Abort with "NAME: WHAT: invalid pointer 0x... (...)" for a pointer inside
 * the set that is not an object start. Never returns. */
_Noreturn void pool_classes_invalid(const struct pool_classes *s,
                                    const char *what, const void *ptr);

/* Attach a thread's cache to the set: its figures count from now on, and it
 * caches objects unless the set is NOCACHE or CHECKED. The slow paths of get
 * and put do this by themselves for a cache that is neither attached nor
 * retired, then call the hook set with pool_classes_on_attach(). Takes the
 * registry lock. Cannot fail. */
void pool_classes_cache_attach(struct pool_classes *s, struct pool_cache *c);

/* Called (outside the registry lock) whenever a cache attaches itself: the
 * place to arrange for pool_classes_cache_detach() at thread exit. */
void pool_classes_on_attach(struct pool_classes *s,
                            void (*hook)(struct pool_classes *s,
                                         struct pool_cache *c));

/* Return every object in the cache to the depots, fold its figures into the
 * set and detach it. With retire, the cache never attaches again: its
 * thread's later gets and puts go straight to the depots (for frees that run
 * after a thread's exit handler). Takes the registry lock. */
void pool_classes_cache_detach(struct pool_classes *s, struct pool_cache *c,
                               bool retire);

void pool_classes_aux_add_slow_(struct pool_classes *s, struct pool_cache *c,
                                unsigned i, uint64_t v);

/* Add v to the calling thread's counter aux[i] (attaching its cache first
 * where it may; a retired or NULL cache adds to the set's own counter). */
static inline void pool_classes_aux_add(struct pool_classes *s,
                                        struct pool_cache *c, unsigned i,
                                        uint64_t v)
{
    if (__builtin_expect(c != NULL && c->set == s, 1))
        c->aux[i] += v;
    else
        pool_classes_aux_add_slow_(s, c, i, v);
}

/* Sum of aux[i] over every cache, attached or detached. Takes the lock. */
uint64_t pool_classes_aux(struct pool_classes *s, unsigned i);

/* Figures of class cls (0 .. nclasses-1). Takes the registry lock. */
void pool_classes_stats(struct pool_classes *s, int cls,
                        struct pool_class_stats *out);

/* Figures of every class (out[] has nclasses entries) and the aux sums
 * (aux[] has POOL_CACHE_AUX entries, or is NULL), under one hold of the
 * registry lock. With trylock (for a signal handler, which must not wait for
 * a lock its own thread may hold) returns -1 with errno EBUSY when the lock
 * is taken; else returns 0. */
int pool_classes_snapshot(struct pool_classes *s, struct pool_class_stats *out,
                          uint64_t *aux, bool trylock);

static inline unsigned pool_classes_count(const struct pool_classes *s)
{
    return s->nclasses;
}

/* Objects of class cls free right now (in the depot and in every cache).
 * Exact whenever no get or put is in flight. Takes the registry lock. */
size_t pool_classes_available(struct pool_classes *s, int cls);

/* fork() support: take the registry lock before fork, release it after in
 * the parent; in the child, reinitialise it and return the objects cached by
 * the threads that did not survive the fork (all caches but `self`). */
void pool_classes_fork_prepare(struct pool_classes *s);
void pool_classes_fork_parent(struct pool_classes *s);
void pool_classes_fork_child(struct pool_classes *s, struct pool_cache *self);

/* Validate the set's invariants (every object either in a depot or not,
 * never twice; counts agree). For tests and debug builds; needs quiescence.
 * Returns true when they hold. */
bool pool_classes_check(struct pool_classes *s);

#endif
