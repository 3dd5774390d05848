/* counters.c - per-thread blocks of the shim's figures; see counters.h.
 *
 * Blocks come in chunks of one page, from the live file when live figures
 * are on (live.h), else mapped from the system (never from malloc, which is
 * us); they are handed to threads under a lock and never unmapped: a chunk's
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
#include "shim/live.h"

#define BLOCKS COUNTERS_CHUNK_BLOCKS

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct counters_chunk *chunks;
static struct counters_shared anon_shared;
static struct counters_shared *sh = &anon_shared; /* the live file's, when on */

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

/* A new chunk, faulted in (a thread's first call must not fault): a page
 * of the live file while it is on (none when it is full: the overflow block
 * in the file serves), else of anonymous memory. */
static bool add_chunk(void)
{
    struct counters_chunk *k;
    if (live_on()) {
        k = live_chunk();
        if (k == NULL)
            return false;
    } else {
        k = mmap(NULL, sizeof *k, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
        if (k == MAP_FAILED)
            return false;
    }
    k->next = chunks;
    chunks = k;
    return true;
}

int counters_init(void)
{
    int saved = errno, rc = 0;
    pthread_mutex_lock(&lock);
    if (live_on())
        sh = live_shared();
    if (chunks == NULL && !add_chunk())
        rc = -1;
    pthread_mutex_unlock(&lock);
    errno = saved;
    return rc;
}

/* A free block, zeroed, marked used only then (a reader from outside
 * never sums a block before it is zero). Under the lock. */
static struct shim_counters *use(struct counters_chunk *k, unsigned i)
{
    memset(&k->block[i], 0, sizeof k->block[i]);
    __atomic_store_n(&k->used[i], 1, __ATOMIC_RELEASE);
    return &k->block[i].c;
}

static struct shim_counters *take_block(void)
{
    for (struct counters_chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++)
            if (!k->used[i])
                return use(k, i);
    if (!add_chunk())
        return &sh->overflow;
    return use(chunks, 0);
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

/* exits odd: readers from outside retry; so they never see c's figures
 * both in `retired` and in its block, nor in neither. */
void counters_detach(struct shim_counters *c)
{
    if (c == NULL || c == &sh->overflow)
        return;
    pthread_mutex_lock(&lock);
    __atomic_store_n(&sh->exits, sh->exits + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    fold(&sh->retired, c);
    for (struct counters_chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++)
            if (c == &k->block[i].c)
                __atomic_store_n(&k->used[i], 0, __ATOMIC_RELAXED);
    __atomic_store_n(&sh->exits, sh->exits + 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lock);
}

struct shim_counters *counters_orphan(void)
{
    return &sh->retired;
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
    fold(out, &sh->retired);
    fold(out, &sh->overflow);
    for (struct counters_chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++)
            if (k->used[i])
                fold(out, &k->block[i].c);
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

/* The child first gets a live file of its own (the pages stay where they
 * are, now backed by its file, or by anonymous memory when it cannot have
 * one): nothing below writes into the parent's file. */
void counters_fork_child(struct shim_counters *self)
{
    pthread_mutex_init(&lock, NULL);
    if (live_on())
        live_fork_child();
    sh->exits = 0;
    memset(&sh->retired, 0, sizeof sh->retired);
    memset(&sh->overflow, 0, sizeof sh->overflow);
    for (struct counters_chunk *k = chunks; k != NULL; k = k->next)
        for (unsigned i = 0; i < BLOCKS; i++) {
            if (&k->block[i].c != self)
                k->used[i] = 0;
            memset(&k->block[i], 0, sizeof k->block[i]);
        }
}
