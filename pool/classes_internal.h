/* classes_internal.h - the layout of a set of size classes and its inline
 * fast paths: for pool/ and for the shim, never installed.
 *
 * Memory. Class i's objects live in the slice [base + (i << shift), ...) of
 * one reserved range, `stride` bytes apart from the first multiple of the
 * stride in the slice, so that a pointer's class is a shift of its offset
 * and "is it an object start handed out" a multiply of that offset and one
 * comparison (no header, and nothing the fast paths read lies outside the
 * set's first lines, its size table, the thread's cache and the object
 * itself). Beside the objects, per class,
 * magazines (arrays of `rounds` object pointers) and the depot: a lock-free
 * stack of full magazines, one of empty magazines, a stack of loose free
 * objects, and a frontier below which objects have been handed out at least
 * once (objects at or above it were never touched, so nothing has to be
 * written per object at creation).
 *
 * Double frees. A free object's first 8 bytes hold the set's key (a random
 * 64-bit value, or what pool_classes_set_key_ gave it); get clears them,
 * put checks and writes them. A put that finds the key is almost surely a
 * double free: the slow path then looks for the
 * object among the free ones (pool_object_is_free_) and aborts when it is
 * there, else (the program's own data equal to the key, once in 2^64) goes
 * on. Only the object's own cache line is touched, the one the program
 * usually just used: unlike a table of states, nothing cold. A program that
 * writes into an object after freeing it may wipe the key and get a second
 * free past this check, as with glibc's; POOLSHIM_CHECK keeps an exact state
 * byte per object and catches the write itself.
 *
 * Classes are numbered v = class index + 1 wherever the fast paths see them
 * (lookup table, cache arrays), so that 0 is "no class" everywhere and zeroed
 * memory (a set before start-up, a cache never attached) says so by itself.
 *
 * Per class, whenever no get or put is in flight:
 *   count == (count - frontier) + loose + rounds * |full|
 *            + sum over attached caches of (sp - lo) + (prev full ? rounds : 0)
 *            + handed out
 *   mags_born == |full| + |empty| + magazines held (loaded or previous) by
 *                caches: each magazine ever used is in exactly one place
 *   every free object below the frontier holds the key (CHECKED: its state
 *   byte is 0, and every other byte is the poison); objects at or above it
 *   were never handed out and are in no magazine (a cache takes them in a
 *   batch, the frontier moved past them and their keys written first)
 */
#ifndef POOL_CLASSES_INTERNAL_H
#define POOL_CLASSES_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "pool/classes.h"
#include "pool/depot.h"

#define POOL_V_MAX (POOL_CLASSES_MAX + 1) /* class + 1, and 0 */
#define POOL_POISON 0xdb    /* CHECKED: the byte free objects are filled with */

/* Debug builds (make debug) check internal invariants on the hot paths too.
 * A failure prints "pool: FILE:LINE: assertion failed: EXPR" with write(2)
 * (assert()'s stdio may allocate: here that is us) and aborts. */
#ifdef POOL_DEBUG
_Noreturn void pool_assert_fail_(const char *expr, const char *file, int line);
#define POOL_ASSERT(x) ((x) ? (void)0 : pool_assert_fail_(#x, __FILE__, __LINE__))
#else
#define POOL_ASSERT(x) ((void)0)
#endif

/* An empty asm on the class index in free's fast path: without it gcc 12
 * copies the index to another register before it forms the address of the
 * class's figures (one instruction more, for nothing). */
#define POOL_PIN_INDEX(k) __asm__("" : "+r"(k))

/* A word that other threads only ever grow with atomic stores, and that a
 * fast path may read a little late (it then takes the slow path, which reads
 * it again under ordering): read plain, so that the compiler can fold it into
 * a comparison, except under ThreadSanitizer, which would call that a race. */
#if defined(__SANITIZE_THREAD__)
#define POOL_GROWING(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#else
#define POOL_GROWING(x) (x)
#endif

struct pool_class {
    char *base;          /* first object */
    size_t bytes;        /* count * stride */
    size_t size;         /* usable bytes per object */
    size_t stride;       /* distance between objects: size rounded to POOL_GRANULE */
    size_t align;        /* alignment every object has */
    uint64_t magic;      /* UINT64_MAX / stride + 1: offset / stride by multiply */
    uint32_t count;
    uint32_t rounds;     /* objects per magazine; 0: the class is uncached */
    uint8_t *state;      /* CHECKED: per object, 1 handed out, 0 free; else NULL */
    uint32_t nmags;      /* magazine ids 0 .. nmags - 1 */
    void **mag;          /* magazine m's rounds: mag[m * rounds ...] */
    struct depot loose;  /* free objects one by one, by index */
    struct depot full;   /* ids of magazines holding `rounds` free objects */
    struct depot empty;  /* ids of magazines holding nothing */
    _Alignas(64) _Atomic uint32_t frontier; /* objects >= it never handed out */
    _Atomic uint32_t mags_born;  /* magazine ids >= it never used */
    _Atomic uint32_t peak_out;
    _Atomic uint64_t misses;     /* of uncached gets and detached caches */
    _Atomic uint64_t exchanges;  /* of detached caches */
};

/* A thread's cache. Per class v, the loaded magazine holds the free objects
 * lo[v] .. sp[v] - 1 and has room up to hi[v]:
 *   lo[v] <= sp[v] <= hi[v],  hi[v] - lo[v] == rounds (or all NULL: none)
 * and the previous magazine, when there is one, is full or empty (never in
 * between). Magazine ids are stored + 1, so that 0 means none. A cache that
 * is not attached has every pointer NULL, so that both fast paths fail over
 * to the slow ones; index 0 ("no class") is always NULL. */
struct pool_cache {
    union { /* by v, and (for free, which knows the class index) by class */
        void **sp[POOL_V_MAX];
        struct { void **sp_none_, **sp_cls[POOL_CLASSES_MAX]; };
    };
    void **lo[POOL_V_MAX];
    union {
        void **hi[POOL_V_MAX];
        struct { void **hi_none_, **hi_cls[POOL_CLASSES_MAX]; };
    };
    /* what only the slow paths read, one record per class: a swap or a
     * trade with the depot touches one line of it, not one per field */
    struct pool_cache_mags {
        void **prev_lo;         /* the previous magazine's rounds, or NULL */
        uint32_t cur;           /* loaded magazine id + 1, or 0 */
        uint32_t prev;          /* previous magazine id + 1, or 0 */
        uint32_t rounds;        /* the class's, once a magazine was loaded */
        bool prev_full;
        uint64_t misses;
        uint64_t exchanges;
    } mags[POOL_V_MAX];
    struct pool_classes *set;   /* attached to; NULL when not attached */
    struct pool_cache *prev_cache, *next_cache;
    bool heap;                  /* from pool_cache_create() */
};

struct pool_classes {
    /* read by every fast path: the first cache line */
    char *base;           /* class i starts at base + (i << shift) */
    uintptr_t span;       /* nclasses << shift; 0 for the empty set */
    uint64_t key;         /* in a free object's first 8 bytes; never 0 */
    size_t fits;          /* the largest class size + 1: every size below
                             it has a class (0 for the empty set) */
    unsigned shift;
    unsigned nclasses;
    /* per class, what free checks: offset o from base, in class k's slice,
     * is an object start handed out at least once when the stride divides o
     * (each class starts at a multiple of its stride, classes.c) and o <
     * limit[k], the offset of the frontier's object (growing as the frontier
     * does; written with atomic stores). With magic[k] = floor(2^64 / stride)
     * + 1, o * magic[k] (mod 2^64) is j * e for o = j * stride (e = magic *
     * stride - 2^64, 1 <= e <= stride: growing with j) and at least magic[k]
     * otherwise (above any j * e: classes.c asserts the range), so that
     *   o * magic[k] < mlimit[k] = limit[k] * magic[k]
     * is the whole test, one multiply and one comparison; the fast path reads
     * mlimit plain, the slow paths limit. */
    uint64_t limit[POOL_CLASSES_MAX];
    uint64_t magic[POOL_CLASSES_MAX];
    uint64_t mlimit[POOL_CLASSES_MAX];
    unsigned flags;
    unsigned huge;        /* with POOL_CLASSES_HUGEPAGES: the objects' pages,
                             an enum mem_huge (pool/mem.h) */
    size_t huge_bytes;    /* and the hugetlb pages they take, or would */
    const char *name;     /* prefix of the messages printed before an abort */
    struct pool_class cls[POOL_CLASSES_MAX];
    size_t meta_bytes;    /* the mapping that holds this struct and size_v */
    size_t store_bytes;   /* the reservation of links and magazines */
    void *store;
    bool forked;          /* a fork's child: what other threads (or this
                             thread, when it forked from a signal handler in
                             the middle of a call) had in hand at the fork is
                             lost or half-moved, which check() allows */
    pthread_mutex_t lock; /* guards the list of attached caches */
    struct pool_cache *caches;
    uint8_t size_v[];     /* n -> the class + 1 that serves n, for n < fits: one
                             byte per size up to the largest class (at most 1
                             MiB; malloc's lookup is one comparison and one
                             load, and so is its way out for a size no class
                             covers) */
};

/* ---- the fast pair, for callers that manage their own cache ---- */

/* The class + 1 serving n bytes, or 0 when no class does. */
static inline unsigned pool_fast_class(const struct pool_classes *s, size_t n)
{
    return __builtin_expect(n < s->fits, 1) ? s->size_v[n] : 0;
}

/* Take an object of class v from the loaded magazine of c into *p: false
 * when that magazine is empty (or v is 0, or c is not attached), and then
 * the caller goes to pool_get_slow(). Clears the object's key. */
static inline bool pool_fast_get(const struct pool_classes *s,
                                 struct pool_cache *c, unsigned v, void **p)
{
    (void)s;
    void **sp = c->sp[v];
    if (__builtin_expect(sp == c->lo[v], 0))
        return false;
    c->sp[v] = --sp;
    void *q = *sp;
    POOL_ASSERT(sp >= c->lo[v]);
    *(uint64_t *)q = 0;
    *p = q;
    return true;
}

enum { POOL_FAST_FULL = 2, POOL_FAST_DONE = 1, POOL_FAST_SLOW = 0, POOL_FAST_NOT_OURS = -1 };

/* Give p back into c's loaded magazine. Returns POOL_FAST_DONE, with *v set
 * to its class + 1; POOL_FAST_FULL, with *v set, when p may go back but the
 * loaded magazine is full (or c is not attached): pool_swap_put() next, then
 * pool_put_slow() if that fails; POOL_FAST_SLOW when pool_put_slow() must
 * decide (p is not an object start handed out, or it holds the key: a double
 * free, almost surely); POOL_FAST_NOT_OURS when p lies outside the set's
 * range. `key` is s->key: a caller that knows it without a
 * load (the shim's set has its own address for key, pool_classes_set_key_)
 * passes it so. */
static inline int pool_fast_put_keyed(const struct pool_classes *s, struct pool_cache *c,
                                      void *p, uint64_t key, size_t *v)
{
    uintptr_t off = (uintptr_t)p - (uintptr_t)s->base;
    if (__builtin_expect(off >= s->span, 0))
        return POOL_FAST_NOT_OURS;
    size_t k = off >> s->shift;
    POOL_PIN_INDEX(k);
    if (__builtin_expect(off * s->magic[k] >= POOL_GROWING(s->mlimit[k]), 0))
        return POOL_FAST_SLOW; /* not an object start, or never handed out */
    POOL_ASSERT(key == s->key);
    if (__builtin_expect(*(uint64_t *)p == key, 0))
        return POOL_FAST_SLOW;
    void **sp = c->sp_cls[k];
    if (__builtin_expect(sp == c->hi_cls[k], 0)) {
        *v = k + 1;
        return POOL_FAST_FULL;
    }
    POOL_ASSERT(sp >= c->lo[k + 1]);
    *(uint64_t *)p = key;
    *sp = p;
    /* p in place before the stack grows over it: a signal handler that forks
     * here leaves the child a consistent cache */
    atomic_signal_fence(memory_order_release);
    c->sp_cls[k] = sp + 1;
    *v = k + 1;
    return POOL_FAST_DONE;
}

static inline int pool_fast_put(const struct pool_classes *s,
                                struct pool_cache *c, void *p, size_t *v)
{
    return pool_fast_put_keyed(s, c, p, s->key, v);
}

/* The cheap half of the slow paths, for the fast paths' misses that a swap
 * of c's two magazines settles (a random walk of gets and puts crosses that
 * edge far more often than it reaches the depot): get takes an object of
 * class v into *p when the loaded magazine of c is empty and the previous one
 * full; put gives p (of class v, which pool_fast_put checked and found
 * POOL_FAST_FULL) back when the loaded one is full and the previous one
 * empty. false, having changed nothing, in every other case (then the full
 * slow path). c belongs to the calling thread. */
bool pool_swap_get(struct pool_cache *c, unsigned v, void **p);
bool pool_swap_put(const struct pool_classes *s, struct pool_cache *c, void *p, unsigned v);

/* Give s the key `key` (not 0) instead of its random one: only before any
 * object of s is handed out. The shim gives its set the set's own address,
 * which free then has in a register; the set is never shown to the program,
 * so that its data holds that value only by design, never by chance (and a
 * put that finds the key still looks the object up before it calls it a
 * double free). */
void pool_classes_set_key_(struct pool_classes *s, uint64_t key);

/* What p is: its class + 1 when it is a handed-out object start;
 * POOL_NOT_OURS, POOL_INTERIOR, or POOL_FREED (an object start that is free:
 * a second free of it is a double free). A handed-out object holding the key
 * (once in 2^64) is told apart by a look among the free ones. */
enum { POOL_FREED = -3 };
int pool_which(struct pool_classes *s, const void *p);

/* The slow paths. c is an attached cache or NULL (uncached). get returns an
 * object of class v, or NULL when the class is empty (counted as a miss in c,
 * or in the class when c is NULL). put returns p's class + 1 when p went
 * back, else what p is (pool_which()) and changes nothing. */
void *pool_get_slow(struct pool_classes *s, struct pool_cache *c, unsigned v);
int pool_put_slow(struct pool_classes *s, struct pool_cache *c, void *p);

/* Print "NAME: WHAT: double free 0x... (class N bytes): the object is
 * already free", or the invalid-pointer line that `verdict` (from
 * pool_which) calls for, then abort. NAME is the set's (pool_classes_set_name). */
_Noreturn void pool_misuse(const struct pool_classes *s, const char *what,
                           const void *p, int verdict);

/* Print "NAME: WHAT 0x... (class N bytes): DETAIL" and abort. */
_Noreturn void pool_die(const struct pool_classes *s, const char *what,
                        const void *p, const char *detail);

/* Is object p of class v free: in a cache, a magazine of the depot or the
 * loose list, or never handed out? Walks them all under the set's lock: for
 * the rare put that finds the key in an object. */
bool pool_object_is_free_(struct pool_classes *s, unsigned v, const void *p);

/* Free objects in class k's depot: loose, in full magazines, never used. */
uint32_t pool_depot_objects_(const struct pool_class *k);

/* Validate one cache against its set (its magazines' ids and pointers, each
 * object a free object start of its class, none twice): for debug builds,
 * which call it at every detach; needs only c's own thread to be still. */
bool pool_cache_check_(const struct pool_classes *s, const struct pool_cache *c);

/* Make c forget its set without giving anything back (the set is going). */
void pool_cache_forget_(struct pool_cache *c);

/* Figures that a cache keeps for its thread. */
static inline uint64_t pool_cache_exchanges(const struct pool_cache *c, unsigned v)
{
    return c->mags[v].exchanges;
}

static inline size_t pool_class_size_v(const struct pool_classes *s, unsigned v)
{
    return s->cls[v - 1].size;
}

#endif
