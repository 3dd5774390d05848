/* soak - a bounded soak of the whole malloc family, for running under the shim.
 *
 *   soak [SECONDS [SEED]]      SECONDS: default 20, 1 .. 60
 *
 * THREADS threads each keep up to SLOTS live blocks of random sizes (pooled
 * sizes, exact class sizes, and sizes no class covers) and random lifetimes.
 * Each step allocates (malloc, calloc, posix_memalign, aligned_alloc,
 * memalign, realloc(NULL), reallocarray(NULL)), frees, resizes, or hands a
 * block to another thread through that thread's queue, which frees it or
 * keeps it. Now and then a block goes through a realloc chain that grows and
 * shrinks it across class boundaries. Every block is filled with a pattern
 * derived from its id and offset, so a block keeps a valid prefix through a
 * realloc, and is verified before every free, realloc and hand-over; calloc
 * blocks are checked for zeros, aligned ones for their alignment, every one
 * for malloc_usable_size >= its size.
 *
 * After SECONDS the threads free what they hold, meet at a barrier (no one
 * hands anything over after it), drain their queues and end. The main thread
 * then checks, after joining: no corruption, no misalignment, no unexpected
 * NULL, every queue empty, and blocks allocated == blocks freed. It prints one
 * summary line ("soak: ok ..." or "soak: FAILED ...") and exits 0 only when
 * all of that held. Output goes through write(2) only: the process allocates
 * nothing of its own outside the soak, so a stats file written at exit must
 * show nothing in use.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "hout.h"

#define THREADS 4
#define SLOTS 1024      /* live blocks a thread may keep */
#define QCAP 256        /* blocks waiting in one thread's queue */
#define CHAIN 16        /* reallocs in one chain */

struct block {
    unsigned char *p;
    size_t size;        /* bytes the pattern covers */
    uint64_t id;        /* thread << 48 | serial */
};

struct queue {
    pthread_mutex_t lock;
    unsigned head, n;
    struct block b[QCAP];
};

/* Everything a thread counts; summed by main after the join (through n[]). */
#define NCOUNTS 13
struct counts {
    union {
        struct {
            unsigned long allocs, frees, reallocs, chains, handed, received, kept;
            unsigned long corrupt, misaligned, not_zero, nulls, small_usable, api;
        };
        unsigned long n[NCOUNTS];
    };
};
_Static_assert(sizeof(struct counts) == NCOUNTS * sizeof(unsigned long), "NCOUNTS counts");

struct worker {
    pthread_t tid;
    unsigned idx;
    unsigned long long rng;
    uint64_t serial;
    struct counts c;
    struct block slot[SLOTS];
};

static struct worker workers[THREADS];
static struct queue queues[THREADS];
static pthread_barrier_t stopped;
static atomic_bool stop;

/* ---- the pattern: word k of block id is mix(id, k), bytes little-endian ---- */

static inline uint64_t mix(uint64_t id, uint64_t k)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ULL + (k + 1) * 0xBF58476D1CE4E5B9ULL;
    x ^= x >> 31;
    return x * 0x94D049BB133111EBULL;
}

static inline unsigned char pat(uint64_t id, size_t i)
{
    return (unsigned char)(mix(id, i >> 3) >> ((i & 7) * 8));
}

/* Fill bytes [from, to) of block id. */
static void fill(unsigned char *p, uint64_t id, size_t from, size_t to)
{
    size_t i = from;
    for (; i < to && (i & 7) != 0; i++)
        p[i] = pat(id, i);
    for (; i + 8 <= to; i += 8) {
        uint64_t w = mix(id, i >> 3);
        memcpy(p + i, &w, 8);
    }
    for (; i < to; i++)
        p[i] = pat(id, i);
}

/* True when bytes [0, to) of block id hold its pattern. */
static bool intact(const unsigned char *p, uint64_t id, size_t to)
{
    size_t i = 0;
    for (; i + 8 <= to; i += 8) {
        uint64_t w = mix(id, i >> 3), have;
        memcpy(&have, p + i, 8);
        if (have != w)
            return false;
    }
    for (; i < to; i++)
        if (p[i] != pat(id, i))
            return false;
    return true;
}

/* ---- sizes ---- */

static const size_t class_sizes[] = {16, 32, 48, 64, 96, 128, 256, 512, 1024, 4096};
#define NCLASS (sizeof class_sizes / sizeof class_sizes[0])

static size_t random_size(unsigned long long *rng)
{
    unsigned r = (unsigned)(hrand(rng) % 100);
    if (r < 50)
        return hrand(rng) % 513;                      /* small: pooled */
    if (r < 70)
        return 513 + hrand(rng) % (4096 - 512);       /* up to 4 KiB */
    if (r < 80) {                                     /* class edges */
        size_t s = class_sizes[hrand(rng) % NCLASS];
        return s + (size_t)(hrand(rng) % 3) - 1;      /* s-1, s, s+1 */
    }
    if (r < 95)
        return 4097 + hrand(rng) % (32768 - 4096);    /* no class */
    return 32769 + hrand(rng) % (200000 - 32768);     /* large, some mmapped */
}

/* ---- one block's life ---- */

static void check(struct worker *w, const struct block *b, const char *when)
{
    if (!intact(b->p, b->id, b->size)) {
        if (w->c.corrupt++ < 5)
            fail("thread %u: block id %#llx (%zu bytes at %p) corrupt %s",
                 w->idx, (unsigned long long)b->id, b->size, (void *)b->p, when);
    }
}

static void release(struct worker *w, struct block *b, const char *when)
{
    check(w, b, when);
    free(b->p);
    w->c.frees++;
    b->p = NULL;
}

/* Checks every fresh block gets: alignment, usable size. */
static void fresh(struct worker *w, const struct block *b, size_t align)
{
    if (((uintptr_t)b->p & (align - 1)) != 0) {
        if (w->c.misaligned++ < 5)
            fail("thread %u: %p not aligned to %zu", w->idx, (void *)b->p, align);
    }
    if (malloc_usable_size(b->p) < b->size) {
        if (w->c.small_usable++ < 5)
            fail("thread %u: malloc_usable_size(%p) = %zu < %zu", w->idx,
                 (void *)b->p, malloc_usable_size(b->p), b->size);
    }
}

static bool allocate(struct worker *w, struct block *b)
{
    size_t n = random_size(&w->rng), align = 16;
    unsigned kind = (unsigned)(hrand(&w->rng) % 100);
    unsigned char *p = NULL;
    bool zero = false;
    errno = 0;
    if (kind < 50) {
        p = malloc(n);
    } else if (kind < 70) {
        size_t k = 1 + hrand(&w->rng) % 8, each = (n + k - 1) / k;
        n = k * each;
        p = calloc(k, each);
        zero = true;
    } else if (kind < 80) {
        void *q = (void *)&w->slot; /* must stay untouched on failure */
        align = (size_t)8 << (hrand(&w->rng) % 10); /* 8 .. 4096 */
        int rc = posix_memalign(&q, align, n);
        if (rc != 0) {
            if (w->c.nulls++ < 5)
                fail("thread %u: posix_memalign(%zu, %zu) = %d", w->idx, align, n, rc);
            if (q != (void *)&w->slot && w->c.api++ < 5)
                fail("thread %u: posix_memalign changed *memptr on failure", w->idx);
            return false;
        }
        p = q;
    } else if (kind < 85) {
        align = (size_t)16 << (hrand(&w->rng) % 9); /* 16 .. 4096 */
        n = (n + align - 1) & ~(align - 1);
        p = aligned_alloc(align, n);
    } else if (kind < 90) {
        align = (size_t)16 << (hrand(&w->rng) % 9);
        p = memalign(align, n);
    } else if (kind < 95) {
        p = realloc(NULL, n);
    } else {
        size_t k = 1 + hrand(&w->rng) % 4, each = (n + k - 1) / k;
        n = k * each;
        p = reallocarray(NULL, k, each);
    }
    if (p == NULL) {
        if (w->c.nulls++ < 5)
            fail("thread %u: allocation of %zu bytes (kind %u) gave NULL, errno %d",
                 w->idx, n, kind, errno);
        return false;
    }
    b->p = p;
    b->size = n;
    b->id = (uint64_t)w->idx << 48 | ++w->serial;
    w->c.allocs++;
    fresh(w, b, align < 16 ? 16 : align);
    if (zero) {
        for (size_t i = 0; i < n; i++) {
            if (p[i] != 0) {
                if (w->c.not_zero++ < 5)
                    fail("thread %u: calloc block %p (%zu bytes) has %#x at %zu",
                         w->idx, (void *)p, n, p[i], i);
                break;
            }
        }
    }
    fill(p, b->id, 0, n);
    return true;
}

/* Resize b to n bytes; its prefix must survive, the rest gets the pattern.
 * n == 0 frees it, as glibc's realloc does (and returns NULL). */
static void resize(struct worker *w, struct block *b, size_t n)
{
    check(w, b, "before realloc");
    w->c.reallocs++;
    if (n == 0) {
        void *q = realloc(b->p, 0);
        if (q != NULL) { /* not glibc's behaviour, but legal: keep it */
            b->p = q;
            b->size = 0;
            return;
        }
        w->c.frees++;
        b->p = NULL;
        return;
    }
    unsigned char *q = realloc(b->p, n);
    if (q == NULL) {
        if (w->c.nulls++ < 5)
            fail("thread %u: realloc(%p, %zu) gave NULL", w->idx, (void *)b->p, n);
        return; /* the old block is still valid */
    }
    b->p = q;
    size_t old = b->size;
    b->size = n < old ? n : old;
    check(w, b, "after realloc");
    fresh(w, &(struct block){.p = q, .size = n, .id = b->id}, 16);
    if (n > old)
        fill(q, b->id, old, n);
    b->size = n;
}

/* Grow and shrink one block through many classes. */
static void chain(struct worker *w, struct block *b)
{
    static const size_t steps[] = {1, 17, 64, 65, 200, 1000, 1025, 3000, 4096,
                                   4097, 9000, 70000, 48, 600, 2, 140000, 30};
    w->c.chains++;
    unsigned start = (unsigned)(hrand(&w->rng) % (sizeof steps / sizeof steps[0]));
    for (unsigned i = 0; i < CHAIN && b->p != NULL; i++) {
        size_t n = steps[(start + i) % (sizeof steps / sizeof steps[0])];
        if (hrand(&w->rng) % 4 == 0)
            n = random_size(&w->rng) + 1;
        resize(w, b, n);
    }
}

/* ---- queues ---- */

static bool hand_over(struct worker *w, struct block *b)
{
    unsigned to = (w->idx + 1 + (unsigned)(hrand(&w->rng) % (THREADS - 1))) % THREADS;
    struct queue *q = &queues[to];
    bool done = false;
    check(w, b, "before handing over");
    pthread_mutex_lock(&q->lock);
    if (q->n < QCAP) {
        q->b[(q->head + q->n) % QCAP] = *b;
        q->n++;
        done = true;
    }
    pthread_mutex_unlock(&q->lock);
    if (done) {
        w->c.handed++;
        b->p = NULL;
    }
    return done;
}

static bool take(struct worker *w, struct block *out)
{
    struct queue *q = &queues[w->idx];
    bool got = false;
    pthread_mutex_lock(&q->lock);
    if (q->n > 0) {
        *out = q->b[q->head];
        q->head = (q->head + 1) % QCAP;
        q->n--;
        got = true;
    }
    pthread_mutex_unlock(&q->lock);
    if (got)
        w->c.received++;
    return got;
}

/* Blocks from other threads: free them here, or keep some for a while. */
static void receive(struct worker *w, unsigned max, bool may_keep)
{
    struct block b;
    for (unsigned i = 0; i < max && take(w, &b); i++) {
        struct block *s = &w->slot[hrand(&w->rng) % SLOTS];
        if (may_keep && s->p == NULL && hrand(&w->rng) % 2 == 0) {
            check(w, &b, "when received");
            *s = b;
            w->c.kept++;
        } else {
            release(w, &b, "when received");
        }
    }
}

/* ---- the threads ---- */

static void step(struct worker *w)
{
    struct block *b = &w->slot[hrand(&w->rng) % SLOTS];
    if (b->p == NULL) {
        allocate(w, b);
        return;
    }
    unsigned r = (unsigned)(hrand(&w->rng) % 100);
    if (r < 40)
        release(w, b, "before free");
    else if (r < 60)
        resize(w, b, hrand(&w->rng) % 2 ? b->size / (1 + hrand(&w->rng) % 3)
                                       : b->size * (2 + hrand(&w->rng) % 2) + 1);
    else if (r < 62)
        chain(w, b);
    else if (r < 85) {
        if (!hand_over(w, b))
            release(w, b, "before free");
    } else
        check(w, b, "while held");
}

/* Rare API corner cases that must fail cleanly. */
static void corners(struct worker *w)
{
    volatile size_t huge = SIZE_MAX / 2; /* hidden from the compiler's checks */
    errno = 0;
    void *p = calloc(huge, 3);
    if (p != NULL || errno != ENOMEM) {
        if (w->c.api++ < 5)
            fail("thread %u: calloc overflow gave %p, errno %d", w->idx, p, errno);
        free(p);
    }
    void *q = &p;
    int rc = posix_memalign(&q, 24, 64);
    if (rc != EINVAL || q != &p) {
        if (w->c.api++ < 5)
            fail("thread %u: posix_memalign(align 24) = %d", w->idx, rc);
        if (rc == 0)
            free(q);
    }
    errno = 0;
    p = reallocarray(NULL, huge / 2, 8);
    if (p != NULL || errno != ENOMEM) {
        if (w->c.api++ < 5)
            fail("thread %u: reallocarray overflow gave %p, errno %d", w->idx, p, errno);
        free(p);
    }
}

static void *run(void *arg)
{
    struct worker *w = arg;
    unsigned long n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        step(w);
        if ((++n & 7) == 0)
            receive(w, 4, true);
        if ((n & 4095) == 0)
            corners(w);
    }
    for (unsigned i = 0; i < SLOTS; i++)
        if (w->slot[i].p != NULL)
            release(w, &w->slot[i], "at the end");
    /* after this no thread hands anything over: drain what is left */
    pthread_barrier_wait(&stopped);
    receive(w, ~0u, false);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long seconds = argc > 1 ? harg(argv[1]) : 20;
    unsigned long long seed = argc > 2 ? harg(argv[2]) : 1;
    if (argc > 3 || seconds < 1 || seconds > 60) {
        hout_fd(2, "usage: soak [SECONDS (1..60, default 20) [SEED]]");
        return 2;
    }
    pthread_barrier_init(&stopped, NULL, THREADS);
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_mutex_init(&queues[i].lock, NULL);
        workers[i].idx = i;
        workers[i].rng = (seed + 1) * 0x9E3779B97F4A7C15ULL + i * 7919 + 1;
    }
    for (unsigned i = 0; i < THREADS; i++) {
        int rc = pthread_create(&workers[i].tid, NULL, run, &workers[i]);
        if (rc != 0) {
            hout_fd(2, "soak: pthread_create: error %d", rc);
            return 2;
        }
    }
    struct timespec t = {.tv_sec = (time_t)seconds};
    while (nanosleep(&t, &t) != 0 && errno == EINTR)
        ;
    atomic_store(&stop, true);

    struct counts sum = {0};
    for (unsigned i = 0; i < THREADS; i++) {
        pthread_join(workers[i].tid, NULL);
        for (unsigned k = 0; k < NCOUNTS; k++)
            sum.n[k] += workers[i].c.n[k];
    }
    unsigned long queued = 0;
    for (unsigned i = 0; i < THREADS; i++)
        queued += queues[i].n;
    if (queued != 0)
        fail("%lu blocks left in the queues", queued);
    if (sum.allocs != sum.frees)
        fail("allocs %lu != frees %lu", sum.allocs, sum.frees);
    if (sum.handed != sum.received)
        fail("handed over %lu != received %lu", sum.handed, sum.received);
    if (sum.allocs == 0)
        fail("nothing allocated");
    /* the workers' fail() calls may race on the failure count: recount */
    if (sum.corrupt + sum.misaligned + sum.not_zero + sum.nulls +
            sum.small_usable + sum.api != 0 && hout_status() == 0)
        fail("the workers saw errors");
    say("soak: %s %lus threads=%u allocs=%lu frees=%lu reallocs=%lu chains=%lu "
        "handed=%lu kept=%lu corrupt=%lu misaligned=%lu not_zero=%lu nulls=%lu "
        "usable=%lu api=%lu",
        hout_status() == 0 ? "ok" : "FAILED", seconds, THREADS, sum.allocs,
        sum.frees, sum.reallocs, sum.chains, sum.handed, sum.kept, sum.corrupt,
        sum.misaligned, sum.not_zero, sum.nulls, sum.small_usable, sum.api);
    return hout_status();
}
