/* profile_format.h - the POOLSHIM_PROFILE file format, defined once: written
 * by shim/profile.c, read by tools/poolshim-recommend (tools/recommend/).
 *
 * A profile file is a sequence of blocks, one per process: each process of a
 * run appends its own block at exit, with one write(2), so processes sharing
 * the file do not interleave. A block, after a comment line saying whose it
 * is and when ("# program NAME at 2026-12-02T15:03:04Z"):
 *   # poolshim profile 1 pid PID
 *   SIZE REQUESTS PEAK_LIVE          one line per bucket that saw requests,
 *                                    SIZE increasing
 *   # larger than 1048576: N requests
 *   # end
 * Bucket i (1 .. PROFILE_BUCKETS - 1) counts the blocks whose usable size
 * (as the real allocator reports it) is in (16(i - 1), 16i]; its SIZE is 16i.
 * REQUESTS is how many of them the process allocated; PEAK_LIVE the most of
 * them live (allocated, not yet freed) at once in the process; N the
 * allocations larger than PROFILE_SIZE_MAX, which no class can serve.
 *
 * A forked child writes a block of its own that counts only its own
 * requests: its REQUESTS and N start from zero at fork, so the blocks of a
 * run add up to every request once. Its PEAK_LIVE starts from the blocks it
 * inherited live: they occupy the child's copy of the pools as much as its
 * own do (each process has pools of its own), so that is what its pools
 * must hold. A reader merges blocks by adding REQUESTS and N, and taking the
 * largest PEAK_LIVE of any one block (the pools must hold the busiest
 * process, not the sum of all).
 *
 * Reading: words are separated by spaces or tabs; blank lines, and lines
 * starting with '#' between blocks, are skipped.
 */
#ifndef SHIM_PROFILE_FORMAT_H
#define SHIM_PROFILE_FORMAT_H

#include <stddef.h>

#include "pool/classes.h"

#define PROFILE_VERSION "1"                     /* the word after the start mark */
#define PROFILE_GRANULE POOL_GRANULE            /* bucket width, bytes */
#define PROFILE_SIZE_MAX POOL_CLASS_SIZE_MAX    /* largest bucket's SIZE */
#define PROFILE_BUCKETS (PROFILE_SIZE_MAX / PROFILE_GRANULE + 1) /* 0 unused */

/* The marks of a block, each a sequence of words separated by one space. */
#define PROFILE_MARK_START "# poolshim profile" /* + " VERSION pid PID" */
#define PROFILE_MARK_PID "pid"
#define PROFILE_MARK_LARGER "# larger than"     /* + " SIZE_MAX: N requests" */
#define PROFILE_MARK_REQUESTS "requests"
#define PROFILE_MARK_END "# end"

/* The lines as a user sees them in a message. */
#define PROFILE_START_TEXT PROFILE_MARK_START " " PROFILE_VERSION " " \
                           PROFILE_MARK_PID " PID"
#define PROFILE_LARGER_TEXT PROFILE_MARK_LARGER " 1048576: N " PROFILE_MARK_REQUESTS
#define PROFILE_DATA_TEXT "SIZE REQUESTS PEAK_LIVE"

_Static_assert(PROFILE_SIZE_MAX == 1048576, "PROFILE_LARGER_TEXT names the limit");

/* The bucket of a block of `usable` bytes (0 < usable <= PROFILE_SIZE_MAX). */
static inline unsigned profile_bucket(size_t usable)
{
    return (unsigned)((usable + PROFILE_GRANULE - 1) / PROFILE_GRANULE);
}

#endif
