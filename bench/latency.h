/* latency.h - per-operation latency measurement shared by bench/probe.c and
 * demo/orders_legacy.c (header-only; every function is static inline).
 *
 * Timer: rdtscp on x86-64 (invariant TSC), converted to ns with a ratio
 * calibrated against CLOCK_MONOTONIC; clock_gettime(CLOCK_MONOTONIC) elsewhere.
 * A sample is the difference of two timer reads around one call, so it
 * includes the timer's own floor; lat_floor() measures that floor (two
 * back-to-back reads) so that reports can state it. Nothing is subtracted.
 *
 * Histogram: log-linear over ticks. Values below LAT_LINEAR are exact; above,
 * each power of two is split into 2^LAT_SUBBITS buckets (relative width
 * 1/256, under 0.4 %). A percentile is reported as the upper bound of the
 * bucket holding the sample of rank ceil(q * n), so it never understates.
 * The maximum is kept exactly.
 *
 * All memory a measurement needs (histograms, caller's arrays through
 * lat_alloc) comes from mmap and is written page by page before the measured
 * window opens, so that the measurement itself takes no page fault inside it.
 */
#ifndef BENCH_LATENCY_H
#define BENCH_LATENCY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- timer ---- */

#if defined(__x86_64__)
#define LAT_TIMER_NAME "rdtscp"
static inline uint64_t lat_now(void)
{
    uint32_t lo, hi;
    /* rdtscp waits for earlier instructions; the memory clobber keeps the
     * compiler from moving the measured call across it. */
    __asm__ __volatile__("rdtscp" : "=a"(lo), "=d"(hi) : : "rcx", "memory");
    return ((uint64_t)hi << 32) | lo;
}
#else
#define LAT_TIMER_NAME "clock_gettime(CLOCK_MONOTONIC)"
static inline uint64_t lat_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

static inline uint64_t lat_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ns per timer tick: the median of three windows of about ms/3 milliseconds
 * each, so that a preemption inside one window does not skew the ratio. */
static inline double lat_calibrate(unsigned ms)
{
#if defined(__x86_64__)
    double r[3];
    for (int i = 0; i < 3; i++) {
        uint64_t n0 = lat_mono_ns(), t0 = lat_now(), n1;
        do {
            n1 = lat_mono_ns();
        } while (n1 - n0 < (uint64_t)ms * 1000000u / 3);
        uint64_t t1 = lat_now();
        r[i] = (double)(n1 - n0) / (double)(t1 - t0);
    }
    double lo = r[0] < r[1] ? r[0] : r[1], hi = r[0] < r[1] ? r[1] : r[0];
    return r[2] < lo ? lo : r[2] > hi ? hi : r[2];
#else
    (void)ms;
    return 1.0;
#endif
}

/* ---- memory the measurement owns ---- */

/* bytes of anonymous memory, every page written before return; exits on
 * failure (a benchmark without its bookkeeping has nothing to measure). */
static inline void *lat_alloc(size_t bytes)
{
    if (bytes == 0)
        bytes = 1;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        perror("latency: mmap of bookkeeping");
        exit(2);
    }
    long pg = sysconf(_SC_PAGESIZE);
    for (size_t off = 0; off < bytes; off += (size_t)pg)
        ((volatile char *)p)[off] = 0;
    return p;
}

static inline void lat_free(void *p, size_t bytes)
{
    munmap(p, bytes ? bytes : 1);
}

/* ---- histogram ---- */

#define LAT_LINEAR_BITS 12
#define LAT_LINEAR (1u << LAT_LINEAR_BITS)
#define LAT_SUBBITS 8
#define LAT_BUCKETS (LAT_LINEAR + (64 - LAT_LINEAR_BITS) * (1u << LAT_SUBBITS))

struct lat_hist {
    uint64_t n;          /* samples */
    uint64_t max;        /* exact largest sample, ticks */
    uint64_t slow;       /* samples > slow_ticks */
    uint64_t slow_ticks; /* threshold for `slow` (set by lat_hist_new) */
    uint64_t count[LAT_BUCKETS];
};

static inline struct lat_hist *lat_hist_new(uint64_t slow_ticks)
{
    struct lat_hist *h = lat_alloc(sizeof *h);
    h->slow_ticks = slow_ticks;
    return h;
}

static inline void lat_hist_reset(struct lat_hist *h)
{
    uint64_t st = h->slow_ticks;
    memset(h, 0, sizeof *h);
    h->slow_ticks = st;
}

static inline unsigned lat_bucket(uint64_t v)
{
    if (v < LAT_LINEAR)
        return (unsigned)v;
    unsigned e = 63u - (unsigned)__builtin_clzll(v); /* >= LAT_LINEAR_BITS */
    unsigned sub = (unsigned)(v >> (e - LAT_SUBBITS)) & ((1u << LAT_SUBBITS) - 1);
    return LAT_LINEAR + (e - LAT_LINEAR_BITS) * (1u << LAT_SUBBITS) + sub;
}

/* largest value that falls into bucket b */
static inline uint64_t lat_bucket_hi(unsigned b)
{
    if (b < LAT_LINEAR)
        return b;
    unsigned e = (b - LAT_LINEAR) / (1u << LAT_SUBBITS) + LAT_LINEAR_BITS;
    uint64_t sub = (b - LAT_LINEAR) % (1u << LAT_SUBBITS);
    uint64_t lo = ((uint64_t)1 << e) | (sub << (e - LAT_SUBBITS));
    return lo + ((uint64_t)1 << (e - LAT_SUBBITS)) - 1;
}

static inline void lat_record(struct lat_hist *h, uint64_t ticks)
{
    h->count[lat_bucket(ticks)]++;
    h->n++;
    if (ticks > h->max)
        h->max = ticks;
    if (ticks > h->slow_ticks)
        h->slow++;
}

static inline void lat_merge(struct lat_hist *into, const struct lat_hist *from)
{
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        into->count[b] += from->count[b];
    into->n += from->n;
    into->slow += from->slow;
    if (from->max > into->max)
        into->max = from->max;
}

/* ticks of the sample of rank ceil(q * n) (bucket upper bound, capped at the
 * exact max); 0 for an empty histogram. */
static inline uint64_t lat_quantile(const struct lat_hist *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n);
    if ((double)rank < q * (double)h->n)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LAT_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t v = lat_bucket_hi(b);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

static inline uint64_t lat_min(const struct lat_hist *h)
{
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        if (h->count[b])
            return lat_bucket_hi(b) < h->max ? lat_bucket_hi(b) : h->max;
    return 0;
}

/* Timer floor: `n` pairs of back-to-back reads into h (reset first). */
static inline void lat_floor(struct lat_hist *h, unsigned n)
{
    lat_hist_reset(h);
    for (unsigned i = 0; i < n; i++) {
        uint64_t t0 = lat_now();
        uint64_t t1 = lat_now();
        lat_record(h, t1 - t0);
    }
}

/* Timer resolution in ticks, from a histogram filled by lat_floor(). A
 * virtualised TSC may advance in coarse steps: back-to-back differences then
 * come out as, say, 49 or 73-74 ticks and never in between. Differences seen
 * in at least 1 sample in 1000 are grouped into clusters of neighbours (at
 * most 2 ticks apart); the step is the smallest distance between the
 * weighted centres of two clusters, or 1 tick when there is only one. */
static inline double lat_step(const struct lat_hist *h)
{
    double best = 0, prev_centre = -1, sum = 0, weight = 0;
    unsigned last = 0;
    for (unsigned v = 0; v <= LAT_LINEAR; v++) {
        bool frequent = v < LAT_LINEAR && h->count[v] > 0 && h->count[v] * 1000 >= h->n;
        if (weight > 0 && (v - last > 2 || v == LAT_LINEAR)) {
            double centre = sum / weight; /* close the cluster */
            if (prev_centre >= 0 && (best == 0 || centre - prev_centre < best))
                best = centre - prev_centre;
            prev_centre = centre;
            sum = weight = 0;
        }
        if (frequent) {
            sum += (double)v * (double)h->count[v];
            weight += (double)h->count[v];
            last = v;
        }
    }
    return best > 0 ? best : 1;
}

/* Print `<prefix>_p50=... _p99 _p99.9 _p99.99 _max` in ns, the count of
 * samples above the slow threshold and the sample count, as key=value lines. */
static inline void lat_print(FILE *out, const char *prefix, const struct lat_hist *h,
                             double tick_ns)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.50}, {"p99", 0.99}, {"p99.9", 0.999}, {"p99.99", 0.9999}};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++)
        fprintf(out, "%s_%s_ns=%.0f\n", prefix, qs[i].name,
                (double)lat_quantile(h, qs[i].q) * tick_ns);
    fprintf(out, "%s_max_ns=%.0f\n", prefix, (double)h->max * tick_ns);
    fprintf(out, "%s_slow=%llu\n", prefix, (unsigned long long)h->slow);
    fprintf(out, "%s_samples=%llu\n", prefix, (unsigned long long)h->n);
}

/* Measure the timer's floor now (n back-to-back pairs into scratch, which is
 * reset) and print timer=, tick_ns=, timer_floor_min_ns=, timer_floor_p50_ns=
 * and timer_step_ns= lines. */
static inline void lat_print_timer(FILE *out, struct lat_hist *scratch, unsigned n,
                                   double tick_ns)
{
    lat_floor(scratch, n);
    fprintf(out, "timer=%s\ntick_ns=%.5f\ntimer_floor_min_ns=%.1f\ntimer_floor_p50_ns=%.1f\n"
            "timer_step_ns=%.1f\n",
            LAT_TIMER_NAME, tick_ns, (double)lat_min(scratch) * tick_ns,
            (double)lat_quantile(scratch, 0.5) * tick_ns, lat_step(scratch) * tick_ns);
}

/* The whole histogram as "ns count" lines, one per non-empty bucket, in
 * increasing order (ns: the bucket's upper bound, capped at the max), so that
 * any quantile can be computed afterwards. Returns 0, or -1 when the file
 * cannot be written. */
static inline int lat_dump(const char *path, const struct lat_hist *h, double tick_ns)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        if (h->count[b] != 0) {
            uint64_t v = lat_bucket_hi(b) < h->max ? lat_bucket_hi(b) : h->max;
            fprintf(f, "%.1f %llu\n", (double)v * tick_ns, (unsigned long long)h->count[b]);
        }
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- what the process paid inside a window ---- */

struct lat_usage {
    long minflt, majflt, nvcsw, nivcsw;
};

static inline struct lat_usage lat_usage_now(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (struct lat_usage){ru.ru_minflt, ru.ru_majflt, ru.ru_nvcsw, ru.ru_nivcsw};
}

/* `<prefix>minor_faults=...` etc.: what happened between a and b */
static inline void lat_print_usage(FILE *out, const char *prefix, struct lat_usage a,
                                   struct lat_usage b)
{
    fprintf(out, "%sminor_faults=%ld\n", prefix, b.minflt - a.minflt);
    fprintf(out, "%smajor_faults=%ld\n", prefix, b.majflt - a.majflt);
    fprintf(out, "%sctx_voluntary=%ld\n", prefix, b.nvcsw - a.nvcsw);
    fprintf(out, "%sctx_involuntary=%ld\n", prefix, b.nivcsw - a.nivcsw);
    fprintf(out, "%sctx_switches=%ld\n", prefix, (b.nvcsw - a.nvcsw) + (b.nivcsw - a.nivcsw));
}

/* ---- deterministic random numbers (xoshiro256**, seeded by splitmix64) ---- */

struct lat_rng {
    uint64_t s[4];
};

static inline void lat_rng_seed(struct lat_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++) {
        uint64_t z = (seed += 0x9e3779b97f4a7c15u);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
        r->s[i] = z ^ (z >> 31);
    }
}

static inline uint64_t lat_rng_next(struct lat_rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t res = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return res;
}

/* uniform in [0, n), n > 0 (Lemire's multiply, bias negligible here) */
static inline uint64_t lat_rng_below(struct lat_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)lat_rng_next(r) * n) >> 64);
}

/* A command-line count: decimal, optional k (1000) or M (1000000) suffix.
 * Exits with a message naming the option for anything else. */
static inline uint64_t lat_parse_count(const char *prog, const char *name, const char *s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    uint64_t mul = 1;
    if (*end == 'k' || *end == 'K')
        mul = 1000, end++;
    else if (*end == 'm' || *end == 'M')
        mul = 1000000, end++;
    if (errno || end == s || *end || s[0] == '-' || v > UINT64_MAX / mul) {
        fprintf(stderr, "%s: %s expects a non-negative integer (k/M suffix allowed), "
                "not '%s'\n", prog, name, s);
        exit(2);
    }
    return (uint64_t)v * mul;
}

/* Keep the compiler from eliding a malloc/free pair whose result is unused. */
static inline void lat_escape(void *p)
{
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

#endif
