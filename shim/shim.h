/* shim.h - what the shim's files share (internal; nothing here is exported).
 *
 *   malloc.c  the interposed entry points and the routing between the pools
 *             and the real allocator
 *   init.c    start-up: configuration, the pool set, the exit report
 *   real.c    the real allocator, found with dlsym(RTLD_NEXT), and the
 *             bootstrap arena that serves calls made while dlsym runs
 *   thread.c  thread-local caches, thread exit, fork
 *   counters.c the shim's own figures, in per-thread blocks
 *   sigmask.c signals blocked while the shim holds its lock
 *   live.c    the live file those blocks live in, for poolshim stat (live.h)
 *   warn.c    POOLSHIM_WARN: one line when a class first runs dry
 *   stats.c   the statistics table, JSON file and signal
 *   profile.c POOLSHIM_PROFILE: counts of request sizes, on the real allocator
 *   config*.c POOLSHIM_* parsing and printing (config.h; the files of the
 *             parser are listed in config_internal.h)
 *   scope.c   POOLSHIM_ONLY (which processes) and POOLSHIM_CHILDREN (what
 *             exec'd programs inherit)
 */
#ifndef SHIM_SHIM_H
#define SHIM_SHIM_H

#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool/classes_internal.h"
#include "shim/config.h"
#include "shim/counters.h"
#include "shim/live.h"

#define SHIM_HIDDEN __attribute__((visibility("hidden")))
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* PROFILE: pools off, the real allocator serves and profile.c counts. */
enum shim_state { SHIM_UNINIT, SHIM_STARTING, SHIM_ON, SHIM_OFF, SHIM_PROFILE };

struct shim {
    /* What the fast paths route through, never NULL: the pool set once ON,
     * before that (and when off) an empty set that owns no pointer and fits
     * no size (all zero: its table says "no class" for every size), so that
     * every call takes the slow path; with the timing mode on it stays so, and
     * the slow paths time the same work (malloc.c). */
    struct pool_classes *route;
    /* Where free sends a pointer outside the route's range: before the
     * route is the pool set the slow path (which then decides), after it the
     * real free, or a function that ignores the bootstrap arena's blocks
     * when the arena has given any (real.c). */
    void (*free_other)(void *);
    struct pool_classes *set;   /* non-NULL only when ON */
    bool strict;
    bool profiling;             /* state PROFILE */
    bool timing;                /* POOLSHIM_LATENCY: every call timed (latency.h) */
    _Atomic int state;          /* enum shim_state */
    struct shim_config cfg;     /* valid once ON */
};

extern struct shim shim SHIM_HIDDEN;

/* ---- malloc.c: the entry points, exported as malloc, free, ... (a build
 * with SHIM_NO_EXPORTS, the fuzzer's and test_faults', calls them as they
 * are) ---- */
void *shim_malloc(size_t n) SHIM_HIDDEN;
void shim_free(void *p) SHIM_HIDDEN;
void shim_free_slow(void *p) SHIM_HIDDEN; /* every case, the shim in any state */
void shim_free_sized(void *p, size_t size) SHIM_HIDDEN;
void shim_free_aligned_sized(void *p, size_t align, size_t size) SHIM_HIDDEN;
void *shim_calloc(size_t n, size_t size) SHIM_HIDDEN;
void *shim_realloc(void *p, size_t n) SHIM_HIDDEN;
void *shim_reallocarray(void *p, size_t n, size_t size) SHIM_HIDDEN;
int shim_posix_memalign(void **out, size_t align, size_t n) SHIM_HIDDEN;
void *shim_aligned_alloc(size_t align, size_t n) SHIM_HIDDEN;
void *shim_memalign(size_t align, size_t n) SHIM_HIDDEN;
void *shim_valloc(size_t n) SHIM_HIDDEN;
void *shim_pvalloc(size_t n) SHIM_HIDDEN;
size_t shim_malloc_usable_size(void *p) SHIM_HIDDEN;

/* ---- real.c ---- */
struct real_allocator {
    void *(*malloc)(size_t);
    void (*free)(void *);
    void *(*calloc)(size_t, size_t);
    void *(*realloc)(void *, size_t);
    void *(*memalign)(size_t, size_t);
    int (*posix_memalign)(void **, size_t, size_t);
    void *(*aligned_alloc)(size_t, size_t);
    void *(*valloc)(size_t);
    void *(*pvalloc)(size_t);
    size_t (*malloc_usable_size)(void *);
};
extern struct real_allocator real SHIM_HIDDEN;

/* Resolve the real allocator's functions once. Returns true when they are
 * all there (each call after the first success returns at once). Calls made
 * while it runs are served by the bootstrap arena. Thread-safe. */
bool real_resolve(void) SHIM_HIDDEN;
bool real_ready(void) SHIM_HIDDEN;

/* The bootstrap arena: a static buffer for the calls made before the real
 * allocator is known. Its blocks are never reused; free ignores them. */
#define BOOT_BYTES (256 * 1024)
extern char boot_arena[BOOT_BYTES] SHIM_HIDDEN;
void *boot_alloc(size_t size, size_t align) SHIM_HIDDEN;
size_t boot_usable(const void *p) SHIM_HIDDEN;
/* Point shim.free_other past the slow path: when the shim comes on. */
void boot_free_other(void) SHIM_HIDDEN;

static inline bool boot_owns(const void *p)
{
    return (uintptr_t)p - (uintptr_t)boot_arena < BOOT_BYTES;
}
/* ---- init.c ---- */
/* Bring the shim up (first call) or report how far it is. Safe to call from
 * any allocation; a call made while another start-up is running returns at
 * once. Returns the state after the call. */
int shim_init(void) SHIM_HIDDEN;

/* ---- sigmask.c ---- */
/* Block every signal in the calling thread, the previous mask in *old, for
 * as long as it holds a lock that a signal handler's fork or exit would
 * take (the pool set's, the counters'); shim_restore_signals(old)
 * afterwards. Async-signal-safe; cannot fail. */
void shim_block_signals(sigset_t *old) SHIM_HIDDEN;
void shim_restore_signals(const sigset_t *old) SHIM_HIDDEN;

/* ---- thread.c ---- */
enum thread_state { THREAD_NEW, THREAD_ATTACHING, THREAD_ATTACHED, THREAD_RETIRED };

/* A thread's part of the shim, in initial-exec TLS (zero at thread start).
 * Once ATTACHED, its cache is attached to the pool set and ctr is its block
 * of figures; after its exit handler ran it is RETIRED: its later calls (from
 * other exit handlers) go to the depots uncached and count as orphans. */
struct shim_thread {
    struct pool_cache cache;
    struct shim_counters *ctr;
    uint8_t state;              /* enum thread_state */
};
extern __thread struct shim_thread shim_self
    __attribute__((tls_model("initial-exec"))) SHIM_HIDDEN;

/* The calling thread, attached to s first if it is new; NULL when it cannot
 * cache (retired, or in the middle of attaching). */
struct shim_thread *thread_attach(struct pool_classes *s) SHIM_HIDDEN;

/* Set up the thread-exit key. Called once by shim_init(), under nothing
 * that malloc can re-enter. Returns 0 or -1. */
int thread_setup(void) SHIM_HIDDEN;
void thread_register_atfork(void) SHIM_HIDDEN;

/* ---- stats.c ---- */
/* Remember which file stderr is (at start-up); with keep_copy also keep a
 * descriptor of it (>= 100, close-on-exec) for programs that close stderr.
 * Cannot fail: without a stderr at start-up nothing is written later. */
void stats_remember_stderr(bool keep_copy) SHIM_HIDDEN;
/* Where the shim may write after start-up: its copy while that is still the
 * file stderr was at start-up, else fd 2 while it is that file, else -1
 * (write nothing). Async-signal-safe. */
int stats_stderr_fd(void) SHIM_HIDDEN;
/* The table at exit (POOLSHIM_STATS=1), to stats_stderr_fd(). */
void stats_print_exit(void) SHIM_HIDDEN;
/* Create FILE.PID.R.tmp for writing (R: 12 hex digits of random()), new:
 * O_CREAT | O_EXCL | O_NOFOLLOW, mode 0600, close-on-exec; a name that is
 * taken, by anything, is never opened: the next R is tried, 16 times at most.
 * Returns the descriptor with the name in tmp[cap], or -1 with errno
 * (EEXIST after 16 taken names, ENAMETOOLONG, open's). Async-signal-safe
 * when random() is; stats_random() is. */
int stats_create_temp(const char *file, char *tmp, size_t cap,
                      uint64_t (*random)(void)) SHIM_HIDDEN;
uint64_t stats_random(void) SHIM_HIDDEN;
int stats_write_json(const char *path) SHIM_HIDDEN;
/* One line to stats_stderr_fd() (nothing when there is none):
 *   poolshim: VAR="path": cannot write the WHAT (ENAME)
 * Async-signal-safe; errno is preserved. */
void stats_say_cannot_write(const char *var, const char *path, const char *what,
                            int err) SHIM_HIDDEN;
void stats_install_signal(int sig) SHIM_HIDDEN;

/* ---- warn.c ---- */
/* Class v found empty (POOLSHIM_WARN=1): its one line, the first time and
 * at most one line a second, to stats_stderr_fd(). Cold path; allocates
 * nothing; keeps errno; thread-safe. */
void warn_dry(unsigned v) SHIM_HIDDEN;

/* ---- scope.c: both at start-up only; allocate nothing ---- */
/* Whether this process is one of `only` (POOLSHIM_ONLY, comma-separated
 * names; NULL: every process): its argv[0]'s base name, or the name of the
 * file /proc/self/exe links to, is listed. errno is preserved. */
bool scope_selected(const char *only) SHIM_HIDDEN;
/* Remove from env, in place, the POOLSHIM_* entries and the libpoolshim*
 * files of LD_PRELOAD (the other preloads stay; an LD_PRELOAD left empty
 * goes), so that the programs this process execs run without the shim.
 * Other threads must not read env meanwhile. */
void scope_strip_children(char **env) SHIM_HIDDEN;

/* ---- profile.c ---- */
int profile_start(void) SHIM_HIDDEN;            /* 0, or -1: no memory */
void profile_alloc(void *p) SHIM_HIDDEN;        /* p came from the real allocator */
void profile_free(void *p) SHIM_HIDDEN;         /* p goes back to it */
void profile_write(const char *path) SHIM_HIDDEN;

#endif
