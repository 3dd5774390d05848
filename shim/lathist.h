/* lathist.h - log-linear latency histograms (HDR-style) over timer ticks.
 *
 * Used by the shim's timing mode (latency.c, one histogram per kind of call
 * per thread) and by the programs that read its files (tools/, tests/). Pure
 * code: no allocation, no stdio, no lock; safe inside malloc.
 *
 * Buckets. A value v (ticks) falls into bucket
 *   b(v) = v                                      for v < 2^(S+1) = 256
 *   b(v) = (e - S) * 2^S + (v >> (e - S))         for 2^e <= v < 2^(e+1), e > S
 * with S = LAT_SUB_BITS = 7: below 256 ticks every value has its own bucket;
 * above, each power of two is cut into 128 buckets of equal width, so that
 *   width(b) <= low(b) / 128      (relative width at most 0.79 %)
 * and reporting a bucket's highest value overstates a sample by at most
 * 0.79 % and never understates it. At 2 to 5 GHz this holds from below one
 * nanosecond to 2^LAT_TOP_BITS ticks (14 s at 5 GHz, 34 s at 2 GHz);
 * larger values share the last bucket, and the exact maximum is kept beside.
 *
 * Invariant: calls == sum of count[]; max >= every recorded value;
 *            over[i] == number of recorded values > the caller's over_at[i].
 */
#ifndef SHIM_LATHIST_H
#define SHIM_LATHIST_H

#include <stdint.h>

#define LAT_SUB_BITS 7
#define LAT_TOP_BITS 36
#define LAT_BUCKETS ((LAT_TOP_BITS - LAT_SUB_BITS + 1) << LAT_SUB_BITS) /* 3840 */
#define LAT_OVER 2 /* thresholds counted exactly: 1 us and 10 us */

struct lat_hist {
    uint64_t calls;
    uint64_t faults;          /* page faults taken inside these calls */
    uint64_t over[LAT_OVER];  /* calls longer than the thresholds */
    uint64_t max;             /* ticks, exact */
    uint64_t sum;             /* ticks, for the mean */
    uint64_t count[LAT_BUCKETS];
};

static inline unsigned lat_bucket(uint64_t v)
{
    if (v < (2u << LAT_SUB_BITS))
        return (unsigned)v;
    if (v >> LAT_TOP_BITS)
        return LAT_BUCKETS - 1;
    unsigned shift = 63u - (unsigned)__builtin_clzll(v) - LAT_SUB_BITS; /* e - S */
    return (shift << LAT_SUB_BITS) + (unsigned)(v >> shift);
}

/* Record one value. over_at: the LAT_OVER thresholds in ticks. Not
 * thread-safe: each histogram has one writer. Cannot fail. */
static inline void lat_hist_add(struct lat_hist *h, uint64_t v,
                                const uint64_t over_at[LAT_OVER])
{
    h->count[lat_bucket(v)]++;
    h->calls++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
    h->over[0] += v > over_at[0];
    h->over[1] += v > over_at[1];
}

/* The lowest and the highest value of bucket b (< LAT_BUCKETS). For the
 * last bucket, the highest is UINT64_MAX. */
uint64_t lat_bucket_low(unsigned b);
uint64_t lat_bucket_high(unsigned b);

/* into += from (counts, calls, faults, over, sum added; max the larger).
 * Cannot fail. */
void lat_hist_merge(struct lat_hist *into, const struct lat_hist *from);

/* The value of rank ceil(q * calls) (at least 1), 0 < q <= 1, as the
 * highest value of its bucket, capped at max: never below the true order
 * statistic, at most 0.79 % above it (within the range above). 0 for an
 * empty histogram. Cannot fail. */
uint64_t lat_hist_quantile(const struct lat_hist *h, double q);

/* Number of recorded values above v, counted by whole buckets: the values
 * of the bucket holding v count as not above it (exceedance curves). */
uint64_t lat_hist_above(const struct lat_hist *h, uint64_t v);

#endif
