/* mt_mixed - several threads allocating, resizing and freeing blocks of mixed
 * sizes (pooled and not), each block stamped with its owner and checked
 * before every realloc and free, so overlapping or corrupted blocks show.
 *
 *   mt_mixed THREADS OPS [strict]
 *
 * Prints ops=, errors= and nulls= (NULL results: a failure unless "strict",
 * where configured sizes may be refused); exits 1 on any error.
 *
 * The threads run on stacks of our own (mmap) and start together: glibc
 * then frees each thread's TLS vector (a calloc of some 300 bytes) when the
 * thread is joined instead of keeping it with a cached stack, so the shim's
 * stats show nothing in use at exit; and every pthread_create() is done
 * before any thread allocates, so strict mode cannot refuse glibc's own
 * allocations for a new thread.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <sys/mman.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hout.h"

#define SLOTS 256
#define MAX_THREADS 64

struct block {
    unsigned char *p;
    size_t n;
    unsigned char tag;
};

struct worker {
    pthread_t tid;
    unsigned id;
    unsigned long ops;
    unsigned long errors, nulls;
};

static unsigned long ops_per_thread;
static bool strict;
static pthread_barrier_t start;

static size_t pick_size(unsigned long long *rng)
{
    unsigned r = (unsigned)(hrand(rng) % 100);
    if (r < 70)
        return 1 + hrand(rng) % 512;
    if (r < 90)
        return 513 + hrand(rng) % (4096 - 512);
    return 4097 + hrand(rng) % 16000;
}

static void stamp(struct block *b)
{
    /* every byte: cheap to write, and a neighbour's bytes never match */
    memset(b->p, b->tag, b->n);
}

static bool intact(const struct block *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (b->p[i] != b->tag)
            return false;
    return true;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    struct block slot[SLOTS];
    unsigned long long rng = 0x9e3779b97f4a7c15ULL * (w->id + 1);
    memset(slot, 0, sizeof slot);
    pthread_barrier_wait(&start);

    for (unsigned long op = 0; op < ops_per_thread; op++) {
        struct block *b = &slot[hrand(&rng) % SLOTS];
        unsigned kind = (unsigned)(hrand(&rng) % 10);
        if (b->p != NULL && kind < 6) {              /* free */
            if (!intact(b, b->n))
                w->errors++;
            free(b->p);
            b->p = NULL;
        } else if (b->p != NULL) {                   /* realloc */
            size_t n = pick_size(&rng);
            if (!intact(b, b->n))
                w->errors++;
            unsigned char *q = realloc(b->p, n);
            if (q == NULL) {
                w->nulls++;
                continue;                            /* b still valid */
            }
            size_t keep = b->n < n ? b->n : n;
            b->p = q;
            if (!intact(b, keep))
                w->errors++;
            b->n = n;
            stamp(b);
        } else {                                     /* a new block */
            size_t n = pick_size(&rng);
            b->tag = (unsigned char)(w->id * 16 + (op & 15) + 1);
            if (kind < 6) {
                b->p = malloc(n);
            } else if (kind < 8) {
                b->p = calloc(1, n);
                if (b->p != NULL)
                    for (size_t i = 0; i < n; i++)
                        if (b->p[i] != 0) {
                            w->errors++;
                            break;
                        }
            } else {
                void *q = NULL;
                size_t a = (size_t)8 << (hrand(&rng) % 7);
                if (posix_memalign(&q, a, n) != 0)
                    q = NULL;
                if (q != NULL && ((uintptr_t)q & (a - 1)) != 0)
                    w->errors++;
                b->p = q;
            }
            if (b->p == NULL) {
                w->nulls++;
                continue;
            }
            if (malloc_usable_size(b->p) < n)
                w->errors++;
            b->n = n;
            stamp(b);
        }
        w->ops++;
    }
    for (int i = 0; i < SLOTS; i++) {
        if (slot[i].p == NULL)
            continue;
        if (!intact(&slot[i], slot[i].n))
            w->errors++;
        free(slot[i].p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        hout_fd(2, "usage: mt_mixed THREADS OPS [strict]");
        return 2;
    }
    unsigned long nthreads = harg(argv[1]);
    ops_per_thread = harg(argv[2]);
    strict = argc > 3 && strcmp(argv[3], "strict") == 0;
    if (nthreads == 0 || nthreads > MAX_THREADS)
        return 2;

    enum { STACK = 1 << 20 };
    static struct worker w[MAX_THREADS];
    pthread_barrier_init(&start, NULL, (unsigned)nthreads);
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_attr_t attr;
        void *stack = mmap(NULL, STACK, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        w[i].id = i;
        if (stack == MAP_FAILED || pthread_attr_init(&attr) != 0 ||
            pthread_attr_setstack(&attr, stack, STACK) != 0 ||
            pthread_create(&w[i].tid, &attr, work, &w[i]) != 0) {
            fail("cannot start thread %u", i);
            return 1;
        }
        pthread_attr_destroy(&attr);
    }
    unsigned long ops = 0, errors = 0, nulls = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(w[i].tid, NULL);
        ops += w[i].ops;
        errors += w[i].errors;
        nulls += w[i].nulls;
    }
    say("ops=%lu", ops);
    say("errors=%lu", errors);
    say("nulls=%lu", nulls);
    if (errors != 0)
        fail("%lu corrupted or misaligned blocks", errors);
    if (nulls != 0 && !strict)
        fail("%lu NULL results without strict mode", nulls);
    return hout_status();
}
