/* classes.h - a set of pools in size classes, for malloc-like use.
 *
 * A set is built once from a list of (size, count) classes and never grows.
 * pool_classes_get() hands out an object of a class or returns NULL at once
 * when the class is empty; pool_classes_put() gives it back. Every class lives
 * in one reserved address range, so that
 *   - the class of a request of n bytes is found in O(1) (a table lookup);
 *   - the class of a pointer, and whether it is an object start, follow from
 *     its address alone in O(1) (no header before objects).
 *
 * Threads may give each call a cache of their own (struct pool_cache): it
 * keeps two magazines of free objects per class in front of the class's
 * shared depot, so that most gets and puts touch only the calling thread's
 * memory, and a thread trades a whole magazine with the depot (one pointer
 * swap, no copy) only after a magazine's worth of net gets or puts. Without a
 * cache (NULL), or with POOL_CLASSES_NOCACHE, every call is one
 * compare-and-swap on the depot and "class empty" is exact.
 *
 * With caches, a get finds its class empty only while at most
 *   (threads - 1) * pool_classes_cache_bound(s, cls)
 * free objects sit in other threads' caches.
 *
 * Misuse is always detected, in every mode: giving back a pointer that is not
 * an object start of the set, or an object that is already free (a double
 * put, across threads too), prints one line on stderr and aborts.
 *
 * Thread-safety: every function may be called from any thread at once, except
 * pool_classes_create() and _destroy(), and a cache is used by one thread at a
 * time.
 */
#ifndef POOL_CLASSES_H
#define POOL_CLASSES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define POOL_CLASSES_MAX 32            /* classes in one set */
#define POOL_GRANULE 16                /* object sizes round up to this */
#define POOL_CLASS_SIZE_MAX (1u << 20) /* largest class size: 1 MiB */
#define POOL_CLASS_COUNT_MAX (UINT32_MAX - 1) /* objects in one class */
#define POOL_CLASS_BYTES_MAX (UINT64_C(1) << 32) /* largest class: 4 GiB */

struct pool_classes;
struct pool_cache;

struct pool_class_spec {
    size_t size;  /* bytes each object may use, 1 .. POOL_CLASS_SIZE_MAX */
    size_t count; /* objects, 1 .. POOL_CLASS_COUNT_MAX */
};

enum {
    POOL_CLASSES_PREFAULT = 1u << 0, /* fault every page in at creation */
    POOL_CLASSES_MLOCK = 1u << 1,    /* mlock the objects (see _create) */
    POOL_CLASSES_CHECKED = 1u << 2,  /* poison free objects and report a write
                                        after put; implies NOCACHE */
    POOL_CLASSES_NOCACHE = 1u << 3,  /* no per-thread caching */
    POOL_CLASSES_HUGEPAGES = 1u << 4, /* objects on 2 MiB pages where the kernel
                                         gives them: reserved hugetlb pages, else
                                         transparent ones; never a failure */
};

/* Figures of one class. available and in_use are exact whenever no get or
 * put is in flight. peak_out is the peak of objects out of the depot (handed
 * out, or in a thread's cache): an upper bound of the peak in use, exact with
 * NOCACHE. */
struct pool_class_stats {
    size_t size, stride, align;
    size_t capacity, available, in_use, peak_out;
    size_t rounds;      /* objects a magazine holds; 0: the class is uncached */
    uint64_t misses;    /* gets that found the class empty */
    uint64_t exchanges; /* times a cache went to the depot */
};

/* What building a set costs, from pool_classes_footprint(). */
struct pool_classes_footprint {
    size_t reserve;  /* address space reserved */
    size_t objects;  /* bytes of the objects (count * stride, page-rounded) */
    size_t meta;     /* bytes of metadata that may be written, at most */
    size_t touched;  /* bytes written or faulted in by pool_classes_create() */
};

/* Build a set from n classes (1 .. POOL_CLASSES_MAX), in any order: they are
 * sorted by size. Class sizes must be distinct once rounded up to
 * POOL_GRANULE (the stride), and each class at most POOL_CLASS_BYTES_MAX
 * bytes. flags: POOL_CLASSES_*. With MLOCK, a failure to lock leaves the set
 * usable and sets *mlock_errno (when not NULL) to the errno of mlock, else 0.
 * Returns NULL with errno EINVAL (bad spec) or ENOMEM (no memory or address
 * space); nothing is left allocated. */
struct pool_classes *pool_classes_create(const struct pool_class_spec *spec,
                                         size_t n, unsigned flags,
                                         int *mlock_errno);

/* What pool_classes_create(spec, n, flags) would reserve and touch, without
 * building anything: for weighing a set against a memory limit first.
 * Returns 0, or -1 with errno EINVAL when create would reject the spec. */
int pool_classes_footprint(const struct pool_class_spec *spec, size_t n,
                           unsigned flags, struct pool_classes_footprint *out);

/* Prefix of the one-line messages printed before an abort ("pool" unless
 * set). The string must outlive the set. */
void pool_classes_set_name(struct pool_classes *s, const char *name);

/* Unmap the set and every object. Caches attached to it are detached without
 * returning anything and must not be used with it again. NULL is ignored. */
void pool_classes_destroy(struct pool_classes *s);

/* The class serving n bytes: the smallest with size >= n (n == 0 counts as
 * 1); -1 when n exceeds the largest class. O(1), cannot fail. */
int pool_classes_lookup(const struct pool_classes *s, size_t n);

/* Where ptr lies: its class when it is an object start of the set (handed
 * out or not); POOL_NOT_OURS when outside the set's range; POOL_INTERIOR when
 * inside the range but not an object start. O(1), cannot fail. */
enum { POOL_NOT_OURS = -1, POOL_INTERIOR = -2 };
int pool_classes_owner(const struct pool_classes *s, const void *ptr);

unsigned pool_classes_count(const struct pool_classes *s);          /* classes */
size_t pool_classes_size(const struct pool_classes *s, int cls);    /* usable bytes */
size_t pool_classes_align(const struct pool_classes *s, int cls);   /* of every object */

/* Free objects a thread's cache may hold in class cls (two magazines); 0 when
 * the class is uncached. */
size_t pool_classes_cache_bound(const struct pool_classes *s, int cls);

/* An object of class cls (from pool_classes_lookup), or NULL when the class
 * is empty (counted as a miss). c is the calling thread's cache (it attaches
 * itself to the set on first use), or NULL. Never blocks, never allocates.
 * Aborts with a message on a write to a free object when the set is CHECKED. */
void *pool_classes_get(struct pool_classes *s, struct pool_cache *c, int cls);

/* Give back ptr, an object handed out by pool_classes_get() of this set,
 * through the calling thread's cache c (or NULL). Aborts with one line on
 * stderr ("pool: pool_classes_put(): ...") when ptr is not an object start of
 * the set or is already free. */
void pool_classes_put(struct pool_classes *s, struct pool_cache *c, void *ptr);

/* A cache for one thread, detached (it attaches to a set at its first get or
 * put there), or NULL with errno ENOMEM. Free it with pool_cache_destroy(),
 * which first gives back everything it holds. */
struct pool_cache *pool_cache_create(void);
void pool_cache_destroy(struct pool_cache *c);

/* Attach c to s (a no-op when it is already): its gets and puts are then
 * cached, unless the set is NOCACHE or CHECKED. Takes the set's lock. */
void pool_classes_cache_attach(struct pool_classes *s, struct pool_cache *c);

/* Give every object and magazine in c back to the set's depots and detach it;
 * its later uses attach it again. A no-op when c is not attached to s. Takes
 * the set's lock. */
void pool_classes_cache_detach(struct pool_classes *s, struct pool_cache *c);

/* Figures of class cls (0 .. count-1). Takes the set's lock. */
void pool_classes_stats(struct pool_classes *s, int cls,
                        struct pool_class_stats *out);

/* Figures of every class (out[] has pool_classes_count() entries) under one
 * hold of the set's lock. With wait false (for a signal handler, which must
 * not wait for a lock its own thread may hold) returns -1 with errno EBUSY
 * when the lock is taken; else returns 0. */
int pool_classes_snapshot(struct pool_classes *s, struct pool_class_stats *out,
                          bool wait);

/* Objects of class cls free right now (in the depot and in every cache).
 * Exact whenever no get or put is in flight. Takes the set's lock. */
size_t pool_classes_available(struct pool_classes *s, int cls);

/* fork() support: call _prepare before fork (takes the set's lock), _parent
 * after it in the parent (releases it). In the child, _child re-creates the
 * lock, takes back what the caches of the threads that did not survive the
 * fork held (every cache but `self`, which may be NULL), and starts the
 * figures afresh: misses and exchanges from 0, peak_out from what is out. */
void pool_classes_fork_prepare(struct pool_classes *s);
void pool_classes_fork_parent(struct pool_classes *s);
void pool_classes_fork_child(struct pool_classes *s, struct pool_cache *self);

/* Validate the set's invariants: every object exactly once either free (in a
 * depot, a magazine or a cache) or handed out, every magazine in one place,
 * the counts agreeing. Needs quiescence (no get or put in flight). Takes the
 * set's lock. Returns true when they hold. For tests and debug builds.
 * In a fork's child, objects and magazines that other threads (or this one,
 * forking from a signal handler in the middle of a call) had in hand at the
 * fork may be lost (the child's capacity shrinks by them) or their counts one
 * step ahead: not counted as errors; anything found twice still is. */
bool pool_classes_check(struct pool_classes *s);

#ifdef __cplusplus
}
#endif

#endif
