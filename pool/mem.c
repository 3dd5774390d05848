/* mem.c - pages from the system; see mem.h. */
#define _GNU_SOURCE
#include "mem.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

size_t mem_page_size(void)
{
    static size_t page;
    if (page == 0) {
        long v = sysconf(_SC_PAGESIZE);
        page = v > 0 ? (size_t)v : 4096;
    }
    return page;
}

void *mem_reserve(size_t bytes, size_t align)
{
    size_t page = mem_page_size();
    if (align < page)
        align = page;
    bytes = mem_round_up(bytes, page);
    if (bytes == 0 || bytes + align < bytes) {
        errno = ENOMEM;
        return NULL;
    }
    /* Over-reserve by `align`, then trim both ends to the aligned part. */
    size_t span = bytes + (align > page ? align : 0);
    char *raw = mmap(NULL, span, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (raw == MAP_FAILED) {
        errno = ENOMEM;
        return NULL;
    }
    char *start = (char *)mem_round_up((uintptr_t)raw, align);
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    char *end = start + bytes;
    if (end < raw + span)
        munmap(end, (size_t)(raw + span - end));
    return start;
}

int mem_commit(void *p, size_t bytes)
{
    if (bytes == 0)
        return 0;
    if (mprotect(p, bytes, PROT_READ | PROT_WRITE) != 0) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

void mem_prefault(void *p, size_t bytes)
{
    if (bytes == 0 || madvise(p, bytes, MADV_POPULATE_WRITE) == 0)
        return;
    /* Older kernels: touch each page. A read-modify-write of one byte keeps
     * whatever the page holds. */
    size_t page = mem_page_size();
    for (size_t off = 0; off < bytes; off += page) {
        volatile char *c = (volatile char *)p + off;
        *c = *c;
    }
}

int mem_lock(void *p, size_t bytes)
{
    return bytes == 0 ? 0 : mlock(p, bytes);
}

void mem_release(void *p, size_t bytes)
{
    if (p != NULL && bytes != 0)
        munmap(p, mem_round_up(bytes, mem_page_size()));
}
