/* floor.c - libfloor.so, the benchmark's preloaded floor: a malloc reached
 * through LD_PRELOAD that does next to no work, so that a latency figure can
 * be read against what the call and the memory cost any such allocator
 * (scripts/bench, the *floor* rows). Not the least time a pair can take: a
 * list through the objects has two dependent loads per malloc (its pairs
 * loop measured 5.2-6.3 ns against poolshim's magazines' 4.9-5.8 in most
 * runs of 2026-12, 38 instructions against 48).
 *
 * The same algorithm as the ideal reference (bench/ideal.h), behind the
 * same door as every contestant: the program's PLT call into a preloaded
 * library, its TLS, its return. Per thread, a LIFO free list per
 * power-of-two class (16 B .. 4 KiB), linked through the objects; the
 * objects come from one pre-faulted arena, a region per class, so that free
 * finds the class from the address. No checks of any kind (a double free
 * corrupts the list), no statistics, no limits: not an allocator to run
 * anything but the benchmark with.
 *
 * Sizes above 4 KiB, alignments above 16, and a class whose region is used
 * up go to glibc (__libc_malloc and friends); free and realloc send what is
 * not in the arena there too. At exit, a line on stderr says how many
 * requests a used-up region sent to glibc, when any did: the figures of such
 * a run are not the floor's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t n);
extern void __libc_free(void *p);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t n);

#define API __attribute__((visibility("default"), aligned(64))) /* entries on a cache line, as poolshim's */
#define CLASSES 9                       /* 16 << c bytes, c = 0 .. 8 */
#define REGION_SHIFT 24                 /* 16 MiB of objects per class */
#define ARENA ((uintptr_t)CLASSES << REGION_SHIFT)

/* The arena's start; until it exists, a value no user pointer is at an
 * offset below ARENA from (free's one comparison then sends everything to
 * glibc). */
static _Atomic uintptr_t base = (uintptr_t)0 - ARENA;
static _Atomic size_t carved[CLASSES]; /* bytes handed out of each region */
static _Atomic uint64_t spilled;       /* requests a used-up region sent to glibc */
static __thread void *head[CLASSES] __attribute__((tls_model("initial-exec")));

static inline unsigned class_of(size_t n)
{
    return n <= 16 ? 0 : 60u - (unsigned)__builtin_clzll(n - 1); /* 16 << c >= n */
}

/* The arena, mapped and written on first use (MAP_POPULATE: no page fault
 * after that); NULL if it cannot be. */
static char *arena(void)
{
    uintptr_t b = atomic_load_explicit(&base, memory_order_acquire);
    if (b != (uintptr_t)0 - ARENA)
        return (char *)b;
    void *m = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    uintptr_t want = (uintptr_t)0 - ARENA;
    if (atomic_compare_exchange_strong(&base, &want, (uintptr_t)m))
        return m;
    munmap(m, ARENA); /* another thread's came first */
    return (char *)want;
}

/* An object of class c that no list holds: the next one of the region. */
__attribute__((noinline)) static void *carve(unsigned c, size_t n)
{
    char *a = arena();
    size_t sz = (size_t)16 << c;
    size_t at = a != NULL ? atomic_fetch_add(&carved[c], sz) : SIZE_MAX;
    if (at > ((size_t)1 << REGION_SHIFT) - sz) {
        atomic_fetch_add_explicit(&spilled, 1, memory_order_relaxed);
        return __libc_malloc(n);
    }
    return a + ((size_t)c << REGION_SHIFT) + at;
}

static inline size_t offset_of(const void *p)
{
    return (uintptr_t)p - atomic_load_explicit(&base, memory_order_relaxed);
}

/* malloc's work, under another name: gcc turns malloc + memset into a call
 * to calloc, which in calloc itself would be endless recursion */
static inline void *take(size_t n)
{
    if (__builtin_expect(n - 1 < 4096, 1)) {
        unsigned c = class_of(n);
        void *p = head[c];
        if (__builtin_expect(p != NULL, 1)) {
            head[c] = *(void **)p;
            return p;
        }
        return carve(c, n);
    }
    return __libc_malloc(n);
}

API void *malloc(size_t n)
{
    return take(n);
}

API void free(void *p)
{
    size_t off = offset_of(p);
    if (__builtin_expect(off < ARENA, 1)) {
        unsigned c = (unsigned)(off >> REGION_SHIFT);
        *(void **)p = head[c];
        head[c] = p;
        return;
    }
    __libc_free(p);
}

API void *calloc(size_t n, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow(n, size, &bytes) || bytes - 1 >= 4096)
        return __libc_calloc(n, size);
    void *p = take(bytes);
    if (p != NULL)
        memset(p, 0, bytes);
    return p;
}

API void *realloc(void *p, size_t n)
{
    size_t off = offset_of(p);
    if (p == NULL || off >= ARENA)
        return __libc_realloc(p, n);
    size_t have = (size_t)16 << (off >> REGION_SHIFT);
    if (n == 0) {
        free(p);
        return NULL;
    }
    if (n <= have)
        return p;
    void *q = malloc(n);
    if (q != NULL) {
        memcpy(q, p, have);
        free(p);
    }
    return q;
}

API size_t malloc_usable_size(void *p)
{
    size_t off = offset_of(p);
    if (p != NULL && off < ARENA)
        return (size_t)16 << (off >> REGION_SHIFT);
    static size_t (*real)(void *);
    if (real == NULL)
        real = (size_t (*)(void *))dlsym(RTLD_NEXT, "malloc_usable_size");
    return real != NULL ? real(p) : 0;
}

__attribute__((destructor)) static void report(void)
{
    uint64_t n = atomic_load(&spilled);
    if (n != 0) {
        char line[160];
        int len = snprintf(line, sizeof line,
                           "libfloor: %llu requests found their class's %d MiB used up and "
                           "went to glibc: not the floor's figures\n",
                           (unsigned long long)n, 1 << (REGION_SHIFT - 20));
        if (write(2, line, (size_t)len) < 0)
            return;
    }
}
