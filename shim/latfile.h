/* latfile.h - the file of the shim's timing mode (POOLSHIM_LATENCY=FILE):
 * its layout, and reading it back.
 *
 * One file per process ("%p" in FILE becomes the pid). The process maps the
 * file shared and each thread counts straight into its own part of it, so the
 * file holds every call timed so far at any moment: after exit, after _exit,
 * after a signal that killed the process (the page cache keeps what a dead
 * process wrote). Layout, in the host's byte order:
 *
 *   [0, header_size)                              struct lat_file_header
 *   [header_size + i * slot_size, ... + slot_size)   slot i, i < nslots
 *
 * A slot is one histogram per kind of call (enum lat_kind). A thread takes a
 * free slot at its first timed call and counts into it alone; at thread exit
 * it writes a summary record into the header and frees the slot, and the
 * next new thread adds to the same slot. So:
 *   the process's histogram of kind k == sum over slots i < nslots of kind[k]
 *   (nothing is moved at thread exit, so nothing is lost or counted twice
 *   whenever the process stops). Per thread (calls, faults, slow calls, max):
 *   the records of threads that exited, plus, for each LIVE slot whose
 *   (slot, gen) has no record, the slot's totals minus its base.
 *
 * Values are timer ticks; ns_per_tick converts them (calibrated at start).
 */
#ifndef SHIM_LATFILE_H
#define SHIM_LATFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shim/lathist.h"

/* What an interposed call did, as the shim's routing decided it. */
enum lat_kind {
    LAT_POOL,       /* an allocation served by a pool */
    LAT_DRY,        /* its class was empty: fell back to the real allocator, or refused */
    LAT_UNCOVERED,  /* no class covers it: the real allocator */
    LAT_FREE_POOL,  /* free of a pool object */
    LAT_FREE_OTHER, /* free of any other pointer (the real allocator's) */
    LAT_REALLOC,    /* realloc, whatever it did */
    LAT_KINDS
};

/* Each kind's short name, for keys and tables ("pool", "dry", "uncovered",
 * "free_pool", "free_other", "realloc"), and its title in a report. */
extern const struct lat_kind_words {
    const char *name, *title;
} lat_kind[LAT_KINDS];

#define LAT_FILE_MAGIC "poolshim-latency" /* 16 bytes, no terminator */
#define LAT_FILE_VERSION 1
#define LAT_RECORDS 256    /* thread summaries kept; more are counted */
#define LAT_SLOTS_MAX 1024 /* threads alive at once that get a slot */

enum lat_slot_state { LAT_SLOT_FREE = 0, LAT_SLOT_LIVE = 1 };

struct lat_thread_record {
    uint32_t slot, gen;           /* where and when it counted */
    uint64_t tid;
    uint64_t calls, faults;
    uint64_t over[LAT_OVER];
    uint64_t max;                 /* ticks */
};

struct lat_file_header {
    char magic[16];               /* LAT_FILE_MAGIC */
    uint32_t version;             /* LAT_FILE_VERSION */
    uint32_t kinds, buckets, sub_bits, top_bits; /* LAT_KINDS, LAT_BUCKETS, ... */
    uint32_t header_size, slot_size;  /* page multiples */
    uint32_t complete;            /* 1 once exit handlers ran (exit, return from main) */
    uint64_t pid, ppid;
    char comm[16];                /* the program's name at start, NUL-terminated */
    char timer[16];               /* "rdtscp" or "clock_gettime" */
    double ns_per_tick;
    uint64_t floor_min, floor_p50; /* ticks between two back-to-back timer reads */
    uint64_t fault_min;           /* ticks: the cheapest page fault seen at start */
    uint64_t fault_window;        /* ticks: a call shorter than this took no fault */
    uint64_t over_at[LAT_OVER];   /* ticks: 1 us and 10 us */
    uint64_t start_tick, end_tick; /* end_tick: 0 until complete */
    uint32_t nslots;              /* slots made (written atomically) */
    uint32_t nrecords;            /* records written; beyond LAT_RECORDS only counted */
    uint64_t lost_calls;          /* calls not counted: no slot could be made */
    struct lat_thread_record records[LAT_RECORDS];
};

struct lat_slot {
    uint32_t state;               /* enum lat_slot_state */
    uint32_t gen;                 /* threads that have taken the slot */
    uint64_t tid;                 /* the thread counting into it while LIVE */
    uint64_t base_calls, base_faults, base_over[LAT_OVER]; /* totals when taken */
    uint64_t max;                 /* ticks: the current thread's longest call */
    uint64_t fault_reads;         /* getrusage calls made to count faults */
    struct lat_hist kind[LAT_KINDS];
};

/* Sizes rounded up to a page (4096; the layout is the same on every
 * x86-64 Linux). */
#define LAT_PAGE 4096u
#define LAT_ROUND(n) ((((size_t)(n)) + LAT_PAGE - 1) & ~(size_t)(LAT_PAGE - 1))
#define LAT_HEADER_SIZE LAT_ROUND(sizeof(struct lat_file_header))
#define LAT_SLOT_SIZE LAT_ROUND(sizeof(struct lat_slot))

/* Sum of the kinds of a slot (calls, faults, over). */
void lat_slot_totals(const struct lat_slot *s, uint64_t *calls, uint64_t *faults,
                     uint64_t over[LAT_OVER]);

/* ---- reading a file ---- */

struct lat_file {
    const struct lat_file_header *h;
    size_t size;
    unsigned nslots;   /* slots wholly inside the file */
};

/* Map path read-only and check it: magic, version, layout, sizes. Returns
 * 0, or -1 with a one-line reason in err (errno set: EINVAL for a file that
 * is not a latency file of this version, else the system's). Allocates
 * nothing; thread-safe. */
int lat_file_open(struct lat_file *f, const char *path, char *err, size_t errlen);
void lat_file_close(struct lat_file *f);

static inline const struct lat_slot *lat_file_slot(const struct lat_file *f, unsigned i)
{
    return (const struct lat_slot *)((const char *)f->h + f->h->header_size +
                                     (size_t)i * f->h->slot_size);
}

/* out[k] += the process's histogram of kind k. Cannot fail. */
void lat_file_sum(const struct lat_file *f, struct lat_hist out[LAT_KINDS]);

/* The process's threads: records of the threads that exited, then one for
 * each thread still counting when the file was last written. Stores at most
 * cap of them in out and returns how many there are. Cannot fail. */
unsigned lat_file_threads(const struct lat_file *f, struct lat_thread_record *out,
                          unsigned cap);

#endif
