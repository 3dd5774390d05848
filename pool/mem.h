/* mem.h - pages from the system for pool/ (internal): mmap, prefault, mlock,
 * huge pages. The pools never take memory from malloc, so they can sit under
 * it. All of it is Linux: the only platform code of pool/. */
#ifndef POOL_MEM_H
#define POOL_MEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct rbuf;

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

/* ---- huge pages ---- */

#define MEM_HUGE_PAGE ((size_t)2 << 20) /* the only huge page size used: 2 MiB */

/* How a range from mem_reserve_huge() is backed. */
enum mem_huge {
    MEM_HUGE_NONE,    /* ordinary pages: neither kind below was available */
    MEM_HUGE_HUGETLB, /* reserved hugetlb pages (MAP_HUGETLB): every 2 MiB of
                       * the range has its page set aside at once, from the
                       * pool of /proc/sys/vm/nr_hugepages */
    MEM_HUGE_THP,     /* transparent huge pages (madvise MADV_HUGEPAGE): the
                       * kernel gives a 2 MiB page at fault time when it has
                       * one, else ordinary pages, silently */
};

/* A part of a range that will be used: [off, off + len). */
struct mem_run {
    size_t off, len;
};

/* Reserve `bytes` (rounded up to MEM_HUGE_PAGE) aligned to `align` (a power
 * of two; at least MEM_HUGE_PAGE is used), backed by 2 MiB pages where the
 * kernel gives them: reserved hugetlb pages first, when enough of them are
 * free; else ordinary memory marked for transparent huge pages, when THP is
 * not "never"; else ordinary memory. *how (never NULL) tells which.
 *
 * used[0 .. nused - 1] (ascending; none: all of it) are the parts that will
 * be used: hugetlb pages are reserved for them only, rounded out to whole
 * 2 MiB pages (mem_huge_need() bytes of them), and the rest of the range is
 * inaccessible. Otherwise the whole range comes back readable and writable:
 * a hugetlb mapping cannot be split at 4 KiB boundaries, and transparent huge
 * pages need whole 2 MiB runs of one protection. mem_commit() on any part of
 * a used run succeeds and changes nothing; mem_prefault() and mem_lock() work
 * as on any range (with MEM_HUGE_HUGETLB they fault or lock whole 2 MiB
 * pages). Memory is only used where touched, but by 2 MiB at a time where a
 * huge page backs it.
 *
 * Caveat of MEM_HUGE_HUGETLB (the kernel's, documented in hugetlbpage.rst):
 * after fork, the first write to each such page by the parent or the child
 * copies it into another free hugetlb page; when none is free, the child gets
 * SIGBUS. Keep free hugetlb pages for the children that write to the range.
 *
 * NULL with errno ENOMEM (bytes + align overflow, or no address space even
 * for ordinary pages); never fails because huge pages are missing. Give the
 * range back with mem_release_huge(), not mem_release(). Thread-safe. */
void *mem_reserve_huge(size_t bytes, size_t align, const struct mem_run *used, size_t nused,
                       enum mem_huge *how);

/* The bytes of hugetlb pages mem_reserve_huge() asks for with these runs. */
size_t mem_huge_need(size_t bytes, const struct mem_run *used, size_t nused);

/* Give back a range from mem_reserve_huge(); bytes as given to it. */
void mem_release_huge(void *p, size_t bytes);

/* Append to b why `bytes` could not get huge pages, one line's worth without
 * the newline: the free hugetlb pages against those needed, and the THP mode,
 * with the files that set them. Reads /proc and /sys (open, read: no malloc,
 * no stdio); for messages after mem_reserve_huge() gave MEM_HUGE_NONE. */
void mem_huge_explain(struct rbuf *b, size_t bytes);

/* Name of a backing for messages: "hugetlb", "transparent", "none". */
const char *mem_huge_name(enum mem_huge how);

static inline size_t mem_round_up(size_t n, size_t align)
{
    return (n + align - 1) & ~(align - 1);
}

/* A random 64-bit value, never 0 (getrandom, else the kernel's AT_RANDOM
 * bytes mixed with the address space's layout and the time). Allocates
 * nothing; cannot fail. */
uint64_t mem_random_key(void);

#endif
