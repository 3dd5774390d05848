/* lathist.c - bucket bounds, merging and percentiles of lathist.h. */
#include "shim/lathist.h"

uint64_t lat_bucket_low(unsigned b)
{
    if (b < (2u << LAT_SUB_BITS))
        return b;
    unsigned shift = (b >> LAT_SUB_BITS) - 1;
    uint64_t sub = (b & ((1u << LAT_SUB_BITS) - 1)) | (1u << LAT_SUB_BITS);
    return sub << shift;
}

uint64_t lat_bucket_high(unsigned b)
{
    if (b >= LAT_BUCKETS - 1)
        return UINT64_MAX;
    return lat_bucket_low(b + 1) - 1;
}

void lat_hist_merge(struct lat_hist *into, const struct lat_hist *from)
{
    into->calls += from->calls;
    into->faults += from->faults;
    for (unsigned i = 0; i < LAT_OVER; i++)
        into->over[i] += from->over[i];
    into->sum += from->sum;
    if (from->max > into->max)
        into->max = from->max;
    for (unsigned b = 0; b < LAT_BUCKETS; b++)
        into->count[b] += from->count[b];
}

uint64_t lat_hist_quantile(const struct lat_hist *h, double q)
{
    if (h->calls == 0)
        return 0;
    double want = q * (double)h->calls;
    uint64_t rank = (uint64_t)want;
    if ((double)rank < want)
        rank++;
    if (rank < 1)
        rank = 1;
    uint64_t seen = 0;
    for (unsigned b = 0; b < LAT_BUCKETS; b++) {
        seen += h->count[b];
        if (seen >= rank) {
            uint64_t v = lat_bucket_high(b);
            return v < h->max ? v : h->max;
        }
    }
    return h->max;
}

uint64_t lat_hist_above(const struct lat_hist *h, uint64_t v)
{
    uint64_t n = 0;
    for (unsigned b = lat_bucket(v) + 1; b < LAT_BUCKETS; b++)
        n += h->count[b];
    return n;
}
