/* malloc.c - the interposed malloc family and its routing.
 *
 * A request whose size fits a configured class, and whose alignment that
 * class's objects have, is served by the pools (O(1) lookup, then the calling
 * thread's cache); when the class is empty it falls back to the real
 * allocator, or in strict mode fails with ENOMEM. Everything else goes to the
 * real allocator untouched. free and realloc tell a pool pointer by its
 * address (one range check, a shift and a multiply) and a double free by the
 * key a free object holds (pool/classes_internal.h); a pointer inside the
 * pools that is not a handed-out object start (an interior pointer, or an
 * object already free: a double free) aborts with a message, like glibc's
 * "free(): invalid pointer" and "double free detected".
 * What the pools handed out, took back or could not serve is counted in the
 * calling thread's own block (counters.h).
 *
 * Every entry point is defined as shim_NAME (hidden) and exported under its
 * libc names as aliases; a build with SHIM_NO_EXPORTS (the fuzzer's) keeps
 * only the shim_ names and calls them directly.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "shim/latency.h"
#include "shim/shim.h"

#define MALLOC_ALIGN 16 /* what malloc itself guarantees on x86-64 */

static inline struct pool_classes *pools(void)
{
    return __atomic_load_n(&shim.set, __ATOMIC_ACQUIRE);
}

/* The fast paths' view: the pool set, or an empty one while off. */
static inline struct pool_classes *route(void)
{
    return __atomic_load_n(&shim.route, __ATOMIC_ACQUIRE);
}

static inline bool power_of_two(size_t a)
{
    return a != 0 && (a & (a - 1)) == 0;
}

/* ---- figures: the thread's own block, or the orphans' ---- */

enum figure { SERVED, FREED, DRY };

static void count(struct shim_thread *t, enum figure f, unsigned v)
{
    struct shim_counters *c = t != NULL ? t->ctr : counters_orphan();
    uint64_t *x = f == SERVED ? &c->served[v] : f == FREED ? &c->freed[v] : &c->dry[v];
    if (t != NULL)
        (*x)++;
    else
        counters_bump_orphan(x);
}

static void count_uncovered(struct shim_thread *t)
{
    if (t != NULL)
        t->ctr->uncovered++;
    else
        counters_bump_orphan(&counters_orphan()->uncovered);
}

/* ---- the pools, and what happens outside them ---- */

/* An object of class v, counted; NULL when the class is empty (counted as
 * dry unless `optional`). */
static void *from_pools(struct pool_classes *s, unsigned v, bool optional)
{
    struct shim_thread *t = thread_attach(s);
    struct pool_cache *c = t != NULL ? &t->cache : NULL;
    void *p;
    if (c == NULL || !pool_fast_get(s, c, v, &p)) {
        p = pool_get_slow(s, c, v); /* where peak_out may grow: published */
        live_note_peak(v, atomic_load_explicit(&s->cls[v - 1].peak_out,
                                               memory_order_relaxed));
    }
    if (p != NULL) {
        count(t, SERVED, v);
    } else if (!optional) {
        count(t, DRY, v);
        if (shim.cfg.warn)
            warn_dry(v);
    }
    return p;
}

/* The class is empty: strict mode refuses, otherwise the real allocator. */
__attribute__((noinline, cold)) static bool refuse(void)
{
    if (shim.strict) {
        errno = ENOMEM;
        return true;
    }
    return false;
}

/* The shim is not on (yet): start it if it can, else serve from the real
 * allocator, or from the bootstrap arena while that is being looked up. */
__attribute__((noinline, cold)) static bool not_started(void)
{
    return shim_init() != SHIM_ON;
}

static void *early_alloc(size_t n, size_t align)
{
    void *p = boot_alloc(n, align);
    if (p == NULL)
        errno = ENOMEM;
    return p;
}

/* A block from the real allocator: counted in profile mode. */
static inline void *counted(void *p)
{
    if (unlikely(shim.profiling))
        profile_alloc(p);
    return p;
}

static void release_other(void *p)
{
    if (p == NULL || boot_owns(p) || !real_ready())
        return;
    int saved = errno;
    if (unlikely(shim.profiling))
        profile_free(p);
    real.free(p);
    errno = saved;
}

static void *real_realloc(void *p, size_t n)
{
    if (likely(!shim.profiling))
        return real.realloc(p, n);
    profile_free(p);
    void *q = real.realloc(p, n);
    profile_alloc(q != NULL ? q : p);
    return q;
}

/* ---- the timing mode (POOLSHIM_LATENCY, latency.h) ----
 * With the mode on, the fast paths see the empty route and every call comes
 * to a slow path, which runs the same work (the fast path's code on the real
 * set, else the slow path's) between two timer reads and counts it by what
 * it did. `timing_call` marks a call being timed: the calls it makes itself
 * (realloc's malloc and free) are part of it, not calls of their own. */

static __thread bool timing_call __attribute__((tls_model("initial-exec")));

static inline bool timed(void)
{
    return unlikely(shim.timing) && !timing_call;
}

static inline uint64_t timing_begin(void)
{
    timing_call = true;
    return lat_begin();
}

static inline void timing_end(enum lat_kind k, uint64_t t0, uint64_t t1)
{
    timing_call = false;
    lat_record(k, t0, t1);
}

static inline bool in_pools(const struct pool_classes *s, const void *p)
{
    return s != NULL && (uintptr_t)p - (uintptr_t)s->base < s->span;
}

/* What an allocation of class v (0: none) did, from where p came from. */
static enum lat_kind alloc_kind(const struct pool_classes *s, unsigned v, const void *p)
{
    return v == 0 ? LAT_UNCOVERED : in_pools(s, p) ? LAT_POOL : LAT_DRY;
}

/* ---- malloc, free ---- */

/* The fast paths below handle a pooled request served by the thread's
 * loaded magazine, and a request no class covers from a thread already
 * attached; every other case is a tail call to a slow path. */

static void *malloc_timed(size_t n);

__attribute__((noinline)) static void *malloc_slow(size_t n)
{
    if (timed())
        return malloc_timed(n);
    struct pool_classes *s = pools();
    if (likely(s != NULL)) {
        unsigned v = pool_fast_class(s, n);
        if (v == 0) {
            count_uncovered(thread_attach(s));
            return real.malloc(n);
        }
        void *p = from_pools(s, v, false);
        if (p != NULL)
            return p;
        return refuse() ? NULL : real.malloc(n);
    }
    if (!not_started())
        return malloc_slow(n);
    return real_ready() ? counted(real.malloc(n)) : early_alloc(n, MALLOC_ALIGN);
}

/* The fast path's miss that a swap of the thread's two magazines settles;
 * else the slow path. (Out of line, with the fast path's own arguments, so
 * that the fast path stays as short as it was.) */
__attribute__((noinline)) static void *malloc_swap(struct pool_classes *s, size_t n)
{
    struct shim_thread *t = &shim_self;
    unsigned v = pool_fast_class(s, n);
    void *p;
    if (pool_swap_get(&t->cache, v, &p)) {
        t->ctr->served[v]++;
        return p;
    }
    return malloc_slow(n);
}

/* The fast path through set s: route() for the call itself, the real set
 * when the timing mode runs it. */
__attribute__((always_inline)) static inline void *malloc_fast(struct pool_classes *s,
                                                               size_t n)
{
    struct shim_thread *t = &shim_self;
    if (likely(n < s->fits)) { /* pool_fast_class() in two halves: the
                                   comparison also leads to the uncovered
                                   path (through it, 2 instructions more) */
        unsigned v = s->size_v[n];
        void *p;
        if (likely(pool_fast_get(s, &t->cache, v, &p))) {
            t->ctr->served[v]++;
            /* An empty asm: gcc 12 then loads p straight into the return
             * register instead of copying it there (one instruction less). */
            __asm__("" : "+r"(p));
            return p;
        }
        return malloc_swap(s, n);
    } else if (likely(t->cache.set == s)) { /* no class, and the shim is on */
        t->ctr->uncovered++;
        return real.malloc(n);
    }
    return malloc_slow(n);
}

/* malloc and free start on a cache line (ENTRY_ALIGN). Where the linker
 * happened to put them decided the speed of a malloc(64)+free loop on this
 * project's 2-CPU Xeon, same instructions: 6.5-7.6 ns a pair in 8
 * alternated runs at 16-byte alignment against 4.9-5.3 ns (6 runs of 8;
 * 6.6-6.8 in the other 2) at 64, and tcmalloc's 5.4-5.7. */
#define ENTRY_ALIGN __attribute__((aligned(64)))

ENTRY_ALIGN SHIM_HIDDEN void *shim_malloc(size_t n)
{
    return malloc_fast(route(), n);
}

__attribute__((noinline)) static void *malloc_timed(size_t n)
{
    struct pool_classes *s = pools();
    uint64_t t0 = timing_begin();
    void *p = s != NULL ? malloc_fast(s, n) : malloc_slow(n);
    uint64_t t1 = lat_now();
    timing_end(alloc_kind(s, s != NULL ? pool_fast_class(s, n) : 0, p), t0, t1);
    return p;
}

static void free_timed(void *p);

__attribute__((noinline)) void shim_free_slow(void *p)
{
    if (timed()) {
        free_timed(p);
        return;
    }
    struct pool_classes *s = pools();
    if (unlikely(s == NULL)) {
        release_other(p);
        return;
    }
    struct shim_thread *t = thread_attach(s);
    int v = pool_put_slow(s, t != NULL ? &t->cache : NULL, p);
    if (v > 0) {
        count(t, FREED, (unsigned)v);
    } else if (v == POOL_NOT_OURS) {
        /* glibc's free keeps errno itself (since 2.33) */
        if (likely(!boot_owns(p)))
            real.free(p);
    } else {
        pool_misuse(s, "free()", p, v);
    }
}

/* free's miss with the loaded magazine full, p checked: a swap, else the
 * slow path. */
__attribute__((noinline)) static void free_swap(struct pool_classes *s, void *p)
{
    struct shim_thread *t = &shim_self;
    unsigned v = (unsigned)(((uintptr_t)p - (uintptr_t)s->base) >> s->shift) + 1;
    if (pool_swap_put(s, &t->cache, p, v)) {
        t->ctr->freed[v]++;
        return;
    }
    shim_free_slow(p);
}

__attribute__((always_inline)) static inline void free_fast(struct pool_classes *s, void *p)
{
    struct shim_thread *t = &shim_self;
    size_t v;
    int r = pool_fast_put_keyed(s, &t->cache, p, (uintptr_t)s, &v);
    if (likely(r == POOL_FAST_DONE)) {
        t->ctr->freed[v]++;
        return;
    }
    if (r == POOL_FAST_FULL) {
        free_swap(s, p);
        return;
    }
    if (likely(r == POOL_FAST_NOT_OURS)) {
        /* the real free once on (glibc's free keeps errno itself, since
         * 2.33), else the slow path; the bootstrap arena's blocks: shim.h */
        __atomic_load_n(&shim.free_other, __ATOMIC_RELAXED)(p);
        return;
    }
    shim_free_slow(p);
}

ENTRY_ALIGN SHIM_HIDDEN void shim_free(void *p)
{
    free_fast(route(), p);
}

__attribute__((noinline)) static void free_timed(void *p)
{
    struct pool_classes *s = pools();
    uint64_t t0 = timing_begin();
    if (s != NULL)
        free_fast(s, p);
    else
        shim_free_slow(p);
    uint64_t t1 = lat_now();
    timing_end(in_pools(s, p) ? LAT_FREE_POOL : LAT_FREE_OTHER, t0, t1);
}

SHIM_HIDDEN void shim_free_sized(void *p, size_t size)
{
    (void)size;
    shim_free(p);
}

SHIM_HIDDEN void shim_free_aligned_sized(void *p, size_t align, size_t size)
{
    (void)align;
    (void)size;
    shim_free(p);
}

/* ---- calloc ---- */

static void *calloc_timed(size_t n, size_t size);

SHIM_HIDDEN void *shim_calloc(size_t n, size_t size)
{
    if (timed())
        return calloc_timed(n, size);
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    struct pool_classes *s = pools();
    if (likely(s != NULL)) {
        unsigned v = pool_fast_class(s, total);
        if (likely(v != 0)) {
            void *p = from_pools(s, v, false);
            if (likely(p != NULL))
                return memset(p, 0, pool_class_size_v(s, v));
            if (refuse())
                return NULL;
        } else {
            count_uncovered(thread_attach(s));
        }
        return real.calloc(n, size);
    }
    if (!not_started())
        return shim_calloc(n, size);
    /* the arena is static storage, never reused: already zero */
    return real_ready() ? counted(real.calloc(n, size)) : early_alloc(total, MALLOC_ALIGN);
}

__attribute__((noinline)) static void *calloc_timed(size_t n, size_t size)
{
    struct pool_classes *s = pools();
    uint64_t t0 = timing_begin();
    void *p = shim_calloc(n, size);
    uint64_t t1 = lat_now();
    size_t total = n * size; /* overflowed: NULL, counted as uncovered */
    unsigned v = s != NULL && p != NULL ? pool_fast_class(s, total) : 0;
    timing_end(alloc_kind(s, v, p), t0, t1);
    return p;
}

/* ---- realloc ---- */

static void *move(void *p, size_t old, size_t n, void *q)
{
    if (q != NULL) {
        memcpy(q, p, old < n ? old : n);
        shim_free(p);
    }
    return q;
}

/* p is a handed-out object of class v. */
static void *realloc_pooled(struct pool_classes *s, void *p, unsigned v, size_t n)
{
    size_t old = pool_class_size_v(s, v);
    unsigned nv = pool_fast_class(s, n);
    if (nv == v)
        return p;
    if (n < old) {
        /* A shrink moves to its own class, as glibc moves a shrunk block to
         * a smaller chunk, so that the larger object is free for requests of
         * its size; when that class is empty the block stays where it is
         * (it fits). */
        void *q = from_pools(s, nv, true);
        return q != NULL ? move(p, old, n, q) : p;
    }
    return move(p, old, n, shim_malloc(n));
}

static void *realloc_timed(void *p, size_t n);

SHIM_HIDDEN void *shim_realloc(void *p, size_t n)
{
    if (timed())
        return realloc_timed(p, n);
    if (p == NULL)
        return shim_malloc(n);
    struct pool_classes *s = pools();
    int v = s != NULL ? pool_which(s, p) : POOL_NOT_OURS;
    if (v < 0 && v != POOL_NOT_OURS)
        pool_misuse(s, "realloc()", p, v);
    if (n == 0) { /* glibc: frees and returns NULL */
        shim_free(p);
        return NULL;
    }
    if (v > 0)
        return realloc_pooled(s, p, (unsigned)v, n);
    if (boot_owns(p))
        return move(p, boot_usable(p), n, shim_malloc(n));
    if (s != NULL) {
        unsigned nv = pool_fast_class(s, n);
        if (nv != 0) {
            void *q = from_pools(s, nv, false);
            if (q != NULL)
                return move(p, real.malloc_usable_size(p), n, q);
            if (refuse())
                return NULL;
        } else {
            count_uncovered(thread_attach(s));
        }
    }
    return real_ready() ? real_realloc(p, n) : NULL;
}

__attribute__((noinline)) static void *realloc_timed(void *p, size_t n)
{
    uint64_t t0 = timing_begin();
    void *q = shim_realloc(p, n);
    uint64_t t1 = lat_now();
    timing_end(LAT_REALLOC, t0, t1);
    return q;
}

SHIM_HIDDEN void *shim_reallocarray(void *p, size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return shim_realloc(p, total);
}

/* ---- aligned allocation ---- */

enum aligned_kind { MEMALIGN, ALIGNED_ALLOC, POSIX_MEMALIGN, VALLOC, PVALLOC };

static void *real_aligned(enum aligned_kind kind, size_t align, size_t n)
{
    void *p = NULL;
    switch (kind) {
    case MEMALIGN: return real.memalign(align, n);
    case ALIGNED_ALLOC: return real.aligned_alloc(align, n);
    case VALLOC: return real.valloc(n);
    case PVALLOC: return real.pvalloc(n);
    case POSIX_MEMALIGN:
        errno = real.posix_memalign(&p, align, n);
        return p;
    }
    return NULL;
}

/* The class (+ 1) that serves n, when its objects have `align`; else 0: the
 * request goes to the real allocator (a larger class would serve it, but
 * would spend an object that requests of its own size need). */
static unsigned aligned_class(const struct pool_classes *s, size_t align, size_t n)
{
    unsigned v = pool_fast_class(s, n);
    return v != 0 && s->cls[v - 1].align >= align ? v : 0;
}

static void *aligned_timed(enum aligned_kind kind, size_t align, size_t n);

static void *aligned(enum aligned_kind kind, size_t align, size_t n)
{
    if (timed())
        return aligned_timed(kind, align, n);
    struct pool_classes *s = pools();
    if (s == NULL && !not_started())
        s = pools();
    if (s != NULL && power_of_two(align)) {
        unsigned v = aligned_class(s, align, n);
        if (v != 0) {
            void *p = from_pools(s, v, false);
            if (p != NULL)
                return p;
            if (refuse())
                return NULL;
        } else {
            count_uncovered(thread_attach(s));
        }
    }
    if (real_ready())
        return counted(real_aligned(kind, align, n));
    return power_of_two(align) ? early_alloc(n, align) : NULL;
}

__attribute__((noinline)) static void *aligned_timed(enum aligned_kind kind, size_t align,
                                                     size_t n)
{
    uint64_t t0 = timing_begin();
    void *p = aligned(kind, align, n);
    uint64_t t1 = lat_now();
    struct pool_classes *s = pools();
    unsigned v = s != NULL && power_of_two(align) ? aligned_class(s, align, n) : 0;
    timing_end(alloc_kind(s, v, p), t0, t1);
    return p;
}

SHIM_HIDDEN void *shim_memalign(size_t align, size_t n)
{
    return aligned(MEMALIGN, align, n);
}

SHIM_HIDDEN void *shim_aligned_alloc(size_t align, size_t n)
{
    return aligned(ALIGNED_ALLOC, align, n);
}

SHIM_HIDDEN int shim_posix_memalign(void **out, size_t align, size_t n)
{
    if (!power_of_two(align) || align % sizeof(void *) != 0)
        return EINVAL;
    int saved = errno;
    errno = 0;
    void *p = aligned(POSIX_MEMALIGN, align, n);
    int rc = p != NULL ? 0 : errno ? errno : ENOMEM;
    errno = saved;
    if (rc == 0)
        *out = p;
    return rc;
}

SHIM_HIDDEN void *shim_valloc(size_t n)
{
    return aligned(VALLOC, (size_t)sysconf(_SC_PAGESIZE), n);
}

SHIM_HIDDEN void *shim_pvalloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t rounded = n == 0 ? page : (n + page - 1) & ~(page - 1);
    if (rounded < n) {
        errno = ENOMEM;
        return NULL;
    }
    return aligned(PVALLOC, page, rounded);
}

/* ---- malloc_usable_size ---- */

SHIM_HIDDEN size_t shim_malloc_usable_size(void *p)
{
    if (p == NULL)
        return 0;
    struct pool_classes *s = pools();
    if (s != NULL) {
        int c = pool_classes_owner(s, p);
        if (c >= 0)
            return pool_classes_size(s, c);
        if (c == POOL_INTERIOR)
            pool_misuse(s, "malloc_usable_size()", p, c);
    }
    if (boot_owns(p))
        return boot_usable(p);
    return real_ready() ? real.malloc_usable_size(p) : 0;
}

/* ---- the exported names ---- */
#ifndef SHIM_NO_EXPORTS
#define EXPORT(name, target) \
    extern __typeof(target) name __attribute__((alias(#target), visibility("default")))

EXPORT(malloc, shim_malloc);
EXPORT(free, shim_free);
EXPORT(cfree, shim_free);
EXPORT(free_sized, shim_free_sized);
EXPORT(free_aligned_sized, shim_free_aligned_sized);
EXPORT(calloc, shim_calloc);
EXPORT(realloc, shim_realloc);
EXPORT(reallocarray, shim_reallocarray);
EXPORT(memalign, shim_memalign);
EXPORT(aligned_alloc, shim_aligned_alloc);
EXPORT(posix_memalign, shim_posix_memalign);
EXPORT(valloc, shim_valloc);
EXPORT(pvalloc, shim_pvalloc);
EXPORT(malloc_usable_size, shim_malloc_usable_size);
EXPORT(__libc_malloc, shim_malloc);
EXPORT(__libc_free, shim_free);
EXPORT(__libc_calloc, shim_calloc);
EXPORT(__libc_realloc, shim_realloc);
EXPORT(__libc_memalign, shim_memalign);
EXPORT(__libc_valloc, shim_valloc);
EXPORT(__libc_pvalloc, shim_pvalloc);
#endif
