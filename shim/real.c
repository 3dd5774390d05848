/* real.c - the real allocator behind the shim, and the bootstrap arena.
 *
 * The real functions come from dlsym(RTLD_NEXT, ...), never from
 * __libc_malloc (which the shim itself exports). free and realloc are
 * resolved first, so that no pointer can reach a real function before free
 * is known. dlsym may allocate (glibc up to 2.33 callocs its error slot);
 * calls made while it runs are served from a small static arena.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <string.h>

#include "shim/shim.h"

struct real_allocator real;

static _Atomic int resolved;       /* 0 no, 1 in progress, 2 done, 3 failed */

bool real_ready(void)
{
    return atomic_load_explicit(&resolved, memory_order_acquire) == 2;
}

bool real_resolve(void)
{
    int expect = 0;
    if (!atomic_compare_exchange_strong(&resolved, &expect, 1))
        return expect == 2;
    struct real_allocator r;
    *(void **)&r.free = dlsym(RTLD_NEXT, "free");
    *(void **)&r.realloc = dlsym(RTLD_NEXT, "realloc");
    *(void **)&r.malloc = dlsym(RTLD_NEXT, "malloc");
    *(void **)&r.calloc = dlsym(RTLD_NEXT, "calloc");
    *(void **)&r.memalign = dlsym(RTLD_NEXT, "memalign");
    *(void **)&r.posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
    *(void **)&r.aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
    *(void **)&r.valloc = dlsym(RTLD_NEXT, "valloc");
    *(void **)&r.pvalloc = dlsym(RTLD_NEXT, "pvalloc");
    *(void **)&r.malloc_usable_size = dlsym(RTLD_NEXT, "malloc_usable_size");
    bool ok = r.free && r.realloc && r.malloc && r.calloc && r.memalign &&
              r.posix_memalign && r.aligned_alloc && r.valloc && r.pvalloc &&
              r.malloc_usable_size;
    if (ok)
        real = r;
    atomic_store_explicit(&resolved, ok ? 2 : 3, memory_order_release);
    return ok;
}

/* ---- bootstrap arena ---- */

#define BOOT_HEADER 16 /* the block's size, just before it */

_Alignas(4096) char boot_arena[BOOT_BYTES];
static _Atomic size_t boot_used;

/* shim.free_other moves through these values, each change one CAS:
 *   shim_free_slow    until the shim is on
 *   free_slow_boot    the same, after the arena gave a block (only while
 *                     the shim was coming on: no CAS can make it real.free)
 *   real.free         on, and the arena never gave a block: most processes
 *                     (glibc's dlsym allocates nothing since 2.34)
 *   free_unless_boot  on, and the arena gave a block: the final value
 * Start-up moves it from the first two (boot_free_other); a block taken from
 * the arena moves it from the first and the third before it is returned
 * (boot_taken), so that no free of an arena block can reach the real free,
 * whichever thread gets there first. */
static void free_unless_boot(void *p)
{
    if (!boot_owns(p))
        real.free(p); /* glibc's free keeps errno itself (since 2.33) */
}

static void free_slow_boot(void *p)
{
    shim_free_slow(p);
}

typedef void free_fn(void *);

static bool move_free_other(free_fn *from, free_fn *to)
{
    return __atomic_compare_exchange_n(&shim.free_other, &from, to, false, __ATOMIC_SEQ_CST,
                                       __ATOMIC_SEQ_CST);
}

void boot_free_other(void)
{
    free_fn *want = atomic_load(&boot_used) != 0 ? free_unless_boot : real.free;
    if (!move_free_other(shim_free_slow, want)) /* a block came meanwhile */
        move_free_other(free_slow_boot, free_unless_boot);
}

static void boot_taken(void)
{
    for (;;) {
        free_fn *cur = __atomic_load_n(&shim.free_other, __ATOMIC_SEQ_CST);
        free_fn *next = cur == shim_free_slow ? free_slow_boot
                        : cur == real.free    ? free_unless_boot
                                              : NULL;
        if (next == NULL || move_free_other(cur, next))
            return;
    }
}

void *boot_alloc(size_t size, size_t align)
{
    if (align < BOOT_HEADER)
        align = BOOT_HEADER;
    if (size > BOOT_BYTES || align > 4096)
        return NULL;
    size_t used = atomic_load_explicit(&boot_used, memory_order_relaxed), start, end;
    do {
        start = (used + BOOT_HEADER + align - 1) & ~(align - 1);
        end = start + (size ? (size + 15) & ~(size_t)15 : 16); /* 0: still inside */
        if (end > BOOT_BYTES)
            return NULL;
    } while (!atomic_compare_exchange_weak(&boot_used, &used, end));
    boot_taken();
    memcpy(boot_arena + start - BOOT_HEADER, &size, sizeof size);
    return boot_arena + start; /* static storage: already zero */
}

size_t boot_usable(const void *p)
{
    size_t size;
    memcpy(&size, (const char *)p - BOOT_HEADER, sizeof size);
    return size;
}
