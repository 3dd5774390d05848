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
 * At exit the figures are appended to the file as one block of text, in the
 * format of shim/profile_format.h (which tools/poolshim-recommend reads). A
 * forked child starts its requests from zero and its peaks from what it
 * inherited live (see there), so that a run's blocks count each request once.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "pool/report.h"
#include "shim/profile_format.h"
#include "shim/shim.h"
#include "shim/timefmt.h"

/* Per bucket, in a process: peak >= live, and live == blocks of the bucket's
 * sizes allocated and not yet freed, inherited at fork included (a block
 * allocated before profiling started and freed during it makes live lower by
 * one: it never goes into a profile, where only requests and peak are). */
struct bucket {
    _Atomic uint64_t requests;
    _Atomic int64_t live;
    _Atomic int64_t peak;
};

static struct bucket *buckets;   /* PROFILE_BUCKETS of them, mmapped at start */
static _Atomic uint64_t larger;  /* requests above PROFILE_SIZE_MAX */
/* Bit i set when bucket i saw a request (before its count changes): fork
 * and the writer visit these only, not the 1.5 MiB of all buckets (reading
 * the untouched ones costs a page fault per 4 KiB). */
static _Atomic uint64_t used[PROFILE_BUCKETS / 64 + 1];

int profile_start(void)
{
    /* the exit message, if any, goes to this stderr only */
    stats_remember_stderr(false);
    void *p = mmap(NULL, PROFILE_BUCKETS * sizeof(struct bucket), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return -1;
    buckets = p;
    return 0;
}

/* p's bucket, PROFILE_BUCKETS when p is larger than any. */
static size_t bucket_of(void *p)
{
    size_t usable = real.malloc_usable_size(p);
    return usable > PROFILE_SIZE_MAX ? PROFILE_BUCKETS : profile_bucket(usable);
}

void profile_alloc(void *p)
{
    if (p == NULL || buckets == NULL || boot_owns(p))
        return;
    size_t i = bucket_of(p);
    if (i == PROFILE_BUCKETS) {
        atomic_fetch_add_explicit(&larger, 1, memory_order_relaxed);
        return;
    }
    uint64_t bit = UINT64_C(1) << (i % 64);
    if ((atomic_load_explicit(&used[i / 64], memory_order_relaxed) & bit) == 0)
        atomic_fetch_or_explicit(&used[i / 64], bit, memory_order_relaxed);
    struct bucket *b = &buckets[i];
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
    size_t i = bucket_of(p);
    if (i != PROFILE_BUCKETS)
        atomic_fetch_sub_explicit(&buckets[i].live, 1, memory_order_relaxed);
}

/* The first bucket from i on whose bit is set in used; PROFILE_BUCKETS
 * when there is none. */
static size_t next_used(size_t i)
{
    while (i < PROFILE_BUCKETS) {
        uint64_t w = atomic_load_explicit(&used[i / 64], memory_order_relaxed) >> (i % 64);
        if (w != 0)
            return i + (size_t)__builtin_ctzll(w);
        i = (i / 64 + 1) * 64;
    }
    return PROFILE_BUCKETS;
}

/* Append b's text to out (which has room: see profile_write) and empty b. */
static void emit(char *out, size_t *len, struct rbuf *b)
{
    memcpy(out + *len, b->buf, b->len);
    *len += b->len;
    b->len = 0;
}

/* This process's block, into out; returns its length. */
static size_t format_block(char *out)
{
    size_t len = 0;
    struct rbuf b = {0};
    /* whose block and when: a comment line, which readers skip */
    rb_str(&b, "# program ");
    rb_esc(&b, program_invocation_short_name, strlen(program_invocation_short_name), 64);
    rb_str(&b, " at ");
    rb_utc_now(&b);
    rb_char(&b, '\n');
    rb_str(&b, PROFILE_MARK_START " " PROFILE_VERSION " " PROFILE_MARK_PID " ");
    rb_u64(&b, (uint64_t)getpid());
    rb_char(&b, '\n');
    emit(out, &len, &b);
    for (size_t i = next_used(0); i < PROFILE_BUCKETS; i = next_used(i + 1)) {
        uint64_t req = atomic_load_explicit(&buckets[i].requests, memory_order_relaxed);
        if (req == 0)
            continue;
        rb_u64(&b, i * PROFILE_GRANULE);
        rb_char(&b, ' ');
        rb_u64(&b, req);
        rb_char(&b, ' ');
        rb_u64(&b, (uint64_t)atomic_load_explicit(&buckets[i].peak, memory_order_relaxed));
        rb_char(&b, '\n');
        emit(out, &len, &b);
    }
    rb_str(&b, PROFILE_MARK_LARGER " ");
    rb_u64(&b, PROFILE_SIZE_MAX);
    rb_str(&b, ": ");
    rb_u64(&b, atomic_load_explicit(&larger, memory_order_relaxed));
    rb_str(&b, " " PROFILE_MARK_REQUESTS "\n" PROFILE_MARK_END "\n");
    emit(out, &len, &b);
    return len;
}

/* Write all of out[0..len) to fd; returns 0 or an errno. */
static int write_all(int fd, const char *out, size_t len)
{
    for (size_t off = 0; off < len;) {
        ssize_t w = write(fd, out + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        off += (size_t)w;
    }
    return 0;
}

void profile_write(const char *path)
{
    if (buckets == NULL)
        return;
    int saved = errno;
    /* a bucket's line is at most 3 numbers of 20 digits and 3 separators */
    size_t cap = (size_t)PROFILE_BUCKETS * 64 + 256;
    char *out = mmap(NULL, cap, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    int fd = -1, err = out == MAP_FAILED ? errno : 0;
    if (err == 0 && (fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644)) < 0)
        err = errno;
    if (err == 0)
        err = write_all(fd, out, format_block(out));
    if (fd >= 0 && close(fd) != 0 && err == 0)
        err = errno;
    if (err != 0)
        stats_say_cannot_write("POOLSHIM_PROFILE", path, "profile", err);
    if (out != MAP_FAILED)
        munmap(out, cap);
    errno = saved;
}

/* In a forked child (only the forking thread runs): its own requests only,
 * and peaks from what it inherited live. Buckets with nothing to change are
 * only read, so that their pages stay shared with the parent. */
static void profile_fork_child(void)
{
    if (buckets == NULL)
        return;
    for (size_t i = next_used(0); i < PROFILE_BUCKETS; i = next_used(i + 1)) {
        struct bucket *b = &buckets[i];
        int64_t live = atomic_load_explicit(&b->live, memory_order_relaxed);
        live = live > 0 ? live : 0; /* see struct bucket */
        if (atomic_load_explicit(&b->requests, memory_order_relaxed) == 0 &&
            atomic_load_explicit(&b->peak, memory_order_relaxed) == live)
            continue;
        atomic_store_explicit(&b->requests, 0, memory_order_relaxed);
        atomic_store_explicit(&b->peak, live, memory_order_relaxed);
    }
    atomic_store_explicit(&larger, 0, memory_order_relaxed);
}

/* Registered from a constructor, outside any allocation; whether profiling
 * is on is known only later, so the handler checks. */
__attribute__((constructor)) static void profile_register_atfork(void)
{
    pthread_atfork(NULL, NULL, profile_fork_child);
}
