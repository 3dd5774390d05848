/* counters.h - the shim's own figures, kept per thread (internal).
 *
 * The fast paths count into the calling thread's block with plain stores: no
 * atomics, no shared cache line. A block is attached to a thread at its
 * first pooled call and folded into the retired totals at thread exit, so
 * that, whenever no call is in flight,
 *   figure == retired + sum over attached blocks
 * Classes are numbered v = class + 1, as in pool/classes_internal.h.
 *
 * Where they live: blocks in chunks of one page each, the retired totals
 * and the overflow block in a `struct counters_shared`. With live figures on
 * (shim/live.h) the chunks and the shared part are pages of the process's
 * live file, which `poolshim stat` reads from outside, summing as above
 * without a lock; otherwise anonymous memory. The layout below is therefore
 * part of the live file's format (LIVE_VERSION).
 */
#ifndef SHIM_COUNTERS_H
#define SHIM_COUNTERS_H

#include <stdbool.h>
#include <stdint.h>

#include "pool/classes_internal.h"

struct shim_counters {
    uint64_t served[POOL_V_MAX]; /* objects the pools handed out */
    uint64_t freed[POOL_V_MAX];  /* pool objects given back */
    uint64_t dry[POOL_V_MAX];    /* requests a class could not serve: it was
                                    empty, so they fell back or were refused */
    uint64_t uncovered;          /* requests no class covers */
};

/* A thread's block, alone on its cache lines: two threads never write one
 * line. */
struct counters_block {
    _Alignas(64) struct shim_counters c;
};

#define COUNTERS_CHUNK_BYTES 4096
#define COUNTERS_CHUNK_BLOCKS                                                  \
    ((COUNTERS_CHUNK_BYTES - 64) / sizeof(struct counters_block))

/* One page of blocks: used[i] is 1 while a thread counts into block[i]. */
struct counters_chunk {
    struct counters_chunk *next; /* the process's list (an address: readers
                                    from outside ignore it) */
    uint8_t used[COUNTERS_CHUNK_BLOCKS];
    struct counters_block block[COUNTERS_CHUNK_BLOCKS];
};
_Static_assert(sizeof(struct counters_chunk) <= COUNTERS_CHUNK_BYTES,
               "a chunk is one page");

/* What the threads share: exits is odd while an exiting thread's block is
 * being folded into `retired` (readers from outside retry then). */
struct counters_shared {
    uint32_t exits;
    _Alignas(64) struct shim_counters retired;  /* of exited threads and orphans */
    _Alignas(64) struct shim_counters overflow; /* shared when no block can be had */
};

/* Map the first chunk of blocks, faulted in, so that the first threads'
 * first calls take no page fault. Returns 0, or -1 when no memory could be
 * had (blocks are then mapped as threads come, or shared). */
int counters_init(void);

/* A zeroed block for the calling thread, to be written by that thread only.
 * Never NULL: when no memory can be had for a block, the shared overflow
 * block, whose counts are then approximate (threads race on it). Takes the
 * counters' lock. */
struct shim_counters *counters_attach(void);

/* Fold c into the retired totals and release it (its thread is exiting).
 * Takes the counters' lock. */
void counters_detach(struct shim_counters *c);

/* Add 1 to a figure of a thread that has no block (it exited, or is
 * attaching): field points into the block returned by counters_orphan(). */
struct shim_counters *counters_orphan(void);
static inline void counters_bump_orphan(uint64_t *field)
{
    __atomic_fetch_add(field, 1, __ATOMIC_RELAXED);
}

/* Sum of every figure: retired plus every attached block. Takes the lock,
 * or with wait false fails (-1, errno EBUSY) when it is taken. */
int counters_sum(struct shim_counters *out, bool wait);

/* fork(): lock before, unlock after in the parent; in the child, every figure
 * starts from zero and every block but `self` (may be NULL) is released. */
void counters_fork_prepare(void);
void counters_fork_parent(void);
void counters_fork_child(struct shim_counters *self);

#endif
