/* counters.c - per-thread blocks of the shim's figures; see counters.h.
 *
 * Blocks come in chunks mapped from the system (never from malloc, which is
 * us), are handed to threads under a lock, and never unmapped: a chunk's
 * blocks are reused by later threads. The retired totals and the overflow
 * block are updated with atomic adds; attached blocks are written by their
 * own thread only and read by the summing thread without a lock on them (the
 * figures of a thread in the middle of a call may be one behind).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>

#include "shim/counters.h"

#define BLOCKS 63 /* per chunk: a chunk is a little over 52 KiB */

struct chunk {
    struct chunk *next;
    uint8_t used[BLOCKS];
    struct shim_counters block[BLOCKS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct chunk *chunks;
static struct shim_counters retired;  /* of exited threads and orphans */
static struct shim_counters overflow; /* shared when no block can be had */

#define EACH_FIGURE(i) for (size_t i = 0; i < sizeof(struct shim_counters) / sizeof(uint64_t); i++)

static uint64_t *figures(struct shim_counters *c)
{
    return (uint64_t *)c;
}

static void fold(struct shim_counters *into, struct shim_counters *from)
{
    EACH_FIGURE(i)
        __atomic_fetch_add(&figures(into)[i],
                           __atomic_load_n(&figures(from)[i], __ATOMIC_RELAXED),
                           __ATOMIC_RELAXED);
}

/* A new chunk, faulted in (a thread's first call must not fault). */
static bool add_chunk(void)
{
    struct chunk *k = mmap(NULL, sizeof *k, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (k == MAP_FAILED)
        return false;
    k->next = chunks;
    chunks = k;
    return true;
}

int counters_init(void)
{
    int saved = errno, rc = 0;
    pthread_mutex_lock(&lock);
    if (chunks == NULL && !add_chunk())
        rc = -1;
    pthread_mutex_unlock(&lock);
    errno = saved;
    return rc;
}

static struct shim_counters *take_block(void)
{
    for (struct chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++)
            if (!k->used[i]) {
                k->used[i] = 1;
                memset(&k->block[i], 0, sizeof k->block[i]);
                return &k->block[i];
            }
    if (!add_chunk())
        return &overflow;
    chunks->used[0] = 1;
    return &chunks->block[0];
}

struct shim_counters *counters_attach(void)
{
    int saved = errno;
    pthread_mutex_lock(&lock);
    struct shim_counters *c = take_block();
    pthread_mutex_unlock(&lock);
    errno = saved;
    return c;
}

void counters_detach(struct shim_counters *c)
{
    if (c == NULL || c == &overflow)
        return;
    pthread_mutex_lock(&lock);
    fold(&retired, c);
    for (struct chunk *k = chunks; k != NULL; k = k->next)
        if (c >= k->block && c < k->block + BLOCKS)
            k->used[c - k->block] = 0;
    pthread_mutex_unlock(&lock);
}

struct shim_counters *counters_orphan(void)
{
    return &retired;
}

int counters_sum(struct shim_counters *out, bool wait)
{
    if (!wait && pthread_mutex_trylock(&lock) != 0) {
        errno = EBUSY;
        return -1;
    }
    if (wait)
        pthread_mutex_lock(&lock);
    memset(out, 0, sizeof *out);
    fold(out, &retired);
    fold(out, &overflow);
    for (struct chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++)
            if (k->used[i])
                fold(out, &k->block[i]);
    pthread_mutex_unlock(&lock);
    return 0;
}

void counters_fork_prepare(void)
{
    pthread_mutex_lock(&lock);
}

void counters_fork_parent(void)
{
    pthread_mutex_unlock(&lock);
}

void counters_fork_child(struct shim_counters *self)
{
    pthread_mutex_init(&lock, NULL);
    memset(&retired, 0, sizeof retired);
    memset(&overflow, 0, sizeof overflow);
    for (struct chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++) {
            if (&k->block[i] != self)
                k->used[i] = 0;
            memset(&k->block[i], 0, sizeof k->block[i]);
        }
}
