/* latency.c - the shim's timing mode: calibration, the per-thread slots of
 * the shared file, thread exit, fork. See latency.h for how it counts and
 * latfile.h for the file.
 *
 * Everything here may run inside an allocation: no malloc, no stdio; the
 * file is made with open/fallocate/mmap, messages with pool/report.h. The
 * only lock (lat.lock) is taken when a thread takes or frees its slot, never
 * while counting.
 */
#define _GNU_SOURCE
#include "shim/latency.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pool/report.h"
#include "shim/fd.h"

__thread struct lat_self lat_self __attribute__((tls_model("initial-exec")));
uint64_t lat_window;

enum { SELF_NEW = 0, SELF_ATTACHING, SELF_NOSLOT }; /* lat_self.state */

#define CALIBRATE_NS 1000000u /* one window of 1 ms */
#define FLOOR_PAIRS 1024
#define FAULT_PAGES 16

static struct {
    bool on;
    const char *spec;                 /* the POOLSHIM_LATENCY value */
    char path[PATH_MAX];              /* spec with %p expanded */
    struct shim_file file;            /* the file of path */
    struct lat_file_header *h;
    struct lat_slot *slot[LAT_SLOTS_MAX];
    unsigned nslots;
    pthread_mutex_t lock;             /* slot[], nslots, taking and freeing slots */
    pthread_key_t key;                /* its destructor frees the thread's slot */
    bool key_made;
    /* measured once at start, copied into every file (fork children too) */
    double ns_per_tick;
    uint64_t floor_min, floor_p50, fault_min, over_at[LAT_OVER];
} lat = {.file = SHIM_FILE_NONE, .lock = PTHREAD_MUTEX_INITIALIZER};

/* ---- measuring the timer and the faults ---- */

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A CLOCK_MONOTONIC reading and the tick at the same moment: the middle of
 * the tightest of a few bracketing pairs of timer reads. */
static void clock_pair(uint64_t *ns, uint64_t *tick)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 5; i++) {
        uint64_t a = lat_now(), n = mono_ns(), b = lat_now();
        if (b - a < best) {
            best = b - a;
            *ns = n;
            *tick = a + (b - a) / 2;
        }
    }
}

static double calibrate(void)
{
#if defined(__x86_64__)
    uint64_t n0, t0, n1, t1;
    clock_pair(&n0, &t0);
    while (mono_ns() - n0 < CALIBRATE_NS)
        ;
    clock_pair(&n1, &t1);
    return t1 > t0 ? (double)(n1 - n0) / (double)(t1 - t0) : 1.0;
#else
    return 1.0;
#endif
}

/* Two back-to-back timer reads: the smallest and the median difference. */
static void measure_floor(uint64_t *min, uint64_t *p50)
{
    uint32_t count[256] = {0};
    *min = UINT64_MAX;
    for (int i = 0; i < FLOOR_PAIRS; i++) {
        uint64_t a = lat_now(), b = lat_now(), d = b - a;
        if (d < *min)
            *min = d;
        count[d < 255 ? d : 255]++;
    }
    uint32_t seen = 0;
    for (*p50 = 0; *p50 < 255 && (seen += count[*p50]) < FLOOR_PAIRS / 2; ++*p50)
        ;
}

/* Ticks of the cheapest page fault: reads of fresh anonymous pages (each
 * maps the zero page: no allocation, no zeroing). 0 when none could be
 * timed. */
static uint64_t measure_fault(void)
{
    char *p = mmap(NULL, FAULT_PAGES * LAT_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 0;
    uint64_t best = UINT64_MAX;
    for (unsigned i = 0; i < FAULT_PAGES; i++) {
        uint64_t t0 = lat_now();
        (void)*(volatile const char *)(p + (size_t)i * LAT_PAGE);
        uint64_t t1 = lat_now();
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    munmap(p, FAULT_PAGES * LAT_PAGE);
    return best;
}

static void measure(void)
{
    lat.ns_per_tick = calibrate();
    measure_floor(&lat.floor_min, &lat.floor_p50);
    lat.over_at[0] = (uint64_t)(1000.0 / lat.ns_per_tick);
    lat.over_at[1] = (uint64_t)(10000.0 / lat.ns_per_tick);
    struct rusage ru;
    if (getrusage(RUSAGE_THREAD, &ru) != 0) {
        lat.fault_min = 0;
        lat_window = UINT64_MAX; /* faults cannot be counted: never read */
        return;
    }
    lat.fault_min = measure_fault();
    /* no fault takes less than the cheapest one seen; half of it as margin.
     * 0 (nothing timed): read the count around every call. */
    lat_window = lat.fault_min / 2;
}

/* ---- the file ---- */

static void say_failure(const char *what, int err)
{
    struct rbuf b = {0};
    rb_str(&b, "poolshim: POOLSHIM_LATENCY=");
    rb_quoted(&b, lat.spec, strlen(lat.spec), 200);
    rb_str(&b, ": ");
    rb_str(&b, what);
    rb_char(&b, ' ');
    rb_quoted(&b, lat.path, strlen(lat.path), 300);
    if (err != 0)
        rb_errnote(&b, err);
    rb_str(&b, "; calls are not timed\n");
    rb_flush(&b, 2);
}

/* spec with each "%p" replaced by the pid; false when it does not fit. */
static bool expand(const char *spec, char *out, size_t cap)
{
    struct rbuf pid = {0};
    rb_u64(&pid, (uint64_t)getpid());
    size_t len = 0;
    while (*spec != '\0') {
        bool is_pid = spec[0] == '%' && spec[1] == 'p';
        size_t n = is_pid ? pid.len : 1;
        if (len + n >= cap)
            return false;
        memcpy(out + len, is_pid ? pid.buf : spec, n);
        len += n;
        spec += is_pid ? 2 : 1;
    }
    out[len] = '\0';
    return true;
}

/* Blocks for [off, off + len) of fd, so that writing through a mapping can
 * never fail (SIGBUS) for want of space. */
static int make_room(int fd, off_t off, size_t len)
{
    if (fallocate(fd, 0, off, (off_t)len) == 0)
        return 0;
    if (errno != EOPNOTSUPP && errno != ENOSYS)
        return -1;
    static const char zero[LAT_PAGE];
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof zero ? len - done : sizeof zero;
        ssize_t w = pwrite(fd, zero, n, off + (off_t)done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        done += (size_t)w;
    }
    return 0;
}

/* Map [off, off + len) of the file shared, every page written once (no
 * fault later when counting). NULL on failure. */
static void *map_part(off_t off, size_t len)
{
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, lat.file.fd, off);
    if (p == MAP_FAILED)
        return NULL;
    for (size_t i = 0; i < len; i += LAT_PAGE)
        ((volatile char *)p)[i] = 0; /* the part is new: all zero */
    return p;
}

/* An existing file we may replace: empty, or a latency file. */
static bool replaceable(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return false;
    char magic[16];
    struct stat st;
    bool ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
              (st.st_size == 0 || (pread(fd, magic, 16, 0) == 16 &&
                                   memcmp(magic, LAT_FILE_MAGIC, 16) == 0));
    close(fd);
    return ok;
}

/* Open a new file of our own, exclusively: an old latency file of the same
 * name is unlinked first (a process still writing it keeps its copy). */
static int create_exclusive(void)
{
    int flags = O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC;
    int fd = open(lat.path, flags, 0644);
    if (fd < 0 && errno == EEXIST) {
        if (!replaceable(lat.path)) {
            say_failure("will not replace", 0);
            errno = EEXIST;
            return -1;
        }
        unlink(lat.path);
        fd = open(lat.path, flags, 0644);
    }
    if (fd < 0) {
        say_failure("cannot create", errno);
        return -1;
    }
    return fd_above_program(fd);
}

static void fill_header(struct lat_file_header *h)
{
    h->version = LAT_FILE_VERSION;
    h->kinds = LAT_KINDS;
    h->buckets = LAT_BUCKETS;
    h->sub_bits = LAT_SUB_BITS;
    h->top_bits = LAT_TOP_BITS;
    h->header_size = LAT_HEADER_SIZE;
    h->slot_size = LAT_SLOT_SIZE;
    h->pid = (uint64_t)getpid();
    h->ppid = (uint64_t)getppid();
    prctl(PR_GET_NAME, h->comm, 0, 0, 0);
    h->comm[15] = '\0';
#if defined(__x86_64__)
    memcpy(h->timer, "rdtscp", 7);
#else
    memcpy(h->timer, "clock_gettime", 14);
#endif
    h->ns_per_tick = lat.ns_per_tick;
    h->floor_min = lat.floor_min;
    h->floor_p50 = lat.floor_p50;
    h->fault_min = lat.fault_min;
    h->fault_window = lat_window;
    memcpy(h->over_at, lat.over_at, sizeof h->over_at);
    h->start_tick = lat_now();
    /* the magic last, its first half by a release store: a reader never
     * takes a half-written header for one (a fence would do the same, but
     * ThreadSanitizer builds refuse fences) */
    uint64_t first;
    memcpy(h->magic + 8, &LAT_FILE_MAGIC[8], 8);
    memcpy(&first, LAT_FILE_MAGIC, 8);
    __atomic_store_n((uint64_t *)(void *)h->magic, first, __ATOMIC_RELEASE);
}

/* The file for this process, with its header and no slot. */
static int create_file(void)
{
    if (!expand(lat.spec, lat.path, sizeof lat.path)) {
        memcpy(lat.path, "(too long)", 11);
        say_failure("path too long:", ENAMETOOLONG);
        return -1;
    }
    int fd = create_exclusive();
    if (fd < 0)
        return -1;
    if (!shim_file_keep(&lat.file, fd) || make_room(fd, 0, LAT_HEADER_SIZE) != 0 ||
        (lat.h = map_part(0, LAT_HEADER_SIZE)) == NULL) {
        say_failure("cannot write", errno);
        close(fd);
        unlink(lat.path);
        lat.file.fd = -1;
        return -1;
    }
    lat.nslots = 0;
    fill_header(lat.h);
    return 0;
}

/* ---- slots ---- */

/* Slot i, made at the end of the file. Under lat.lock. */
static struct lat_slot *new_slot(unsigned i)
{
    if (i >= LAT_SLOTS_MAX || shim_file_fd(&lat.file, lat.path) < 0)
        return NULL;
    off_t off = (off_t)LAT_HEADER_SIZE + (off_t)i * (off_t)LAT_SLOT_SIZE;
    struct lat_slot *s = NULL;
    if (make_room(lat.file.fd, off, LAT_SLOT_SIZE) != 0 || (s = map_part(off, LAT_SLOT_SIZE)) == NULL)
        return NULL;
    lat.slot[i] = s;
    lat.nslots = i + 1;
    __atomic_store_n(&lat.h->nslots, i + 1, __ATOMIC_RELEASE);
    return s;
}

static void lost_call(void)
{
    if (lat.h != NULL)
        __atomic_fetch_add(&lat.h->lost_calls, 1, __ATOMIC_RELAXED);
}

/* A slot for the calling thread: a free one, else a new one. NULL (and the
 * thread's calls counted as lost from then on) when none can be had. */
static struct lat_slot *attach(struct lat_self *s)
{
    if (!__atomic_load_n(&lat.on, __ATOMIC_ACQUIRE))
        return NULL;
    if (s->state != SELF_NEW) { /* no slot, or a signal handler's call while taking one */
        lost_call();
        return NULL;
    }
    s->state = SELF_ATTACHING;
    pthread_mutex_lock(&lat.lock);
    unsigned i = 0;
    while (i < lat.nslots && lat.slot[i]->state != LAT_SLOT_FREE)
        i++;
    struct lat_slot *slot = i < lat.nslots ? lat.slot[i] : new_slot(i);
    if (slot != NULL) {
        slot->gen++;
        slot->tid = (uint64_t)syscall(SYS_gettid);
        lat_slot_totals(slot, &slot->base_calls, &slot->base_faults, slot->base_over);
        slot->max = 0;
        __atomic_store_n(&slot->state, LAT_SLOT_LIVE, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&lat.lock);
    s->state = slot != NULL ? SELF_NEW : SELF_NOSLOT;
    if (slot == NULL) {
        lost_call();
        return NULL;
    }
    s->slot = slot;
    s->index = i;
    if (lat.key_made)
        pthread_setspecific(lat.key, slot);
    return slot;
}

/* pthread key destructor: the thread's summary into the header, its slot
 * free for the next thread. A call the thread makes after this (from later
 * destructors) takes a slot again and sets the key again. */
static void on_thread_exit(void *arg)
{
    struct lat_self *s = &lat_self;
    struct lat_slot *slot = arg;
    if (slot == NULL || slot != s->slot || !__atomic_load_n(&lat.on, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&lat.lock);
    struct lat_file_header *h = lat.h;
    uint32_t n = h->nrecords;
    if (n < LAT_RECORDS) {
        struct lat_thread_record *r = &h->records[n];
        lat_slot_totals(slot, &r->calls, &r->faults, r->over);
        r->calls -= slot->base_calls;
        r->faults -= slot->base_faults;
        for (unsigned i = 0; i < LAT_OVER; i++)
            r->over[i] -= slot->base_over[i];
        r->slot = s->index;
        r->gen = slot->gen;
        r->tid = slot->tid;
        r->max = slot->max;
    }
    __atomic_store_n(&h->nrecords, n + 1, __ATOMIC_RELEASE);
    __atomic_store_n(&slot->state, LAT_SLOT_FREE, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&lat.lock);
    s->slot = NULL;
}

/* ---- counting ---- */

uint64_t lat_refresh(void)
{
    struct lat_self *s = &lat_self;
    int saved = errno;
    if (getrusage(RUSAGE_THREAD, &s->ru) == 0) {
        s->faults = (uint64_t)s->ru.ru_minflt + (uint64_t)s->ru.ru_majflt;
        if (s->slot != NULL)
            s->slot->fault_reads++;
    }
    errno = saved;
    return s->clean = lat_now();
}

/* Faults since the count was last valid (t0 of this call): read now. */
__attribute__((noinline, cold)) static uint64_t faults_since(struct lat_self *s)
{
    uint64_t before = s->faults;
    lat_refresh();
    return s->faults - before;
}

void lat_record(enum lat_kind k, uint64_t t0, uint64_t t1)
{
    struct lat_self *s = &lat_self;
    uint64_t d = (int64_t)(t1 - t0) > 0 ? t1 - t0 : 0; /* a TSC step back: 0 */
    uint64_t faults = 0;
    if (__builtin_expect(d < lat_window, 1))
        s->clean = t1; /* too short for a fault: the count is still valid */
    else
        faults = faults_since(s);
    struct lat_slot *slot = s->slot;
    if (__builtin_expect(slot == NULL, 0) && (slot = attach(s)) == NULL)
        return;
    struct lat_hist *h = &slot->kind[k];
    lat_hist_add(h, d, lat.over_at);
    h->faults += faults;
    if (d > slot->max)
        slot->max = d;
}

/* ---- start, fork, exit ---- */

int lat_start(const char *spec)
{
    if (lat.on)
        return 0;
    int saved = errno;
    lat.spec = spec;
    measure();
    int rc = create_file();
    if (rc == 0) {
        lat.key_made = pthread_key_create(&lat.key, on_thread_exit) == 0;
        __atomic_store_n(&lat.on, true, __ATOMIC_RELEASE);
    }
    errno = saved;
    return rc;
}

bool lat_active(void)
{
    return __atomic_load_n(&lat.on, __ATOMIC_ACQUIRE);
}

void lat_finish(void)
{
    if (!lat_active())
        return;
    lat.h->end_tick = lat_now();
    __atomic_store_n(&lat.h->complete, 1, __ATOMIC_RELEASE);
}

/* The child must not count into its parent's file: it drops the parent's
 * mappings and starts a file of its own, empty; the forking thread takes a
 * slot there at its next call. The parent's lock may have been held by a
 * thread that the child does not have: made anew. */
static void fork_child(void)
{
    if (!lat_active())
        return;
    int saved = errno;
    pthread_mutex_init(&lat.lock, NULL);
    for (unsigned i = 0; i < lat.nslots; i++)
        munmap(lat.slot[i], LAT_SLOT_SIZE);
    munmap(lat.h, LAT_HEADER_SIZE);
    lat.h = NULL;
    shim_file_close(&lat.file); /* never a number the program took over */
    memset(&lat_self, 0, sizeof lat_self);
    if (lat.key_made)
        pthread_setspecific(lat.key, NULL);
    if (create_file() != 0)
        __atomic_store_n(&lat.on, false, __ATOMIC_RELEASE);
    errno = saved;
}

__attribute__((constructor)) static void lat_constructor(void)
{
    /* registered here, not from inside an allocation (it may allocate) */
    pthread_atfork(NULL, NULL, fork_child);
}

__attribute__((destructor)) static void lat_destructor(void)
{
    lat_finish();
}
