/* mem.c - pages from the system; see mem.h. */
#define _GNU_SOURCE
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "report.h"

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

/* mmap `bytes` with prot and flags at an `align`-aligned address; `unit`
 * (a power of two <= align) is the alignment the kernel gives such a mapping
 * anyway and the granularity it can be cut at. When a mapping of `bytes` is
 * not aligned by chance, over-maps by align - unit (for a moment: hugetlb
 * pages must be free for it) and trims both ends. NULL on failure. */
static void *map_aligned(size_t bytes, size_t align, size_t unit, int prot, int flags)
{
    char *raw = mmap(NULL, bytes, prot, flags, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    if (((uintptr_t)raw & (align - 1)) == 0)
        return raw;
    munmap(raw, bytes);
    size_t span = bytes + (align - unit);
    raw = mmap(NULL, span, prot, flags, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *start = (char *)mem_round_up((uintptr_t)raw, align);
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    char *end = start + bytes;
    if (end < raw + span)
        munmap(end, (size_t)(raw + span - end));
    return start;
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
    void *p = map_aligned(bytes, align, page, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    if (p == NULL)
        errno = ENOMEM;
    return p;
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

/* ---- huge pages ---- */

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif

#define HUGETLB_DIR "/sys/kernel/mm/hugepages/hugepages-2048kB/"
#define THP_DIR "/sys/kernel/mm/transparent_hugepage/"

/* The first line of a small file of /proc or /sys into buf (NUL-terminated,
 * newline dropped); its length, or -1 when it cannot be read. */
static ssize_t read_line(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n;
    do
        n = read(fd, buf, size - 1);
    while (n < 0 && errno == EINTR);
    close(fd);
    if (n < 0)
        return -1;
    buf[n] = '\0';
    char *nl = memchr(buf, '\n', (size_t)n);
    if (nl != NULL)
        *nl = '\0';
    return nl != NULL ? nl - buf : n;
}

static long read_count(const char *path)
{
    char buf[32], *end;
    if (read_line(path, buf, sizeof buf) <= 0)
        return -1;
    long v = strtol(buf, &end, 10);
    return *end == '\0' && v >= 0 ? v : -1;
}

/* The selected word of a sysfs choice ("always [madvise] never") into out;
 * false when the file is missing or has no selection. */
static bool read_choice(const char *path, char *out, size_t size)
{
    char buf[128];
    if (read_line(path, buf, sizeof buf) < 0)
        return false;
    char *open_br = strchr(buf, '['), *close_br = open_br ? strchr(open_br, ']') : NULL;
    if (close_br == NULL || (size_t)(close_br - open_br) > size)
        return false;
    memcpy(out, open_br + 1, (size_t)(close_br - open_br - 1));
    out[close_br - open_br - 1] = '\0';
    return true;
}

/* The THP mode that applies to 2 MiB pages: the per-size setting of newer
 * kernels unless it says "inherit", else the global one. "" when the kernel
 * has no THP. */
static void thp_mode(char *out, size_t size)
{
    if (read_choice(THP_DIR "hugepages-2048kB/enabled", out, size) &&
        strcmp(out, "inherit") != 0)
        return;
    if (!read_choice(THP_DIR "enabled", out, size))
        out[0] = '\0';
}

static bool thp_usable(void)
{
    char mode[16];
    thp_mode(mode, sizeof mode);
    return mode[0] != '\0' && strcmp(mode, "never") != 0;
}

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define HUGETLB_FLAGS (MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB)
#define RW (PROT_READ | PROT_WRITE)

/* The next 2 MiB-aligned run of used[] from *i on (rounded out to whole
 * huge pages, clipped to bytes, overlapping and touching runs merged) into
 * *off and *len, *i moved past it; false after the last. used[] is
 * ascending. */
static bool huge_run(size_t bytes, const struct mem_run *used, size_t nused, size_t *i,
                     size_t *off, size_t *len)
{
    while (*i < nused) {
        size_t lo = used[*i].off & ~(MEM_HUGE_PAGE - 1);
        size_t hi = mem_round_up(used[*i].off + used[*i].len, MEM_HUGE_PAGE);
        for ((*i)++; *i < nused && (used[*i].off & ~(MEM_HUGE_PAGE - 1)) <= hi; (*i)++) {
            size_t end = mem_round_up(used[*i].off + used[*i].len, MEM_HUGE_PAGE);
            hi = end > hi ? end : hi;
        }
        if (lo >= bytes)
            return false;
        if (hi > lo) {
            *off = lo;
            *len = (hi < bytes ? hi : bytes) - lo;
            return true;
        }
    }
    return false;
}

size_t mem_huge_need(size_t bytes, const struct mem_run *used, size_t nused)
{
    bytes = mem_round_up(bytes, MEM_HUGE_PAGE);
    if (nused == 0)
        return bytes;
    size_t total = 0, i = 0, off, len;
    while (huge_run(bytes, used, nused, &i, &off, &len))
        total += len;
    return total;
}

/* Replace [p, p + len) of our own reservation with hugetlb pages, without
 * ever mapping over anything that is not ours: the range is unmapped first,
 * then mapped where nothing is (MAP_FIXED_NOREPLACE). On failure the range
 * holds an inaccessible reservation again and true goes to *intact, unless
 * another thread's mapping took the hole in between (false). */
static bool hugetlb_at(char *p, size_t len, bool *intact)
{
    *intact = true;
    munmap(p, len);
    char *q = mmap(p, len, RW, HUGETLB_FLAGS | MAP_FIXED_NOREPLACE, -1, 0);
    if (q == p)
        return true;
    if (q != MAP_FAILED) /* a kernel before 4.17 took the address as a hint */
        munmap(q, len);
    q = mmap(p, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE,
             -1, 0);
    if (q != p) {
        if (q != MAP_FAILED)
            munmap(q, len);
        *intact = false;
    }
    return false;
}

/* hugetlb pages for the runs of used[] only, in an inaccessible reservation
 * of bytes at align; NULL when they cannot all be had (nothing kept). */
static char *hugetlb_runs(size_t bytes, size_t align, const struct mem_run *used, size_t nused)
{
    char *base = map_aligned(bytes, align, mem_page_size(), PROT_NONE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
    if (base == NULL)
        return NULL;
    size_t i = 0, off, len;
    while (huge_run(bytes, used, nused, &i, &off, &len)) {
        bool intact;
        if (hugetlb_at(base + off, len, &intact))
            continue;
        if (intact) {
            munmap(base, bytes);
        } else { /* all of it but the hole someone else's mapping is in */
            munmap(base, off);
            munmap(base + off + len, bytes - off - len);
        }
        return NULL;
    }
    return base;
}

void *mem_reserve_huge(size_t bytes, size_t align, const struct mem_run *used, size_t nused,
                       enum mem_huge *how)
{
    *how = MEM_HUGE_NONE;
    if (align < MEM_HUGE_PAGE)
        align = MEM_HUGE_PAGE;
    if (bytes == 0 || bytes > SIZE_MAX - align - MEM_HUGE_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    bytes = mem_round_up(bytes, MEM_HUGE_PAGE);
    int rw = RW, anon = MAP_PRIVATE | MAP_ANONYMOUS;
    /* No MAP_NORESERVE here: without a reservation, a fault that finds no
     * free hugetlb page would be a SIGBUS instead of this fallback. */
    char *p = mem_huge_need(bytes, used, nused) == bytes
                  ? map_aligned(bytes, align, MEM_HUGE_PAGE, rw, HUGETLB_FLAGS)
                  : hugetlb_runs(bytes, align, used, nused);
    if (p != NULL) {
        *how = MEM_HUGE_HUGETLB;
        return p;
    }
    p = map_aligned(bytes, align, mem_page_size(), rw, anon | MAP_NORESERVE);
    if (p == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    if (thp_usable() && madvise(p, bytes, MADV_HUGEPAGE) == 0)
        *how = MEM_HUGE_THP;
    return p;
}

void mem_release_huge(void *p, size_t bytes)
{
    if (p != NULL && bytes != 0)
        munmap(p, mem_round_up(bytes, MEM_HUGE_PAGE));
}

void mem_huge_explain(struct rbuf *b, size_t bytes)
{
    long nr = read_count(HUGETLB_DIR "nr_hugepages");
    long free_pages = read_count(HUGETLB_DIR "free_hugepages");
    long resv = read_count(HUGETLB_DIR "resv_hugepages");
    if (nr < 0 || free_pages < 0) {
        rb_str(b, "hugetlb pages: none in this kernel");
    } else {
        long avail = free_pages - (resv > 0 ? resv : 0);
        rb_str(b, "hugetlb pages: ");
        rb_u64(b, (uint64_t)(avail > 0 ? avail : 0));
        rb_str(b, " free of the ");
        rb_u64(b, mem_round_up(bytes, MEM_HUGE_PAGE) / MEM_HUGE_PAGE);
        rb_str(b, " needed (vm.nr_hugepages is ");
        rb_u64(b, (uint64_t)nr);
        rb_str(b, ")");
    }
    char mode[16];
    thp_mode(mode, sizeof mode);
    if (mode[0] == '\0') {
        rb_str(b, "; transparent huge pages: none in this kernel");
    } else {
        rb_str(b, "; transparent huge pages: ");
        rb_str(b, mode);
        rb_str(b, " (" THP_DIR "enabled)");
    }
}

const char *mem_huge_name(enum mem_huge how)
{
    switch (how) {
    case MEM_HUGE_HUGETLB:
        return "hugetlb";
    case MEM_HUGE_THP:
        return "transparent";
    default:
        return "none";
    }
}

uint64_t mem_random_key(void)
{
    uint64_t key = 0;
    if (syscall(SYS_getrandom, &key, sizeof key, GRND_NONBLOCK) != (long)sizeof key) {
        const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        if (r != NULL)
            memcpy(&key, r, sizeof key);
        key ^= (uint64_t)(uintptr_t)&key * 0x9e3779b97f4a7c15u ^ (uint64_t)ts.tv_nsec;
    }
    return key != 0 ? key : 0x5bd1e9955bd1e995u;
}
