/* malloc.c - the interposed malloc family and its routing.
 *
 * A request whose size fits a configured class, and whose alignment that
 * class's objects have, is served by the pools (O(1) lookup, then the calling
 * thread's cache); when the class is empty it falls back to the real
 * allocator, or in strict mode fails with ENOMEM. Everything else goes to the
 * real allocator untouched. free, realloc and malloc_usable_size tell a pool
 * pointer by its address alone (one range check); a pointer inside the pools
 * that is not an object start aborts with a message, like glibc's
 * "free(): invalid pointer".
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

/* ---- what happens outside the pools ---- */

static inline void count_uncovered(struct pool_classes *s)
{
    pool_classes_aux_add(s, &shim_cache, AUX_UNCOVERED, 1);
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

/* ---- malloc, free ---- */

/* The fast paths below handle a pooled request served by the thread's cache
 * and nothing else; every other case is a tail call to a slow path. */

__attribute__((noinline)) static void *malloc_slow(size_t n)
{
    struct pool_classes *s = pools();
    if (likely(s != NULL)) {
        int c = pool_classes_lookup(s, n);
        if (likely(c < 0)) { /* no class covers n */
            count_uncovered(s);
            return real.malloc(n);
        }
        void *p = pool_classes_get(s, &shim_cache, c);
        if (p != NULL)
            return p;
        return refuse() ? NULL : real.malloc(n);
    }
    if (!not_started())
        return malloc_slow(n);
    return real_ready() ? counted(real.malloc(n)) : early_alloc(n, MALLOC_ALIGN);
}

SHIM_HIDDEN void *shim_malloc(size_t n)
{
    struct pool_classes *s = route();
    void *p;
    if (likely(n <= POOL_SMALL_MAX)) {
        p = pool_cache_pop(&shim_cache, s->small[n]);
    } else if (n > s->max_size) {
        /* Larger than every class, with the shim on (the empty set while
         * off is never attached to): straight to the real allocator. */
        if (likely(shim_cache.set == s)) {
            shim_cache.aux[AUX_UNCOVERED]++;
            return real.malloc(n);
        }
        p = NULL;
    } else {
        p = pool_cache_pop(&shim_cache, (unsigned)pool_classes_lookup(s, n));
    }
    return likely(p != NULL) ? p : malloc_slow(n);
}

__attribute__((noinline)) static void free_slow(void *p)
{
    struct pool_classes *s = pools();
    if (likely(s != NULL)) {
        int c = pool_classes_owner(s, p);
        if (likely(c == POOL_NOT_OURS)) {
            /* glibc's free keeps errno itself (since 2.33) */
            if (likely(!boot_owns(p)))
                real.free(p);
            return;
        }
        if (c == POOL_INTERIOR)
            pool_classes_invalid(s, "free()", p);
        pool_classes_put(s, &shim_cache, c, p);
        return;
    }
    release_other(p);
}

SHIM_HIDDEN void shim_free(void *p)
{
    struct pool_classes *s = route();
    unsigned c;
    if (likely(pool_classes_object(s, p, &c))) {
        if (likely(pool_cache_push(&shim_cache, c, p)))
            return;
    } else if (!pool_classes_inside(s, p) && likely(s->span != 0) && !boot_owns(p)) {
        /* not ours, with the shim on (the empty set has span 0); glibc's
         * free keeps errno itself (since 2.33) */
        real.free(p);
        return;
    }
    free_slow(p);
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

SHIM_HIDDEN void *shim_calloc(size_t n, size_t size)
{
    size_t total;
    if (__builtin_mul_overflow(n, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    struct pool_classes *s = pools();
    if (likely(s != NULL)) {
        int c = pool_classes_lookup(s, total);
        if (likely(c >= 0)) {
            void *p = pool_classes_get(s, &shim_cache, c);
            if (likely(p != NULL))
                return memset(p, 0, pool_classes_size(s, c));
            if (refuse())
                return NULL;
        } else {
            count_uncovered(s);
        }
        return real.calloc(n, size);
    }
    if (!not_started())
        return shim_calloc(n, size);
    /* the arena is static storage, never reused: already zero */
    return real_ready() ? counted(real.calloc(n, size)) : early_alloc(total, MALLOC_ALIGN);
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

SHIM_HIDDEN void *shim_realloc(void *p, size_t n)
{
    if (p == NULL)
        return shim_malloc(n);
    struct pool_classes *s = pools();
    int c = s != NULL ? pool_classes_owner(s, p) : POOL_NOT_OURS;
    if (c == POOL_INTERIOR)
        pool_classes_invalid(s, "realloc()", p);
    if (n == 0) { /* glibc: frees and returns NULL */
        shim_free(p);
        return NULL;
    }
    if (c >= 0) {
        size_t old = pool_classes_size(s, c);
        int nc = pool_classes_lookup(s, n);
        if (nc == c)
            return p;
        if (n < old) {
            /* A shrink moves to its own class, as glibc moves a shrunk block
             * to a smaller chunk, so that the larger object is free for
             * requests of its size; when that class is empty the block
             * stays where it is (it fits). */
            void *q = pool_classes_try_get(s, &shim_cache, nc);
            return q != NULL ? move(p, old, n, q) : p;
        }
        return move(p, old, n, shim_malloc(n));
    }
    if (boot_owns(p))
        return move(p, boot_usable(p), n, shim_malloc(n));
    if (s != NULL) {
        int nc = pool_classes_lookup(s, n);
        if (nc >= 0) {
            void *q = pool_classes_get(s, &shim_cache, nc);
            if (q != NULL)
                return move(p, real.malloc_usable_size(p), n, q);
            if (refuse())
                return NULL;
        } else {
            count_uncovered(s);
        }
    }
    return real_ready() ? real_realloc(p, n) : NULL;
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

/* The class that serves n, when its objects have `align`; else -1: the
 * request goes to the real allocator (a larger class would serve it, but
 * would spend an object that requests of its own size need). */
static int aligned_class(const struct pool_classes *s, size_t align, size_t n)
{
    int c = pool_classes_lookup(s, n);
    return c >= 0 && pool_classes_align(s, c) >= align ? c : -1;
}

static void *aligned(enum aligned_kind kind, size_t align, size_t n)
{
    struct pool_classes *s = pools();
    if (s == NULL && !not_started())
        s = pools();
    if (s != NULL && power_of_two(align)) {
        int c = aligned_class(s, align, n);
        if (c >= 0) {
            void *p = pool_classes_get(s, &shim_cache, c);
            if (p != NULL)
                return p;
            if (refuse())
                return NULL;
        } else {
            count_uncovered(s);
        }
    }
    if (real_ready())
        return counted(real_aligned(kind, align, n));
    return power_of_two(align) ? early_alloc(n, align) : NULL;
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
            pool_classes_invalid(s, "malloc_usable_size()", p);
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
