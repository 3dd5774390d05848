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

/* The real free, which must never see the arena's blocks. */
static void free_unless_boot(void *p)
{
    if (!boot_owns(p))
        real.free(p); /* glibc's free keeps errno itself (since 2.33) */
}

void boot_free_other(void)
{
    /* Most processes never use the arena (glibc's dlsym allocates nothing
     * since 2.34): free then sends a pointer outside the pools straight to
     * the real free. A block taken from the arena after the first load of
     * boot_used, by a thread that had found the real allocator missing just
     * before it came, is seen either here or by boot_alloc (each stores,
     * then loads what the other stores: sequentially consistent). */
    void (*f)(void *) = atomic_load(&boot_used) != 0 ? free_unless_boot : real.free;
    __atomic_store_n(&shim.free_other, f, __ATOMIC_SEQ_CST);
    if (atomic_load(&boot_used) != 0)
        __atomic_store_n(&shim.free_other, free_unless_boot, __ATOMIC_SEQ_CST);
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
    /* a block taken while (or just after) the shim came on: free's pointer
     * for blocks outside the pools must look out for it (boot_free_other) */
    if (__atomic_load_n(&shim.free_other, __ATOMIC_SEQ_CST) != shim_free_slow)
        __atomic_store_n(&shim.free_other, free_unless_boot, __ATOMIC_SEQ_CST);
    memcpy(boot_arena + start - BOOT_HEADER, &size, sizeof size);
    return boot_arena + start; /* static storage: already zero */
}

size_t boot_usable(const void *p)
{
    size_t size;
    memcpy(&size, (const char *)p - BOOT_HEADER, sizeof size);
    return size;
}
