/* config.h - the shim's configuration, from POOLSHIM_* environment variables.
 *
 * The parser runs inside the host program's first malloc call, so it
 * allocates nothing, uses no stdio, no getenv and no locale: it walks an
 * environ-style array that the caller passes in, and writes its messages
 * with write(2) from a stack buffer (report.h).
 *
 * Every variable lives in one table in config.c (name, kind, field, default,
 * help): parsing, printing and the message for an unknown POOLSHIM_ name all
 * come from it. A variable that is given must parse as a whole; anything
 * malformed gets one line on err_fd, of the form
 *   poolshim: NAME="VALUE": WHAT (expected ...); poolshim is off, the program
 *   runs on the system allocator
 * and the caller then leaves the host on the system allocator.
 */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool/classes.h"

/* Once shim_config_parse() has accepted it, a configuration holds:
 *   0 <= nclasses <= POOL_CLASSES_MAX; 0 only for POOLSHIM_CLASSES=none
 *     (the pools off: every call goes to the system allocator)
 *   classes[i].size < classes[i+1].size, and so do their strides
 *     (stride = size rounded up to 16): no two classes share a slot size
 *   1 <= size <= POOL_CLASS_SIZE_MAX, 1 <= count <= 2^32 - 2,
 *   stride * count <= POOL_CLASS_BYTES_MAX
 *   budget > 0; stats_signal == 0 or a catchable, non-fault signal 1..64
 *   stats_file, profile, latency: NULL or a non-empty string inside envp
 *   on_error: SHIM_ON_ERROR_OFF or SHIM_ON_ERROR_ABORT
 *   only: NULL or names separated by single commas inside envp, each
 *     1..NAME_MAX bytes without '/' */
struct shim_config {
    struct pool_class_spec classes[POOL_CLASSES_MAX]; /* sorted by size ascending */
    unsigned nclasses;
    bool strict;        /* POOLSHIM_STRICT, default 0 */
    bool stats;         /* POOLSHIM_STATS, default 0 */
    bool prefault;      /* POOLSHIM_PREFAULT, default 1 */
    bool mlock;         /* POOLSHIM_MLOCK, default 0 */
    bool hugepages;     /* POOLSHIM_HUGEPAGES, default 0: 2 MiB pages where the kernel gives them */
    bool check;         /* POOLSHIM_CHECK, default 0: checked mode (double/invalid free, poisoning) */
    bool cache;         /* POOLSHIM_CACHE, default 1: per-thread caches */
    bool verbose;       /* POOLSHIM_VERBOSE, default 0: print effective config at start-up */
    const char *stats_file;  /* POOLSHIM_STATS_FILE: path (points into envp), NULL when unset */
    int stats_signal;        /* POOLSHIM_STATS_SIGNAL: signal number, 0 when unset */
    const char *profile;     /* POOLSHIM_PROFILE: path, NULL when unset */
    const char *latency;     /* POOLSHIM_LATENCY: path (%p: the pid), NULL when unset */
    uint64_t budget;         /* POOLSHIM_BUDGET: bytes, default 64 MiB (64M) */
    int on_error;            /* POOLSHIM_ON_ERROR: enum shim_on_error, default off */
    bool children;           /* POOLSHIM_CHILDREN, default 1: exec'd children
                                inherit the shim and its variables */
    const char *only;        /* POOLSHIM_ONLY: comma-separated executable names
                                (points into envp), NULL when unset */
    bool live;               /* POOLSHIM_LIVE, default 1: the live file (live.h) */
    bool warn;               /* POOLSHIM_WARN, default 0: a line when a class runs
                                dry (off: a valid configuration prints nothing
                                unless asked) */
    bool classes_set;        /* POOLSHIM_CLASSES was given */
};

/* POOLSHIM_ON_ERROR: what a malformed configuration or a failed start-up
 * (reservation, mlock) does. OFF: one line, then the program runs on the
 * system allocator. ABORT: the same line, then the process ends at once
 * with SHIM_EXIT_CONFIG, before main, so that a service manager sees it. */
enum shim_on_error { SHIM_ON_ERROR_OFF = 0, SHIM_ON_ERROR_ABORT = 1 };

/* sysexits.h's EX_CONFIG: systemd shows it as status=78/CONFIG. */
#define SHIM_EXIT_CONFIG 78

/* Fill *cfg with the defaults of every variable, including the embedded
 * class set (13 classes from 16 bytes to 4 KiB, 1.5 MiB of objects; see
 * config_classes.c). Cannot fail. Thread-safe (writes only *cfg). */
void shim_config_defaults(struct shim_config *cfg);

/* Apply the POOLSHIM_* entries of envp ("NAME=VALUE" strings, terminated by
 * a NULL pointer; envp itself may be NULL, meaning empty) on top of *cfg,
 * which the caller has filled with shim_config_defaults().
 * Entries not starting with "POOLSHIM_", and entries without '=', are
 * ignored. When a variable appears twice, the first one counts (as with
 * getenv) and the later ones are ignored. The caller decides about secure
 * execution: pass NULL to ignore the environment of a setuid program.
 * Returns 0 when every POOLSHIM_* entry is known and valid: *cfg then holds
 * the result, and its path fields point into the strings of envp (which must
 * outlive *cfg). Returns -1 otherwise, after writing one line per bad entry
 * to err_fd (none when err_fd < 0); *cfg is then left unchanged. errno is
 * preserved. Allocates nothing, takes no lock, reentrant: thread-safe as
 * long as no other thread writes *cfg or envp. */
int shim_config_parse(struct shim_config *cfg, char *const *envp, int err_fd);

/* Parse only the first entry NAME=VALUE of envp (NAME a table variable,
 * e.g. "POOLSHIM_ON_ERROR") into *cfg, writing nothing. Returns 1 when it
 * is there and valid (the field set), 0 when absent, -1 when malformed or
 * NAME is unknown (*cfg unchanged in both cases). For what start-up needs
 * before the full parse: the scope and the reaction to errors. Allocates
 * nothing; thread-safe as shim_config_parse(). */
int shim_config_parse_one(struct shim_config *cfg, char *const *envp,
                          const char *name);

/* The value of the first entry NAME=... of envp (NULL-terminated; NULL
 * means empty), or NULL. No getenv: it may not be ready at start-up.
 * Cannot fail; thread-safe. */
const char *shim_env_value(char *const *envp, const char *name);

/* What happens after an error under envp's POOLSHIM_ON_ERROR, for the end
 * of a message line: "poolshim is off, the program runs on the system
 * allocator", or with abort (or a malformed POOLSHIM_ON_ERROR: it fails
 * closed) "POOLSHIM_ON_ERROR=abort: the program ends with exit status 78".
 * *abort_out (when not NULL) says which. Cannot fail; thread-safe. */
const char *shim_config_outcome(char *const *envp, bool *abort_out);

/* Write the effective configuration to fd, one line per variable in table
 * order after a summary line, each starting with "poolshim: ". Values print
 * in a form the parser accepts (sizes with k/M/G suffixes when exact), unset
 * paths and signals as "NAME (unset)". Write errors are ignored; errno is
 * preserved. Allocates nothing; thread-safe. */
void shim_config_print(const struct shim_config *cfg, int fd);

/* Append cfg's classes to b as POOLSHIM_CLASSES takes them
 * ("64:1024,4k:64"). Cannot fail; thread-safe. */
struct rbuf;
void shim_config_rb_classes(struct rbuf *b, const struct shim_config *cfg);

/* The largest count a class of `size` bytes (1 .. POOL_CLASS_SIZE_MAX) may
 * have: at most 2^32 - 2 objects and POOL_CLASS_BYTES_MAX bytes. Cannot
 * fail; thread-safe. */
uint64_t shim_config_count_max(size_t size);

/* Total bytes of the objects of cfg's classes: the sum over classes of
 * round_up(size, 16) * count (at most 32 * 4 GiB; saturates at SIZE_MAX
 * where size_t is narrower). Cannot fail; thread-safe. */
size_t shim_config_bytes(const struct shim_config *cfg);

#endif
