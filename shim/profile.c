/* profile.c - POOLSHIM_PROFILE: record what a program allocates.
 *
 * In profile mode the pools stay off: the program runs on the real
 * allocator, and every allocation and free is counted in a bucket of the
 * block's usable size (as the real allocator reports it, rounded up to 16):
 * requests, blocks live now, and the peak of blocks live at once. Using the
 * usable size on both sides keeps allocation and free in the same bucket
 * without a table of pointers. A pool class of the bucket's size serves every
 * request that landed in it.
 *
 * At exit the figures are appended to the file as one block of text (one
 * write(2), so processes of one run that share the file do not interleave):
 *   # poolshim profile 1 pid PID
 *   SIZE REQUESTS PEAK_LIVE        (one line per bucket that saw requests)
 *   # larger than 1048576: REQUESTS requests
 *   # end
 * tools/poolshim-recommend.c reads one or more such files and recommends a
 * POOLSHIM_CLASSES line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool/report.h"
#include "shim/shim.h"

#define BUCKETS (POOL_CLASS_SIZE_MAX / 16 + 1) /* bucket i: sizes 16(i-1)+1 .. 16i */

struct bucket {
    _Atomic uint64_t requests;
    _Atomic int64_t live;
    _Atomic int64_t peak;
};

static struct bucket *buckets;   /* BUCKETS of them, mmapped at start */
static _Atomic uint64_t larger;  /* requests above POOL_CLASS_SIZE_MAX */

int profile_start(void)
{
    void *p = mmap(NULL, BUCKETS * sizeof(struct bucket), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    buckets = p;
    return 0;
}

static struct bucket *bucket_of(void *p)
{
    size_t usable = real.malloc_usable_size(p);
    if (usable > POOL_CLASS_SIZE_MAX)
        return NULL;
    return &buckets[(usable + 15) / 16];
}

void profile_alloc(void *p)
{
    if (p == NULL || buckets == NULL || boot_owns(p))
        return;
    struct bucket *b = bucket_of(p);
    if (b == NULL) {
        atomic_fetch_add_explicit(&larger, 1, memory_order_relaxed);
        return;
    }
    atomic_fetch_add_explicit(&b->requests, 1, memory_order_relaxed);
    int64_t live = atomic_fetch_add_explicit(&b->live, 1, memory_order_relaxed) + 1;
    int64_t peak = atomic_load_explicit(&b->peak, memory_order_relaxed);
    while (live > peak &&
           !atomic_compare_exchange_weak_explicit(&b->peak, &peak, live,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

void profile_free(void *p)
{
    if (p == NULL || buckets == NULL || boot_owns(p))
        return;
    struct bucket *b = bucket_of(p);
    if (b != NULL)
        atomic_fetch_sub_explicit(&b->live, 1, memory_order_relaxed);
}

static void report_write_failure(const char *path, int err)
{
    const char *name = strerrorname_np(err);
    struct rbuf b = {0};
    rb_str(&b, "poolshim: POOLSHIM_PROFILE=");
    rb_quoted(&b, path, strlen(path), 200);
    rb_str(&b, ": cannot write the profile (");
    rb_str(&b, name != NULL ? name : "error");
    rb_str(&b, ")\n");
    rb_flush(&b, 2);
}

void profile_write(const char *path)
{
    if (buckets == NULL)
        return;
    int saved = errno;
    size_t cap = (size_t)BUCKETS * 48 + 256;
    char *out = mmap(NULL, cap, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (out == MAP_FAILED || fd < 0) {
        report_write_failure(path, errno);
        if (fd >= 0)
            close(fd);
        if (out != MAP_FAILED)
            munmap(out, cap);
        errno = saved;
        return;
    }
    size_t len = 0;
    struct rbuf b = {0};
#define EMIT()                                  \
    do {                                        \
        memcpy(out + len, b.buf, b.len);        \
        len += b.len;                           \
        b.len = 0;                              \
    } while (0)
    rb_str(&b, "# poolshim profile 1 pid ");
    rb_u64(&b, (uint64_t)getpid());
    rb_char(&b, '\n');
    EMIT();
    for (size_t i = 1; i < BUCKETS; i++) {
        uint64_t req = atomic_load_explicit(&buckets[i].requests, memory_order_relaxed);
        if (req == 0)
            continue;
        rb_u64(&b, i * 16);
        rb_char(&b, ' ');
        rb_u64(&b, req);
        rb_char(&b, ' ');
        rb_u64(&b, (uint64_t)atomic_load_explicit(&buckets[i].peak, memory_order_relaxed));
        rb_char(&b, '\n');
        EMIT();
    }
    rb_str(&b, "# larger than ");
    rb_u64(&b, POOL_CLASS_SIZE_MAX);
    rb_str(&b, ": ");
    rb_u64(&b, atomic_load_explicit(&larger, memory_order_relaxed));
    rb_str(&b, " requests\n# end\n");
    EMIT();
#undef EMIT
    int err = 0;
    for (size_t off = 0; off < len && err == 0;) {
        ssize_t w = write(fd, out + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            err = w < 0 ? errno : EIO;
        else
            off += (size_t)w;
    }
    if (close(fd) != 0 && err == 0)
        err = errno;
    if (err != 0)
        report_write_failure(path, err);
    munmap(out, cap);
    errno = saved;
}
