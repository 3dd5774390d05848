/* solve.c - the classes that serve the most requests within a budget.
 *
 * The model. With classes c1 < c2 < ... < cK, a request of n bytes goes to
 * the smallest class with size >= n. So classes do not pick buckets: they cut
 * the size axis into ranges, and class j takes every request in
 * (c(j-1), cj], whether or not it was meant for it. A class that must serve
 * all of its range needs as many objects as the range has live at once,
 * which is at most the sum of its buckets' peaks (the bound we use), plus the
 * headroom. Requests above cK go to the system allocator.
 *   A range we would rather not serve (a size that is rare but has many
 * blocks live, say 100000 buffers of 4 KiB allocated once) would still flow
 * into the next class up and use up its objects. Instead of paying for it,
 * the recommender may close such a range with a "barrier": a class of ONE
 * object at the top of the range. Its requests then find it empty and go to
 * the system allocator (the shim falls back on a miss; in strict mode they
 * would fail), and the next class up serves only its own range. A barrier
 * costs one class slot and one object; the requests it catches are not
 * counted as served.
 *   A configuration is thus a sequence of at most 32 ranges covering the
 * atoms from the smallest up to some cut, each either full (count =
 * round_up(sum of peaks * (100 + headroom) / 100)) or a barrier (count 1).
 * Memory = sum over classes of stride * count, the stride being the size
 * rounded up to PROFILE_GRANULE. Served = the requests of the full ranges.
 * We maximise served within the budget.
 *
 * The search. For a price lambda (requests per byte), the configuration
 * maximising served - lambda * memory is found exactly by dynamic
 * programming over (classes used, last atom covered): O(32 * n^2) for n
 * atoms. lambda = 0 gives the cheapest configuration that serves every
 * request up to 1 MiB; when it fits the budget, that is the answer. Otherwise
 * we bisect lambda (geometrically) for the cheapest price whose configuration
 * fits, keeping the best configuration within the budget that any price gave
 * (Lagrangian relaxation). Every configuration it returns is optimal for its
 * own memory; between two of them it may leave part of the budget unused
 * where a configuration in between would have served a little more. A plain
 * greedy by requests per byte cannot express that classes take whole ranges,
 * and a knapsack over bytes would be too large for a 64M budget.
 *
 * Class sizes. The profile sees usable sizes rounded up to 16. Under glibc a
 * block's usable size is 16k + 8 (24, 40, 56, ...): bucket B holds requests of
 * at most B - 8 bytes, and requests of B - 7 .. B bytes sit in bucket B + 16.
 * A class named B would also take those, which the profile counted one
 * bucket up; so a range whose top bucket is B gets a class of B - 8 bytes
 * (same 16-byte stride, same memory), which takes exactly the requests of the
 * buckets in its range. With another allocator under the shim, a few requests
 * near each class's top may go one class up.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tools/recommend/recommend.h"

/* The tables of one search over atoms a[0..n); cells (k, i) for k classes
 * covering atoms [0, i), at k * W + i with W = n + 1. */
struct search {
    const struct rec_atom *a;
    unsigned n;
    const struct rec_params *pp;
    uint64_t *pr, *pk; /* prefix sums of requests and peaks, n + 1 each */
    double *val;       /* best served - lambda * bytes; -INFINITY: none */
    double *cost;      /* its bytes */
    unsigned *from;    /* where its last class starts */
    bool *barrier;     /* whether its last class is a barrier */
};

/* The class size for a range whose top bucket is top (see the header). */
static uint64_t class_size(uint64_t top)
{
    return top >= 2 * PROFILE_GRANULE ? top - 8 : top;
}

/* Objects a full class needs for a range with peak sum p; 0 when it would
 * exceed the limits of a class of stride `stride`. */
static uint64_t full_count(uint64_t p, unsigned headroom, uint64_t stride)
{
    if (p > POOL_CLASS_COUNT_MAX)
        return 0;
    uint64_t c = p + (p * headroom + 99) / 100;
    if (c == 0)
        c = 1;
    if (c > POOL_CLASS_COUNT_MAX || c * stride > POOL_CLASS_BYTES_MAX)
        return 0;
    return c;
}

/* A candidate for a cell: value v at cost c, from f, barrier or not. */
struct best {
    double v, c;
    unsigned from;
    bool barrier;
};

static void consider(struct best *b, double v, double c, unsigned from, bool barrier)
{
    if (v > b->v || (v == b->v && c < b->c))
        *b = (struct best){v, c, from, barrier};
}

/* Cell (k, i): the best last class, a barrier or full, over its starts. */
static void solve_cell(struct search *s, double lambda, unsigned k, unsigned i)
{
    const unsigned W = s->n + 1;
    const uint64_t stride = s->a[i - 1].top;
    struct best b = {-INFINITY, 0, 0, false};
    for (unsigned f = k - 1; f < i; f++) {
        double v0 = s->val[(k - 1) * W + f];
        if (v0 == -INFINITY)
            continue;
        double c0 = s->cost[(k - 1) * W + f];
        consider(&b, v0 - lambda * (double)stride, c0 + (double)stride, f, true);
        uint64_t cnt = full_count(s->pk[i] - s->pk[f], s->pp->headroom, stride);
        if (cnt == 0)
            continue;
        double bytes = (double)(cnt * stride);
        consider(&b, v0 + (double)(s->pr[i] - s->pr[f]) - lambda * bytes, c0 + bytes, f,
                 false);
    }
    s->val[k * W + i] = b.v;
    s->cost[k * W + i] = b.c;
    s->from[k * W + i] = b.from;
    s->barrier[k * W + i] = b.barrier;
}

/* Configuration (k, i) of the solved tables, into *out. */
static void trace(const struct search *s, unsigned k, unsigned i, struct rec_config *out)
{
    const unsigned W = s->n + 1;
    out->n = k;
    out->bytes = out->served = 0;
    for (; k > 0; k--) {
        unsigned f = s->from[k * W + i];
        struct rec_choice *c = &out->c[k - 1];
        c->from = f;
        c->to = i;
        c->barrier = s->barrier[k * W + i];
        uint64_t stride = s->a[i - 1].top;
        c->size = class_size(stride);
        c->peak = s->pk[i] - s->pk[f];
        c->requests = s->pr[i] - s->pr[f];
        c->count = c->barrier ? 1 : full_count(c->peak, s->pp->headroom, stride);
        c->bytes = c->count * stride;
        out->bytes += c->bytes;
        if (!c->barrier)
            out->served += c->requests;
        i = f;
    }
}

/* The configuration maximising served - lambda * bytes, into *out. */
static void solve(struct search *s, double lambda, struct rec_config *out)
{
    const unsigned n = s->n, K = s->pp->max_classes, W = n + 1;
    for (unsigned k = 0; k <= K; k++)
        for (unsigned i = 0; i <= n; i++) {
            s->val[k * W + i] = -INFINITY;
            s->cost[k * W + i] = 0;
        }
    s->val[0] = 0;
    for (unsigned k = 1; k <= K; k++)
        for (unsigned i = k; i <= n; i++)
            solve_cell(s, lambda, k, i);
    /* the best end: any number of classes, any last atom (the atoms above
     * it are left to the system allocator); (0, 0) is the empty set */
    unsigned bk = 0, bi = 0;
    for (unsigned k = 1; k <= K; k++)
        for (unsigned i = k; i <= n; i++) {
            double v = s->val[k * W + i], bv = s->val[bk * W + bi];
            if (v > bv || (v == bv && s->cost[k * W + i] < s->cost[bk * W + bi]))
                bk = k, bi = i;
        }
    trace(s, bk, bi, out);
}

static bool better(const struct rec_config *x, const struct rec_config *y)
{
    return x->served > y->served || (x->served == y->served && x->bytes < y->bytes);
}

static void search_free(struct search *s)
{
    free(s->pr);
    free(s->pk);
    free(s->val);
    free(s->cost);
    free(s->from);
    free(s->barrier);
}

static int search_init(struct search *s)
{
    const size_t W = s->n + 1, cells = (size_t)(s->pp->max_classes + 1) * W;
    s->pr = calloc(W, sizeof *s->pr);
    s->pk = calloc(W, sizeof *s->pk);
    s->val = calloc(cells, sizeof *s->val);
    s->cost = calloc(cells, sizeof *s->cost);
    s->from = calloc(cells, sizeof *s->from);
    s->barrier = calloc(cells, sizeof *s->barrier);
    if (!s->pr || !s->pk || !s->val || !s->cost || !s->from || !s->barrier) {
        search_free(s);
        return -1;
    }
    for (unsigned i = 0; i < s->n; i++) {
        s->pr[i + 1] = s->pr[i] + s->a[i].requests;
        s->pk[i + 1] = s->pk[i] + s->a[i].peak; /* < 2^16 buckets * 2^48 */
    }
    return 0;
}

int rec_recommend(const struct rec_atom *a, unsigned n, const struct rec_params *pp,
                  int steps, struct rec_config *best)
{
    struct search s = {.a = a, .n = n, .pp = pp};
    if (search_init(&s) != 0)
        return -1;
    struct rec_config cur;
    memset(best, 0, sizeof *best);
    solve(&s, 0, &cur);
    if (cur.bytes <= pp->budget) {
        *best = cur;
    } else {
        /* lambda in requests per byte: between one request per 2^48 bytes
         * and every request for one slot of PROFILE_GRANULE bytes */
        double lo = log2(1.0 / 281474976710656.0);
        double hi = log2((double)s.pr[n] / PROFILE_GRANULE + 1.0);
        for (int it = 0; it < steps; it++) {
            double mid = (lo + hi) / 2;
            solve(&s, exp2(mid), &cur);
            if (cur.bytes <= pp->budget) {
                hi = mid;
                if (better(&cur, best))
                    *best = cur;
            } else {
                lo = mid;
            }
        }
    }
    search_free(&s);
    return 0;
}

uint64_t rec_cheapest(const struct rec_atom *a, unsigned n, const struct rec_params *pp)
{
    uint64_t best = UINT64_MAX, below = 0;
    for (unsigned i = 0; i < n; i++) {
        below += a[i].peak;
        uint64_t c = full_count(below, pp->headroom, a[i].top);
        if (c != 0 && c * a[i].top < best)
            best = c * a[i].top;
        c = full_count(a[i].peak, pp->headroom, a[i].top);
        if (i > 0 && pp->max_classes >= 2 && c != 0 && c * a[i].top + a[i - 1].top < best)
            best = c * a[i].top + a[i - 1].top;
    }
    return best;
}

int rec_totals(const struct rec_atom *a, unsigned n, const struct rec_params *pp,
               const struct rec_config *cf, uint64_t requests, uint64_t larger,
               struct rec_totals *t)
{
    memset(t, 0, sizeof *t);
    t->requests = requests;
    for (unsigned k = 0; k < cf->n; k++)
        if (cf->c[k].barrier)
            t->in_barriers += cf->c[k].requests;
    t->above = requests - larger - cf->served - t->in_barriers;
    uint64_t floor = rec_cheapest(a, n, pp);
    for (unsigned k = 1; k <= REC_TRADEOFFS; k++) {
        struct rec_params small = *pp;
        small.budget = pp->budget >> (2 * k);
        if (small.budget < floor)
            break;
        struct rec_config alt;
        if (rec_recommend(a, n, &small, 16, &alt) != 0)
            return -1;
        t->trade[t->ntrade].budget = small.budget;
        t->trade[t->ntrade].served = alt.served;
        t->trade[t->ntrade].bytes = alt.bytes;
        t->ntrade++;
    }
    return 0;
}
