/* latfile.c - reading back the timing mode's files (latfile.h).
 *
 * No stdio and no malloc: the reason a file is refused is formatted with
 * pool/report.h into the caller's buffer.
 */
#define _GNU_SOURCE
#include "shim/latfile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pool/report.h"

const struct lat_kind_words lat_kind[LAT_KINDS] = {
    [LAT_POOL] = {"pool", "served by a pool"},
    [LAT_DRY] = {"dry", "class empty: fell back"},
    [LAT_UNCOVERED] = {"uncovered", "no class: real allocator"},
    [LAT_FREE_POOL] = {"free_pool", "free of a pool object"},
    [LAT_FREE_OTHER] = {"free_other", "free, other"},
    [LAT_REALLOC] = {"realloc", "realloc"},
};

void lat_slot_totals(const struct lat_slot *s, uint64_t *calls, uint64_t *faults,
                     uint64_t over[LAT_OVER])
{
    *calls = *faults = 0;
    for (unsigned i = 0; i < LAT_OVER; i++)
        over[i] = 0;
    for (unsigned k = 0; k < LAT_KINDS; k++) {
        *calls += s->kind[k].calls;
        *faults += s->kind[k].faults;
        for (unsigned i = 0; i < LAT_OVER; i++)
            over[i] += s->kind[k].over[i];
    }
}

static const char *layout_problem(const struct lat_file_header *h, size_t size)
{
    if (memcmp(h->magic, LAT_FILE_MAGIC, 16) != 0)
        return "not a poolshim latency file";
    if (h->version != LAT_FILE_VERSION)
        return "a poolshim latency file of another version";
    if (h->kinds != LAT_KINDS || h->buckets != LAT_BUCKETS ||
        h->sub_bits != LAT_SUB_BITS || h->top_bits != LAT_TOP_BITS ||
        h->header_size != LAT_HEADER_SIZE || h->slot_size != LAT_SLOT_SIZE)
        return "a poolshim latency file of another layout";
    if (h->header_size > size)
        return "truncated latency file";
    if (!(h->ns_per_tick > 0))
        return "latency file without a timer calibration";
    return NULL;
}

int lat_file_open(struct lat_file *f, const char *path, char *err, size_t errlen)
{
    memset(f, 0, sizeof *f);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return rb_refuse(path, "cannot open", errno, err, errlen);
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return rb_refuse(path, "cannot stat", e, err, errlen);
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size < sizeof(struct lat_file_header)) {
        close(fd);
        return rb_refuse(path, "not a poolshim latency file (too short)", EINVAL, err, errlen);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return rb_refuse(path, "cannot map", e, err, errlen);
    const char *why = layout_problem(p, (size_t)st.st_size);
    if (why != NULL) {
        munmap(p, (size_t)st.st_size);
        return rb_refuse(path, why, EINVAL, err, errlen);
    }
    f->h = p;
    f->size = (size_t)st.st_size;
    uint32_t n = __atomic_load_n(&f->h->nslots, __ATOMIC_ACQUIRE);
    size_t whole = (f->size - f->h->header_size) / f->h->slot_size;
    f->nslots = n < whole ? n : (unsigned)whole;
    return 0;
}

void lat_file_close(struct lat_file *f)
{
    if (f->h != NULL)
        munmap((void *)f->h, f->size);
    memset(f, 0, sizeof *f);
}

void lat_file_sum(const struct lat_file *f, struct lat_hist out[LAT_KINDS])
{
    for (unsigned i = 0; i < f->nslots; i++)
        for (unsigned k = 0; k < LAT_KINDS; k++)
            lat_hist_merge(&out[k], &lat_file_slot(f, i)->kind[k]);
}

static bool recorded(const struct lat_file_header *h, unsigned n, unsigned slot,
                     uint32_t gen)
{
    for (unsigned r = 0; r < n; r++)
        if (h->records[r].slot == slot && h->records[r].gen == gen)
            return true;
    return false;
}

unsigned lat_file_threads(const struct lat_file *f, struct lat_thread_record *out,
                          unsigned cap)
{
    const struct lat_file_header *h = f->h;
    unsigned n = __atomic_load_n(&h->nrecords, __ATOMIC_ACQUIRE), total = 0;
    unsigned kept = n < LAT_RECORDS ? n : LAT_RECORDS;
    for (unsigned r = 0; r < kept; r++, total++)
        if (total < cap)
            out[total] = h->records[r];
    total += n - kept; /* dropped records still count as threads */
    for (unsigned i = 0; i < f->nslots; i++) {
        const struct lat_slot *s = lat_file_slot(f, i);
        if (s->state != LAT_SLOT_LIVE || recorded(h, kept, i, s->gen))
            continue;
        if (total < cap) {
            struct lat_thread_record *t = &out[total];
            lat_slot_totals(s, &t->calls, &t->faults, t->over);
            t->calls -= s->base_calls;
            t->faults -= s->base_faults;
            for (unsigned j = 0; j < LAT_OVER; j++)
                t->over[j] -= s->base_over[j];
            t->slot = i;
            t->gen = s->gen;
            t->tid = s->tid;
            t->max = s->max;
        }
        total++;
    }
    return total;
}
