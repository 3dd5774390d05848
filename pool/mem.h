/* mem.h - pages from the system for pool/ (internal): mmap, prefault, mlock.
 * The pools never take memory from malloc, so they can sit under it. */
#ifndef POOL_MEM_H
#define POOL_MEM_H

#include <stdbool.h>
#include <stddef.h>

size_t mem_page_size(void);

/* Reserve `bytes` of address space, aligned to `align` (a power of two, at
 * least the page size), inaccessible until mem_commit(). NULL with errno
 * ENOMEM on failure. */
void *mem_reserve(size_t bytes, size_t align);

/* Make [p, p + bytes) readable and writable; p and bytes page-multiples.
 * Returns 0, or -1 with errno set (ENOMEM). */
int mem_commit(void *p, size_t bytes);

/* Fault in every page of [p, p + bytes) for writing, so that later accesses
 * cause no page fault. MADV_POPULATE_WRITE where the kernel has it, else a
 * write to each page. Cannot fail. */
void mem_prefault(void *p, size_t bytes);

/* Lock [p, p + bytes) in memory. Returns 0 or -1 with errno. */
int mem_lock(void *p, size_t bytes);

/* Give back a range from mem_reserve(). */
void mem_release(void *p, size_t bytes);

static inline size_t mem_round_up(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

#endif
