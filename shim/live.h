/* live.h - live figures of a running process: the live file's format, the
 * shim's side of it (live.c) and the reader's (live_read.c, for
 * tools/poolshim-stat).
 *
 * Each process with the shim on (POOLSHIM_LIVE=1, the default) keeps one
 * file, named by its pid and its pid namespace, in a directory of its
 * user's only:
 *   $XDG_RUNTIME_DIR/poolshim/PID-NS.live   when that is a tmpfs of the user
 *   /dev/shm/poolshim-UID/PID-NS.live       otherwise
 * (directory mode 0700, file mode 0600, both owned by the user; a tmpfs, so
 * that writing into the mapping never waits for a disk). NS is the inode
 * number of /proc/self/ns/pid (0 when /proc cannot tell): processes of
 * different pid namespaces that share the directory (the containers of one
 * pod share /dev/shm, and each may be pid 1) never take, sweep or remove
 * each other's files; readers and sweeps leave other namespaces' files
 * alone, since their pids mean nothing here. The process maps
 * the file shared and the shim's per-thread counters (counters.h) live in
 * it: the fast paths count there as they would in anonymous memory, with
 * plain stores into the thread's own block, no atomic, no shared line. A
 * reader maps the same file and sums without a lock:
 *   figure == retired + overflow + sum over chunks c < nchunks, blocks b
 *             with c.used[b] of c.block[b]
 * retrying while `exits` is odd or changes under it (a thread exiting moves
 * its block into `retired`).
 *
 * Layout, in the host's byte order, LIVE_PAGE bytes per part:
 *   [0, LIVE_PAGE)                        struct live_header
 *   [LIVE_PAGE * (1 + c), ... + LIVE_PAGE)  struct counters_chunk c, c < nchunks
 * A file costs one page per process plus one per COUNTERS_CHUNK_BLOCKS
 * threads alive at once (a chunk's blocks are reused).
 *
 * Life: made at start-up (an older file of the same name, left by a program
 * this process exec'd from, is replaced), removed at exit. A fork child gets
 * a file of its own, its pages remapped in place. _exit, a crash or an exec
 * into a program without the shim leave the file behind: it is stale when
 * its pid is gone, or is another process now (start time), or no longer
 * maps it; readers skip stale files and remove them.
 */
#ifndef SHIM_LIVE_H
#define SHIM_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/config.h"
#include "shim/counters.h"

#define LIVE_MAGIC "poolshim-live\0\0" /* 16 bytes with the terminators */
#define LIVE_VERSION 1
#define LIVE_PAGE 4096u
#define LIVE_CHUNKS_MAX 4096 /* 4096 * COUNTERS_CHUNK_BLOCKS threads at once */
#define LIVE_SUFFIX ".live"

/* live_header.flags: the configuration's switches */
enum {
    LIVE_STRICT = 1u << 0, LIVE_CACHE = 1u << 1, LIVE_CHECK = 1u << 2,
    LIVE_MLOCK = 1u << 3, LIVE_PREFAULT = 1u << 4, LIVE_ABORT = 1u << 5,
};

/* live_header.state */
enum { LIVE_RUNNING = 1, LIVE_EXITING = 2 };

struct live_class {
    uint64_t size, capacity;
};

/* The figures a reader saw at its last look, for the rates of the next
 * (written by readers only; the process never touches it). */
struct live_look {
    uint64_t time_ns;                 /* CLOCK_REALTIME; 0: no look yet */
    uint64_t served[POOL_V_MAX], dry[POOL_V_MAX], uncovered;
};

struct live_header {
    char magic[16];          /* LIVE_MAGIC, written last */
    uint32_t version;        /* LIVE_VERSION */
    uint32_t page;           /* LIVE_PAGE */
    uint32_t chunk_blocks;   /* COUNTERS_CHUNK_BLOCKS */
    uint32_t counters_size;  /* sizeof(struct shim_counters) */
    uint32_t nv;             /* POOL_V_MAX */
    uint32_t nclasses;
    uint32_t flags;          /* LIVE_STRICT, ... */
    uint32_t uid;
    uint64_t pid;
    uint64_t start_ticks;    /* /proc/self/stat's starttime: tells a reused pid */
    uint64_t start_ns;       /* CLOCK_REALTIME at start-up */
    char program[64];        /* argv[0]'s base name, NUL-terminated */
    char classes_text[640];  /* POOLSHIM_CLASSES as the shim took it */
    struct live_class classes[POOL_CLASSES_MAX];
    _Alignas(64) uint32_t nchunks; /* chunks in the file, each zeroed first */
    uint32_t state;          /* LIVE_RUNNING, LIVE_EXITING */
    uint32_t peak[POOL_V_MAX]; /* peak out per class v, as last published */
    _Alignas(64) struct counters_shared shared;
    _Alignas(64) struct live_look look;
};
_Static_assert(sizeof(struct live_header) <= LIVE_PAGE, "the header is one page");
_Static_assert(sizeof(struct counters_chunk) <= LIVE_PAGE, "a chunk is one page");

/* ---- the shim's side (live.c); all of it allocates nothing ---- */

/* Make this process's file (POOLSHIM_LIVE=1) for configuration cfg, with
 * env the environment (for XDG_RUNTIME_DIR; NULL in secure execution).
 * Returns 0, or -1 after one line on stderr (live figures then stay off,
 * everything else runs). Call once, at start-up, before counters_init(). */
int live_start(const struct shim_config *cfg, char *const *env);

/* True while this process has its file. */
bool live_on(void);

/* Where counters.c keeps its shared part and takes its chunks: in the file.
 * live_chunk() returns the next chunk, zeroed and faulted in, or NULL when
 * the file cannot grow (LIVE_CHUNKS_MAX, or no space). Under counters.c's
 * lock. */
struct counters_shared *live_shared(void);
struct counters_chunk *live_chunk(void);

/* Publish class v's peak out (read from the pool set on a slow path). The
 * file's page is touched only when the peak grows past what this process
 * last wrote there (live_peak_noted, in its own memory): a trade with the
 * depot does not pay for a cold line and TLB entry to learn nothing. */
extern struct live_header *live_h; /* NULL while off */
extern uint32_t live_peak_noted[]; /* [POOL_V_MAX] */
static inline void live_note_peak(unsigned v, uint32_t peak)
{
    struct live_header *h = live_h;
    if (h == NULL || peak <= __atomic_load_n(&live_peak_noted[v], __ATOMIC_RELAXED))
        return;
    __atomic_store_n(&live_peak_noted[v], peak, __ATOMIC_RELAXED);
    if (peak > h->peak[v])
        h->peak[v] = peak;
}

/* In a fork child, before anything is written: a file of the child's own,
 * mapped where the parent's was (contents kept), or anonymous memory there
 * when it cannot be made (then live_on() is false). */
void live_fork_child(void);

/* At exit: the file is removed (the mapping stays for late calls). */
void live_finish(void);

/* ---- reading (live_read.c), for tools and tests ---- */

struct live_file {
    const struct live_header *h;
    size_t size;             /* of the mapping */
    unsigned nchunks;        /* chunks wholly inside the file */
    int fd;                  /* read-write when it could be, else read-only */
};

/* Map path and check it: magic, version, layout, size. Returns 0, or -1
 * with a one-line reason in err[errlen] ("not a poolshim live file",
 * "truncated: ...", "a live file of version 2; this reader knows version 1",
 * ...); errno EINVAL for a file that is not one of this version, else the
 * system's. Allocates nothing. */
int live_open(struct live_file *f, const char *path, char *err, size_t errlen);
void live_close(struct live_file *f);

/* The process's figures now, summed as above (retried while threads exit,
 * at most a few times). Cannot fail. */
void live_sum(const struct live_file *f, struct shim_counters *out);

/* Whether the file still belongs to a running process: process pid (as
 * this reader sees it: the header's pid is the one the process sees, which
 * differs when it runs in a pid namespace of its own) exists, has the start
 * time of the header, and maps this file. ESRCH: no such process; ESTALE:
 * the pid is another process, or no longer maps the file; EACCES: cannot
 * tell (another user's process). */
int live_alive(const struct live_file *f, uint64_t pid);

/* Record a look (figures and time) for the rates of the next reader. Write
 * errors are ignored (a read-only file keeps no looks). */
void live_record_look(struct live_file *f, const struct shim_counters *now,
                      uint64_t time_ns);

/* The two places of live files, into out[cap] (false when it does not
 * fit): for a process whose XDG_RUNTIME_DIR is xdg, "XDG/poolshim"; for
 * user uid, "/dev/shm/poolshim-UID". */
bool live_dir_xdg(char *out, size_t cap, const char *xdg);
bool live_dir_shm(char *out, size_t cap, unsigned uid);
/* Field 22 of a /proc/PID/stat file: the process's start time in clock
 * ticks after boot; 0 when it cannot be read. */
uint64_t live_start_ticks(const char *stat_path);
/* The pid namespace of process pid (0: the caller's), the inode number of
 * /proc/PID/ns/pid; 0 when it cannot be read. */
uint64_t live_pid_ns(uint64_t pid);
/* "DIR/PID-NS.live" into out[cap]; false when it does not fit. */
bool live_path(char *out, size_t cap, const char *dir, uint64_t pid, uint64_t ns);
/* The pid (> 0) and namespace a live file's name gives: false when name is
 * not one ("PID-NS.live", both decimal, no leading zero in PID). */
bool live_parse_name(const char *name, uint64_t *pid, uint64_t *ns);

#endif
