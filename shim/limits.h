/* limits.h - how much more memory and address space this process may use
 * (internal to the shim; shim/limits.c).
 *
 * Read once at start-up, before the pools are built, from inside the first
 * malloc: no allocation, no stdio, no lock; only open/read/close of small
 * files into fixed buffers, getrlimit. A file that is missing, unreadable or
 * malformed leaves its limit unknown (not counted), never an error.
 *
 * `root` is prepended to every path read ("/proc/self/cgroup",
 * "/sys/fs/cgroup/...", "/proc/meminfo", "/proc/self/status"): "" in the
 * shim; a directory of fixture files in the unit tests (tests/test_limits.c).
 * It is not reachable from the environment.
 */
#ifndef SHIM_LIMITS_H
#define SHIM_LIMITS_H

#include <stdint.h>

#define LIMIT_NONE UINT64_MAX /* limit.left when nothing limits */

enum limit_kind {
    LIMIT_UNKNOWN,   /* no limit found */
    LIMIT_CGROUP2,   /* cgroup v2: memory.max less memory.current */
    LIMIT_CGROUP1,   /* cgroup v1: memory.limit_in_bytes less memory.usage_in_bytes */
    LIMIT_MEMINFO,   /* MemAvailable in /proc/meminfo */
    LIMIT_AS,        /* RLIMIT_AS less VmSize */
    LIMIT_DATA,      /* RLIMIT_DATA less VmData */
};

/* One limit: left == max - used (0 when used >= max), in bytes. For a
 * cgroup, used is the usage less its inactive file cache (memory.stat:
 * reclaimable page cache, as kubelet's working set counts it), and file is
 * the limit's file (without root). */
struct limit {
    enum limit_kind kind;
    uint64_t left, max, used;
    char file[256];
};

/* The tightest limit on the memory this process may still touch: its memory
 * cgroup's (v2, then v1) and every ancestor's up to the hierarchy's root,
 * and MemAvailable. kind LIMIT_UNKNOWN, left LIMIT_NONE when none is known.
 * Cannot fail. */
void limits_memory(const char *root, struct limit *out);

/* RLIMIT_AS less the address space in use (VmSize), and RLIMIT_DATA less the
 * data in use (VmData, /proc/self/status); LIMIT_UNKNOWN and LIMIT_NONE for
 * an infinite rlimit. Cannot fail. */
void limits_rlimits(const char *root, struct limit *as, struct limit *data);

/* What the limit is, for messages: "cgroup v2 memory.max", ... */
const char *limits_name(enum limit_kind kind);

#endif
