/* probe.c - allocator latency probe: a "legacy binary" that knows nothing of
 * pools and only calls malloc and free, so that it can be run unchanged on
 * glibc, under a preloaded peer allocator, or under libpoolshim.so.
 *
 * Usage: probe [--mode M] [options]; results on stdout as key=value lines.
 *   --mode mix     (default) --ops N (10000000) operations after --warmup N
 *                  (2000000), on sizes 1..4096 from a fixed distribution, with
 *                  a live set whose target size follows a slow cosine between 0
 *                  and --live N (20000) with period --period N (2500000 ops);
 *                  frees pick a random victim. Every malloc and free is timed
 *                  alone; --threads T (1) runs T independent copies at once;
 *                  --ideal replaces malloc and free by the probe's own free
 *                  lists (see below): the floor any allocator is measured
 *                  against on this machine.
 *   --mode pairs   --ops N (10000000) malloc(--size S (64))+free pairs after
 *                  ops/10 warm-up pairs, batch-timed (--batches B (5); the
 *                  median and the best batch are reported).
 *   --mode large   as pairs, on 16 sizes in 64 KiB..256 KiB that no pool class
 *                  covers (--ops default 2000000).
 *   --mode cross   2 threads: the producer mallocs --ops N (4000000) objects
 *                  (mix sizes)
 *                  and passes them through a lock-free SPSC ring; the consumer
 *                  writes to and frees them. Throughput in Mops/s, where one
 *                  object is two operations (its malloc and its free).
 *   --mode scatter --count N (1000000) objects of --size S (64) B, then --ops N
 *                  (4000000) touches in a random cycle through all of them
 *                  (each reads the next object's address from the current one
 *                  and writes a counter there: a chain of dependent accesses,
 *                  so a TLB miss or a cache miss is paid in full), batch-timed
 *                  (--batches B (5)): what the pages under a large pool cost
 *                  (POOLSHIM_HUGEPAGES). Reports ns per touch, the page faults
 *                  of the allocation and of the touches, and the huge pages
 *                  that back the process (AnonHugePages, Hugetlb).
 *   --mode startup one malloc and free, then exit (time it from outside).
 *   --mode touch   --bytes N: mmap N bytes and write one byte per page, exit.
 *   --mode spawn   [--reps R] [--env K=V]... -- CMD ARGS: run CMD R times (the
 *                  environment plus the K=V given, for CMD only) and report
 *                  the median and smallest wall time of one run.
 *   --seed S (42) seeds every random choice: a run is reproducible.
 *
 * The probe's own bookkeeping (live set, size table, histograms) is mmapped
 * and written before the warm-up, so that the probe itself takes no page fault
 * in the measured window: minor faults counted there are the allocator's (or
 * first touches of memory the allocator handed out).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/ideal.h"
#include "bench/latency.h"

extern char **environ;

#define SLOW_NS 10000.0 /* "slow operation" threshold: 10 us */
#define SIZE_TABLE (1u << 16)

enum mode { M_MIX, M_PAIRS, M_LARGE, M_CROSS, M_STARTUP, M_TOUCH, M_SPAWN, M_SCATTER };

static struct {
    enum mode mode;
    uint64_t ops, warmup, seed, period, bytes, count;
    unsigned threads, live, batches, reps;
    size_t size;
    int nenv;
    char *env[64];
    char **cmd;
    bool ops_set, warmup_set, ideal;
} opt = {
    .mode = M_MIX, .ops = 10000000, .warmup = 2000000, .seed = 42, .period = 2500000,
    .threads = 1, .live = 20000, .batches = 5, .reps = 11, .size = 64, .count = 1000000,
};

static double tick_ns;

static void die(const char *what)
{
    fprintf(stderr, "probe: %s\n", what);
    exit(2);
}

/* ---- the size distribution of mix and cross ----
 * Shares per size range, in tenths of a percent. The ranges are the classes
 * scripts/bench configures for poolshim (16, 32, ..., 4096); at a live set of
 * 20000 the expected peak per class stays well under its count there. */
static const struct {
    unsigned hi, permille;
} size_mix[] = {
    {16, 120}, {32, 180}, {64, 250}, {128, 180}, {256, 120},
    {512, 70}, {1024, 40}, {2048, 25}, {4096, 15},
};

static uint32_t *make_size_table(struct lat_rng *r)
{
    uint32_t *t = lat_alloc(SIZE_TABLE * sizeof *t);
    for (unsigned i = 0; i < SIZE_TABLE; i++) {
        unsigned pick = (unsigned)lat_rng_below(r, 1000), acc = 0, lo = 0;
        for (size_t k = 0; k < sizeof size_mix / sizeof size_mix[0]; k++) {
            acc += size_mix[k].permille;
            if (pick < acc) {
                t[i] = lo + 1 + (uint32_t)lat_rng_below(r, size_mix[k].hi - lo);
                break;
            }
            lo = size_mix[k].hi;
        }
    }
    return t;
}

/* ---- mode mix ---- */

struct live_obj {
    unsigned char *p;
    uint32_t size;
    uint32_t tag;
};

struct mixer {
    pthread_t tid;
    unsigned id;
    struct lat_rng rng;
    uint32_t *sizes;
    struct live_obj *live;
    unsigned nlive, peak;
    uint64_t step; /* position on the target curve, carried across phases */
    struct lat_hist *hm, *hf;
    struct ideal *ideal; /* --ideal: the in-probe reference allocator */
};

static pthread_barrier_t mix_barrier;

static unsigned mix_target(uint64_t step)
{
    double phase = 2.0 * M_PI * (double)(step % opt.period) / (double)opt.period;
    return (unsigned)((double)opt.live * (0.5 - 0.5 * cos(phase)));
}

static void corrupt(const struct live_obj *o)
{
    fprintf(stderr, "probe: object %p of %u bytes changed while live (tag %u): "
            "the allocator handed out overlapping memory\n",
            (void *)o->p, o->size, o->tag);
    exit(3);
}

/* n operations; each malloc and free is timed alone into m->hm / m->hf */
static void mix_run(struct mixer *m, uint64_t n)
{
    unsigned target = mix_target(m->step);
    for (uint64_t i = 0; i < n; i++, m->step++) {
        if ((m->step & 255) == 0)
            target = mix_target(m->step);
        uint64_t r = lat_rng_next(&m->rng);
        bool do_malloc;
        if (m->nlive == 0)
            do_malloc = true;
        else if (m->nlive >= opt.live)
            do_malloc = false;
        else /* drift toward the target, 3 steps in 4 */
            do_malloc = (m->nlive < target) ? (r & 3) != 0 : (r & 3) == 0;

        if (do_malloc) {
            uint32_t size = m->sizes[(r >> 8) & (SIZE_TABLE - 1)];
            uint64_t t0 = lat_now();
            unsigned char *p = m->ideal ? ideal_malloc(m->ideal, size) : malloc(size);
            uint64_t t1 = lat_now();
            lat_record(m->hm, t1 - t0);
            if (!p)
                die("malloc returned NULL");
            uint32_t tag = (uint32_t)(r >> 32);
            memset(p, (int)(tag & 0xff), size);
            if (size >= 4)
                memcpy(p, &tag, 4);
            m->live[m->nlive++] = (struct live_obj){p, size, tag};
            if (m->nlive > m->peak)
                m->peak = m->nlive;
        } else {
            unsigned k = (unsigned)lat_rng_below(&m->rng, m->nlive);
            struct live_obj o = m->live[k];
            m->live[k] = m->live[--m->nlive];
            uint32_t tag;
            if ((o.size != 4 && o.p[o.size - 1] != (unsigned char)(o.tag & 0xff)) ||
                (o.size >= 4 && (memcpy(&tag, o.p, 4), tag != o.tag)))
                corrupt(&o);
            uint64_t t0 = lat_now();
            if (m->ideal)
                ideal_free(m->ideal, o.p, o.size);
            else
                free(o.p);
            uint64_t t1 = lat_now();
            lat_record(m->hf, t1 - t0);
        }
    }
}

static void *mix_thread(void *arg)
{
    struct mixer *m = arg;
    mix_run(m, opt.warmup);
    lat_hist_reset(m->hm);
    lat_hist_reset(m->hf);
    pthread_barrier_wait(&mix_barrier); /* warm-up done */
    pthread_barrier_wait(&mix_barrier); /* window open */
    mix_run(m, opt.ops);
    return NULL;
}

static void mode_mix(void)
{
    uint64_t slow_ticks = (uint64_t)(SLOW_NS / tick_ns);
    struct mixer *ms = lat_alloc(opt.threads * sizeof *ms);
    struct lat_rng seeder;
    lat_rng_seed(&seeder, opt.seed);
    uint32_t *sizes = make_size_table(&seeder);
    for (unsigned t = 0; t < opt.threads; t++) {
        struct mixer *m = &ms[t];
        m->id = t;
        lat_rng_seed(&m->rng, opt.seed * 1000003u + t);
        m->sizes = sizes;
        m->live = lat_alloc(opt.live * sizeof *m->live);
        m->hm = lat_hist_new(slow_ticks);
        m->hf = lat_hist_new(slow_ticks);
        if (opt.ideal) {
            m->ideal = ideal_new();
        }
    }
    struct lat_hist *all = lat_hist_new(slow_ticks), *hm = lat_hist_new(slow_ticks),
                    *hf = lat_hist_new(slow_ticks), *floor_h = lat_hist_new(slow_ticks);

    struct lat_usage u0, u1;
    uint64_t w0, w1;
    if (opt.threads == 1) {
        /* on the main thread, as a single-threaded legacy program would */
        mix_run(&ms[0], opt.warmup);
        lat_hist_reset(ms[0].hm);
        lat_hist_reset(ms[0].hf);
        u0 = lat_usage_now();
        w0 = lat_mono_ns();
        mix_run(&ms[0], opt.ops);
        w1 = lat_mono_ns();
        u1 = lat_usage_now();
    } else {
        if (pthread_barrier_init(&mix_barrier, NULL, opt.threads + 1))
            die("pthread_barrier_init failed");
        for (unsigned t = 0; t < opt.threads; t++)
            if (pthread_create(&ms[t].tid, NULL, mix_thread, &ms[t]))
                die("pthread_create failed");
        pthread_barrier_wait(&mix_barrier);
        u0 = lat_usage_now();
        w0 = lat_mono_ns();
        pthread_barrier_wait(&mix_barrier);
        for (unsigned t = 0; t < opt.threads; t++)
            pthread_join(ms[t].tid, NULL);
        w1 = lat_mono_ns();
        u1 = lat_usage_now();
    }

    unsigned peak = 0;
    for (unsigned t = 0; t < opt.threads; t++) {
        lat_merge(hm, ms[t].hm);
        lat_merge(hf, ms[t].hf);
        peak += ms[t].peak;
    }
    lat_merge(all, hm);
    lat_merge(all, hf);

    if (opt.ideal) {
        uint64_t fb = 0;
        for (unsigned t = 0; t < opt.threads; t++)
            fb += ms[t].ideal->fallbacks;
        printf("allocator=ideal (in-probe free lists)\nideal_fallbacks=%llu\n",
               (unsigned long long)fb);
    }
    printf("mode=mix\nthreads=%u\nops=%llu\nwarmup=%llu\nlive_max=%u\nlive_peak=%u\n"
           "seed=%llu\n",
           opt.threads, (unsigned long long)opt.ops, (unsigned long long)opt.warmup,
           opt.live, peak, (unsigned long long)opt.seed);
    lat_print_timer(stdout, floor_h, 1000000, tick_ns);
    printf("slow_threshold_ns=%.0f\n", SLOW_NS);
    lat_print(stdout, "op", all, tick_ns);
    lat_print(stdout, "malloc", hm, tick_ns);
    lat_print(stdout, "free", hf, tick_ns);
    printf("window_ns_per_op=%.1f\n", (double)(w1 - w0) / (double)(opt.ops * opt.threads));
    lat_print_usage(stdout, "", u0, u1);
    /* the live objects are left to exit, as a legacy program would */
}

/* ---- modes pairs and large: batch-timed malloc+free pairs ---- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void pairs_loop(const uint32_t *sizes, unsigned mask, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        void *p = malloc(sizes[i & mask]);
        lat_escape(p);
        free(p);
    }
}

static void mode_pairs(bool large)
{
    /* pairs: one size; large: 16 sizes from 64 KiB to 256 KiB */
    uint32_t *sizes = lat_alloc(16 * sizeof *sizes);
    unsigned mask = 0;
    if (large) {
        struct lat_rng r;
        lat_rng_seed(&r, opt.seed);
        for (unsigned i = 0; i < 16; i++)
            sizes[i] = (64u << 10) + (uint32_t)lat_rng_below(&r, (192u << 10) + 1);
        mask = 15;
    } else {
        sizes[0] = (uint32_t)opt.size;
    }
    if (large && !opt.ops_set)
        opt.ops = 2000000;
    uint64_t warm = opt.warmup_set ? opt.warmup : opt.ops / 10;
    pairs_loop(sizes, mask, warm);

    double *per = lat_alloc(opt.batches * sizeof *per);
    uint64_t per_batch = opt.ops / opt.batches;
    if (per_batch == 0)
        per_batch = 1;
    struct lat_usage u0 = lat_usage_now();
    for (unsigned b = 0; b < opt.batches; b++) {
        uint64_t t0 = lat_mono_ns();
        pairs_loop(sizes, mask, per_batch);
        uint64_t t1 = lat_mono_ns();
        per[b] = (double)(t1 - t0) / (double)per_batch;
    }
    struct lat_usage u1 = lat_usage_now();
    qsort(per, opt.batches, sizeof *per, cmp_double);
    const char *k = large ? "large" : "pairs";
    printf("mode=%s\n", k);
    if (large)
        printf("size_min=65536\nsize_max=262144\n");
    else
        printf("size=%zu\n", opt.size);
    printf("pairs=%llu\nbatches=%u\n", (unsigned long long)(per_batch * opt.batches),
           opt.batches);
    printf("%s_ns=%.2f\n%s_ns_min=%.2f\n", k, per[opt.batches / 2], k, per[0]);
    lat_print_usage(stdout, "", u0, u1);
}

/* ---- mode cross: producer/consumer through a lock-free SPSC ring ---- */

#define RING 1024u

static struct {
    _Alignas(64) _Atomic uint64_t head; /* written by the producer */
    _Alignas(64) _Atomic uint64_t tail; /* written by the consumer */
    _Alignas(64) void *slot[RING];
} ring;

static uint32_t *cross_sizes;
static pthread_barrier_t cross_barrier;

static void spin_pause(unsigned *spins)
{
    if (++*spins < 256) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    } else {
        *spins = 0;
        sched_yield(); /* 2 busy threads on a noisy 2-core machine */
    }
}

static uint64_t cross_total; /* warm-up + measured objects */

static void *cross_consumer(void *arg)
{
    (void)arg;
    uint64_t tail = 0, sum = 0, head = 0; /* head: last seen, reloaded when caught up */
    pthread_barrier_wait(&cross_barrier);
    while (tail < cross_total) {
        unsigned spins = 0;
        while (head == tail) {
            head = atomic_load_explicit(&ring.head, memory_order_acquire);
            if (head == tail)
                spin_pause(&spins);
        }
        unsigned char *p = ring.slot[tail & (RING - 1)];
        atomic_store_explicit(&ring.tail, tail + 1, memory_order_release);
        uint32_t size = cross_sizes[tail & (SIZE_TABLE - 1)];
        sum += p[0];
        p[size - 1] = 0x5a; /* the consumer writes to what it frees */
        free(p);
        tail++;
    }
    return (void *)(uintptr_t)sum;
}

static void cross_produce(uint64_t from, uint64_t to)
{
    static uint64_t tail; /* last seen, reloaded only when the ring looks full */
    for (uint64_t head = from; head < to; head++) {
        uint32_t size = cross_sizes[head & (SIZE_TABLE - 1)];
        unsigned char *p = malloc(size);
        if (!p)
            die("malloc returned NULL");
        p[0] = (unsigned char)head;
        unsigned spins = 0;
        while (head - tail >= RING) {
            tail = atomic_load_explicit(&ring.tail, memory_order_acquire);
            if (head - tail >= RING)
                spin_pause(&spins);
        }
        ring.slot[head & (RING - 1)] = p;
        atomic_store_explicit(&ring.head, head + 1, memory_order_release);
    }
}

static void mode_cross(void)
{
    struct lat_rng r;
    lat_rng_seed(&r, opt.seed);
    cross_sizes = make_size_table(&r);
    memset(ring.slot, 0, sizeof ring.slot);
    if (!opt.ops_set)
        opt.ops = 4000000;
    uint64_t warm = opt.warmup_set ? opt.warmup : opt.ops / 10;
    cross_total = warm + opt.ops;
    pthread_t c;
    if (pthread_barrier_init(&cross_barrier, NULL, 2) ||
        pthread_create(&c, NULL, cross_consumer, NULL))
        die("thread start failed");
    pthread_barrier_wait(&cross_barrier);
    cross_produce(0, warm);
    unsigned spins = 0;
    while (atomic_load_explicit(&ring.tail, memory_order_acquire) != warm)
        spin_pause(&spins); /* the consumer has freed the warm-up objects */
    struct lat_usage u0 = lat_usage_now();
    uint64_t t0 = lat_mono_ns();
    cross_produce(warm, cross_total);
    void *sum;
    pthread_join(c, &sum);
    uint64_t t1 = lat_mono_ns();
    struct lat_usage u1 = lat_usage_now();
    double secs = (double)(t1 - t0) / 1e9;
    printf("mode=cross\nobjects=%llu\nwarmup=%llu\nring=%u\n", (unsigned long long)opt.ops,
           (unsigned long long)warm, RING);
    printf("cross_mops=%.2f\ncross_ns_per_object=%.1f\n", 2.0 * (double)opt.ops / secs / 1e6,
           (double)(t1 - t0) / (double)opt.ops);
    printf("checksum=%llu\n", (unsigned long long)(uintptr_t)sum);
    lat_print_usage(stdout, "", u0, u1);
}

/* ---- mode scatter: random dependent touches over a large pool ---- */

/* kB of a "Name:   N kB" line summed over /proc/self/smaps_rollup, -1 when
 * the file cannot be read */
static long smaps_kb(const char *name)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (f == NULL)
        return -1;
    char line[256];
    long sum = 0, v;
    size_t len = strlen(name);
    while (fgets(line, sizeof line, f) != NULL)
        if (!strncmp(line, name, len) && line[len] == ':' &&
            sscanf(line + len + 1, "%ld", &v) == 1)
            sum += v;
    fclose(f);
    return sum;
}

/* One touch: read the next object's address, count a visit where we are. */
static void **scatter_walk(void **at, uint64_t n)
{
    for (uint64_t i = 0; i < n; i++) {
        void **next = at[0];
        at[1] = (void *)((uintptr_t)at[1] + 1);
        at = next;
    }
    return at;
}

static void mode_scatter(void)
{
    if (opt.size < 2 * sizeof(void *) || opt.count < 2)
        die("--mode scatter needs --size >= 16 and --count >= 2");
    if (!opt.ops_set)
        opt.ops = 4000000;
    void ***obj = lat_alloc(opt.count * sizeof *obj);
    struct lat_usage u0 = lat_usage_now();
    uint64_t t0 = lat_mono_ns();
    for (uint64_t i = 0; i < opt.count; i++) {
        obj[i] = malloc(opt.size);
        if (obj[i] == NULL)
            die("malloc returned NULL");
        obj[i][1] = NULL;
    }
    uint64_t t1 = lat_mono_ns();
    struct lat_usage u1 = lat_usage_now();
    /* one random cycle through all objects (Sattolo's shuffle) */
    struct lat_rng r;
    lat_rng_seed(&r, opt.seed);
    uint32_t *order = lat_alloc(opt.count * sizeof *order);
    for (uint64_t i = 0; i < opt.count; i++)
        order[i] = (uint32_t)i;
    for (uint64_t i = opt.count - 1; i > 0; i--) {
        uint64_t j = lat_rng_below(&r, i);
        uint32_t t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    for (uint64_t i = 0; i < opt.count; i++)
        obj[i][0] = obj[order[i]];
    void **at = scatter_walk(obj[0], opt.ops / 10 + 1); /* warm-up */
    double *per = lat_alloc(opt.batches * sizeof *per);
    uint64_t per_batch = opt.ops / opt.batches ? opt.ops / opt.batches : 1;
    struct lat_usage u2 = lat_usage_now();
    for (unsigned b = 0; b < opt.batches; b++) {
        uint64_t b0 = lat_mono_ns();
        at = scatter_walk(at, per_batch);
        per[b] = (double)(lat_mono_ns() - b0) / (double)per_batch;
    }
    struct lat_usage u3 = lat_usage_now();
    lat_escape(at);
    qsort(per, opt.batches, sizeof *per, cmp_double);
    printf("mode=scatter\nsize=%zu\ncount=%llu\ntouches=%llu\nbatches=%u\n", opt.size,
           (unsigned long long)opt.count, (unsigned long long)(per_batch * opt.batches),
           opt.batches);
    printf("alloc_ns=%.1f\nalloc_minor_faults=%ld\n",
           (double)(t1 - t0) / (double)opt.count, u1.minflt - u0.minflt);
    printf("touch_ns=%.2f\ntouch_ns_min=%.2f\n", per[opt.batches / 2], per[0]);
    printf("anon_huge_kb=%ld\nhugetlb_kb=%ld\n", smaps_kb("AnonHugePages"),
           smaps_kb("Private_Hugetlb") + smaps_kb("Shared_Hugetlb"));
    lat_print_usage(stdout, "", u2, u3);
}

/* ---- start-up and the hand-touch baseline ---- */

static void mode_startup(void)
{
    void *p = malloc(64);
    lat_escape(p);
    free(p);
}

static void mode_touch(void)
{
    if (opt.bytes == 0)
        die("--mode touch needs --bytes N");
    unsigned char *p = mmap(NULL, opt.bytes, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        die("mmap failed");
    long pg = sysconf(_SC_PAGESIZE);
    for (uint64_t off = 0; off < opt.bytes; off += (uint64_t)pg)
        ((volatile unsigned char *)p)[off] = 1;
}

static void mode_spawn(void)
{
    if (!opt.cmd || !opt.cmd[0])
        die("--mode spawn needs -- CMD [ARGS]");
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + (size_t)opt.nenv + 1, sizeof *envp);
    if (!envp)
        die("out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        bool overridden = false;
        for (int e = 0; e < opt.nenv; e++) {
            size_t klen = strcspn(opt.env[e], "=");
            if (!strncmp(environ[i], opt.env[e], klen + 1))
                overridden = true;
        }
        if (!overridden)
            envp[k++] = environ[i];
    }
    for (int e = 0; e < opt.nenv; e++)
        envp[k++] = opt.env[e];
    double *t = calloc(opt.reps, sizeof *t);
    if (!t)
        die("out of memory");
    for (unsigned r = 0; r < opt.reps; r++) {
        pid_t pid;
        int st;
        uint64_t t0 = lat_mono_ns();
        int err = posix_spawn(&pid, opt.cmd[0], NULL, NULL, opt.cmd, envp);
        if (err) {
            fprintf(stderr, "probe: cannot run %s: %s\n", opt.cmd[0], strerror(err));
            exit(2);
        }
        if (waitpid(pid, &st, 0) < 0)
            die("waitpid failed");
        uint64_t t1 = lat_mono_ns();
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "probe: %s failed (status 0x%x)\n", opt.cmd[0], st);
            exit(2);
        }
        t[r] = (double)(t1 - t0);
    }
    qsort(t, opt.reps, sizeof *t, cmp_double);
    printf("mode=spawn\nreps=%u\nspawn_median_us=%.1f\nspawn_min_us=%.1f\n", opt.reps,
           t[opt.reps / 2] / 1e3, t[0] / 1e3);
    free(t);
    free(envp);
}

/* ---- options ---- */

static uint64_t num(const char *name, const char *s)
{
    return lat_parse_count("probe", name, s);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: probe [--mode mix|pairs|large|cross|scatter|startup|touch|spawn]\n"
            "             [--ops N] [--count N]\n"
            "             [--warmup N] [--threads 1|2] [--live N] [--period N] [--seed S]\n"
            "             [--size S] [--batches B] [--bytes N] [--reps R] [--env K=V]...\n"
            "             [--ideal] (mix: the in-probe reference allocator)\n"
            "             [-- CMD ARGS (spawn)]\n");
    exit(2);
}

static void parse(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--")) {
            opt.cmd = &argv[i + 1];
            return;
        }
        if (!strcmp(a, "--ideal")) {
            opt.ideal = true;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--mode")) {
            static const char *names[] = {"mix", "pairs", "large", "cross",
                                          "startup", "touch", "spawn", "scatter"};
            unsigned m = 0;
            while (m < sizeof names / sizeof names[0] && strcmp(v, names[m]))
                m++;
            if (m == sizeof names / sizeof names[0])
                usage();
            opt.mode = (enum mode)m;
        } else if (!strcmp(a, "--ops")) {
            opt.ops = num(a, v);
            opt.ops_set = true;
        } else if (!strcmp(a, "--warmup")) {
            opt.warmup = num(a, v);
            opt.warmup_set = true;
        } else if (!strcmp(a, "--threads"))
            opt.threads = (unsigned)num(a, v);
        else if (!strcmp(a, "--live"))
            opt.live = (unsigned)num(a, v);
        else if (!strcmp(a, "--period"))
            opt.period = num(a, v);
        else if (!strcmp(a, "--seed"))
            opt.seed = num(a, v);
        else if (!strcmp(a, "--size"))
            opt.size = num(a, v);
        else if (!strcmp(a, "--batches"))
            opt.batches = (unsigned)num(a, v);
        else if (!strcmp(a, "--count"))
            opt.count = num(a, v);
        else if (!strcmp(a, "--bytes"))
            opt.bytes = num(a, v);
        else if (!strcmp(a, "--reps"))
            opt.reps = (unsigned)num(a, v);
        else if (!strcmp(a, "--env")) {
            if (!strchr(v, '=') || opt.nenv == (int)(sizeof opt.env / sizeof opt.env[0]))
                usage();
            opt.env[opt.nenv++] = (char *)v;
        } else
            usage();
    }
    if (opt.threads < 1 || opt.threads > 64 || opt.live < 1 || opt.period < 1 ||
        opt.batches < 1 || opt.reps < 1 || opt.size < 1)
        usage();
}

int main(int argc, char **argv)
{
    parse(argc, argv);
    switch (opt.mode) {
    case M_STARTUP:
        mode_startup();
        return 0;
    case M_TOUCH:
        mode_touch();
        return 0;
    case M_SPAWN:
        mode_spawn();
        return 0;
    default:
        break;
    }
    tick_ns = lat_calibrate(60);
    switch (opt.mode) {
    case M_MIX:
        mode_mix();
        break;
    case M_PAIRS:
        mode_pairs(false);
        break;
    case M_LARGE:
        mode_pairs(true);
        break;
    case M_CROSS:
        mode_cross();
        break;
    case M_SCATTER:
        mode_scatter();
        break;
    default:
        break;
    }
    fflush(stdout);
    return 0;
}
