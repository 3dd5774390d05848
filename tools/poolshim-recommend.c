/* poolshim-recommend - turn POOLSHIM_PROFILE files into a POOLSHIM_CLASSES
 * line.
 *
 *   poolshim-recommend [--budget SIZE] [--headroom PERCENT]
 *                      [--max-classes N] [--json] FILE...
 *
 * Input: the blocks that shim/profile.c appends to a profile file, one per
 * process (FILE "-" is standard input):
 *   # poolshim profile 1 pid PID
 *   SIZE REQUESTS PEAK_LIVE     (SIZE: a 16-byte bucket's upper bound)
 *   # larger than 1048576: N requests
 *   # end
 * Blank lines, and lines starting with '#' outside a block, are skipped;
 * anything else is an error. Blocks merge per bucket: REQUESTS add up over
 * every block of every file, PEAK_LIVE is the largest of any one block (each
 * process has pools of its own, so the pools must hold the peak of the
 * busiest process, not the sum).
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
 * would fail, see below), and the next class up serves only its own range.
 * A barrier costs one class slot and one object; the requests it catches are
 * not counted as served.
 *   A configuration is thus a sequence of at most 32 ranges covering the
 * buckets from the smallest up to some cut, each either full (count =
 * round_up(sum of peaks * (100 + headroom) / 100)) or a barrier (count 1).
 * Memory = sum over classes of round_up(size, 16) * count. Served = the
 * requests of the full ranges. We maximise served within the budget.
 *
 * The search. For a price lambda (requests per byte), the configuration
 * maximising served - lambda * memory is found exactly by dynamic
 * programming over (classes used, last bucket covered): O(32 * n^2) for n
 * buckets. lambda = 0 gives the cheapest configuration that serves every
 * request up to 1 MiB; when it fits the budget, that is the answer. Otherwise
 * we bisect lambda (geometrically) for the cheapest price whose configuration
 * fits, keeping the best configuration within the budget that any price gave
 * (Lagrangian relaxation). Every configuration it returns is optimal for its
 * own memory; between two of them it may leave part of the budget unused
 * where a configuration in between would have served a little more. A plain
 * greedy by requests per byte cannot express that classes take whole ranges,
 * and a knapsack over bytes would be too large for a 64M budget.
 *   Profiles with more than ATOMS_MAX (256) buckets are first coarsened (the
 * programs we tried have 70 to 400): the neighbouring pair that costs the
 * fewest extra bytes when served from the upper bucket's class is merged,
 * until ATOMS_MAX remain. Merged buckets always share a class. The search
 * then takes well under a second.
 *
 * Class sizes. The profile sees usable sizes rounded up to 16. Under glibc a
 * block's usable size is 16k + 8 (24, 40, 56, ...): bucket B holds requests of
 * at most B - 8 bytes, and requests of B - 7 .. B bytes sit in bucket B + 16.
 * A class named B would also take those, which the profile counted one
 * bucket up; so a range whose top bucket is B gets a class of B - 8 bytes
 * (same 16-byte stride, same memory), which takes exactly the requests of the
 * buckets in its range. With another allocator under the shim, a few requests
 * near each class's top may go one class up.
 *
 * Output: a report, or with --json one JSON object; the last line of the
 * report is POOLSHIM_CLASSES=SIZE:COUNT,... . Errors (usage, a missing or
 * malformed file, a budget too small for any class): one line on stderr,
 * "poolshim-recommend: ...", and exit status 2.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pool/classes.h"
#include "pool/version.h"

#define PROG "poolshim-recommend"
#define BUCKETS (POOL_CLASS_SIZE_MAX / 16 + 1) /* bucket i: sizes up to 16i */
#define COUNT_MAX (UINT64_C(0xffffffff) - 1)  /* objects per class */
#define ATOMS_MAX 256
#define HEADROOM_DEFAULT 10
#define HEADROOM_MAX 1000
#define BUDGET_DEFAULT (UINT64_C(64) << 20)

static _Noreturn void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs(PROG ": ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

/* ---- the merged profile ---- */

struct profile {
    uint64_t requests[BUCKETS]; /* summed over blocks */
    uint64_t peak[BUCKETS];     /* largest of any block */
    uint64_t larger;            /* requests above POOL_CLASS_SIZE_MAX */
    unsigned files, blocks;
};

static uint64_t add_or_die(uint64_t a, uint64_t b, const char *file,
                           unsigned long line)
{
    uint64_t s;
    if (__builtin_add_overflow(a, b, &s))
        die("%s:%lu: request counts overflow 64 bits", file, line);
    return s;
}

/* s holds only decimal digits (at least one) and fits in 64 bits. */
static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;
    if (*s == '\0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* Split line into at most max whitespace-separated words; returns how many
 * there were (max + 1 when there are more). Modifies line. */
static int split(char *line, char **w, int max)
{
    int n = 0;
    for (char *s = line;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0')
            return n;
        if (n == max)
            return max + 1;
        w[n++] = s;
        while (*s != '\0' && *s != ' ' && *s != '\t')
            s++;
        if (*s != '\0')
            *s++ = '\0';
    }
}

#define DATA_EXPECT "expected \"SIZE REQUESTS PEAK_LIVE\" with SIZE a multiple " \
                    "of 16 up to 1048576, or a \"# ...\" line of the profile format"

/* Read one profile file into *pf. Dies with file:line on any error. */
static void read_file(struct profile *pf, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    const char *name = f == stdin ? "(standard input)" : path;
    if (f == NULL)
        die("%s: cannot read the profile: %s", path, strerror(errno));

    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    unsigned long lineno = 0, block_line = 0;
    bool in_block = false, seen_larger = false;
    unsigned blocks = 0;
    uint64_t last_size = 0;
    /* one block's figures, merged into *pf at its "# end" */
    static uint64_t req[BUCKETS], peak[BUCKETS];
    static unsigned used[BUCKETS];
    unsigned nused = 0;
    uint64_t larger = 0;

    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            line[--len] = '\0';
        if ((size_t)len != strlen(line))
            die("%s:%lu: NUL byte in the line (not a profile file?)", name, lineno);
        char copy[96];
        snprintf(copy, sizeof copy, "%s%s", len > 80 ? "" : line,
                 len > 80 ? "(a long line)" : "");
        char *w[8];
        int nw = split(line, w, 7);
        if (nw == 0)
            continue;
        if (strcmp(w[0], "#") == 0 && nw >= 3 && strcmp(w[1], "poolshim") == 0 &&
            strcmp(w[2], "profile") == 0) {
            uint64_t pid;
            if (in_block)
                die("%s:%lu: a new block starts before the block of line %lu "
                    "ended (no \"# end\" line)", name, lineno, block_line);
            if (nw < 4 || strcmp(w[3], "1") != 0)
                die("%s:%lu: unsupported profile format \"%s\" (expected "
                    "\"# poolshim profile 1 pid PID\")", name, lineno, copy);
            if (nw != 6 || strcmp(w[4], "pid") != 0 || !parse_u64(w[5], &pid))
                die("%s:%lu: malformed block header \"%s\" (expected "
                    "\"# poolshim profile 1 pid PID\")", name, lineno, copy);
            in_block = true;
            seen_larger = false;
            block_line = lineno;
            last_size = 0;
            nused = 0;
            larger = 0;
            continue;
        }
        if (w[0][0] == '#' && !in_block)
            continue; /* a comment between blocks */
        if (!in_block)
            die("%s:%lu: \"%s\" outside a profile block (expected "
                "\"# poolshim profile 1 pid PID\" first)", name, lineno, copy);
        if (strcmp(w[0], "#") == 0 && nw == 2 && strcmp(w[1], "end") == 0) {
            if (!seen_larger)
                die("%s:%lu: block of line %lu ends without its \"# larger "
                    "than 1048576: N requests\" line", name, lineno, block_line);
            for (unsigned k = 0; k < nused; k++) {
                unsigned i = used[k];
                pf->requests[i] = add_or_die(pf->requests[i], req[i], name, lineno);
                if (peak[i] > pf->peak[i])
                    pf->peak[i] = peak[i];
                req[i] = peak[i] = 0;
            }
            pf->larger = add_or_die(pf->larger, larger, name, lineno);
            in_block = false;
            blocks++;
            continue;
        }
        if (strcmp(w[0], "#") == 0 && nw == 6 && strcmp(w[1], "larger") == 0 &&
            strcmp(w[2], "than") == 0 && strcmp(w[5], "requests") == 0) {
            size_t n = strlen(w[3]);
            uint64_t limit = 0;
            bool colon = n >= 2 && w[3][n - 1] == ':';
            if (colon)
                w[3][n - 1] = '\0';
            if (!colon || !parse_u64(w[3], &limit) ||
                limit != POOL_CLASS_SIZE_MAX || !parse_u64(w[4], &larger) ||
                seen_larger)
                die("%s:%lu: malformed line \"%s\" (expected \"# larger than "
                    "1048576: N requests\", once per block)", name, lineno, copy);
            seen_larger = true;
            continue;
        }
        uint64_t size, r, p;
        if (nw != 3 || !parse_u64(w[0], &size) || !parse_u64(w[1], &r) ||
            !parse_u64(w[2], &p) || size == 0 || size % 16 != 0 ||
            size > POOL_CLASS_SIZE_MAX)
            die("%s:%lu: malformed line \"%s\" (" DATA_EXPECT ")", name, lineno, copy);
        if (seen_larger)
            die("%s:%lu: bucket line \"%s\" after the \"# larger than\" line "
                "(expected \"# end\")", name, lineno, copy);
        if (size <= last_size)
            die("%s:%lu: size %" PRIu64 " does not follow %" PRIu64
                " (sizes must increase within a block)", name, lineno, size,
                last_size);
        last_size = size;
        unsigned i = (unsigned)(size / 16);
        req[i] = r;
        peak[i] = p;
        used[nused++] = i;
    }
    if (ferror(f))
        die("%s: read error: %s", name, strerror(errno));
    free(line);
    if (in_block)
        die("%s:%lu: the block of line %lu is not ended (no \"# end\" line; "
            "was the file cut?)", name, lineno, block_line);
    if (blocks == 0)
        die("%s: no profile block in the file (did the program run with "
            "LD_PRELOAD=libpoolshim.so and POOLSHIM_PROFILE, and exit normally?)",
            name);
    if (f != stdin)
        fclose(f);
    pf->files++;
    pf->blocks += blocks;
}

/* ---- atoms: runs of buckets that always share a class ---- */

struct atom {
    uint64_t top;      /* upper bucket's size (a multiple of 16) */
    uint64_t bottom;   /* lowest bucket's size */
    uint64_t requests; /* sum over its buckets */
    uint64_t peak;     /* sum of its buckets' peaks */
};

/* Min-heap of merge candidates (pair: atom i and the next live atom),
 * ordered by the extra bytes the merge costs; entries carry a stamp and are
 * dropped when stale. */
struct cand {
    double cost;
    unsigned i, stamp;
};

static void heap_push(struct cand *h, unsigned *n, struct cand c)
{
    unsigned k = (*n)++;
    while (k > 0 && h[(k - 1) / 2].cost > c.cost) {
        h[k] = h[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h[k] = c;
}

static struct cand heap_pop(struct cand *h, unsigned *n)
{
    struct cand top = h[0], last = h[--(*n)];
    unsigned k = 0;
    for (;;) {
        unsigned c = 2 * k + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && h[c + 1].cost < h[c].cost)
            c++;
        if (h[c].cost >= last.cost)
            break;
        h[k] = h[c];
        k = c;
    }
    if (*n > 0)
        h[k] = last;
    return top;
}

/* Merge neighbouring atoms (a[0..n) in size order) until at most max remain.
 * Returns the new n. */
static unsigned coarsen(struct atom *a, unsigned n, unsigned max)
{
    if (n <= max)
        return n;
    unsigned *next = calloc(n, sizeof *next), *prev = calloc(n, sizeof *prev);
    unsigned *stamp = calloc(n, sizeof *stamp);
    bool *dead = calloc(n, sizeof *dead);
    struct cand *h = malloc(4 * (size_t)n * sizeof *h);
    if (!next || !prev || !stamp || !dead || !h)
        die("out of memory");
    unsigned hn = 0, live = n;
    for (unsigned i = 0; i < n; i++) {
        next[i] = i + 1;
        prev[i] = i - 1; /* UINT_MAX for the first: never read */
    }
#define PAIR_COST(i) ((double)(a[next[i]].top - a[i].top) * (double)a[i].peak)
    for (unsigned i = 0; i + 1 < n; i++)
        heap_push(h, &hn, (struct cand){PAIR_COST(i), i, 0});
    while (live > max && hn > 0) {
        struct cand c = heap_pop(h, &hn);
        unsigned i = c.i;
        if (dead[i] || c.stamp != stamp[i] || next[i] >= n)
            continue;
        /* atom i joins the atom above it */
        unsigned j = next[i];
        a[j].requests += a[i].requests;
        a[j].peak += a[i].peak;
        a[j].bottom = a[i].bottom;
        dead[i] = true;
        live--;
        bool first = i == 0 || prev[i] == (unsigned)-1;
        prev[j] = first ? (unsigned)-1 : prev[i];
        if (!first) {
            unsigned p = prev[i];
            next[p] = j;
            stamp[p]++;
            heap_push(h, &hn, (struct cand){PAIR_COST(p), p, stamp[p]});
        }
        stamp[j]++;
        if (next[j] < n)
            heap_push(h, &hn, (struct cand){PAIR_COST(j), j, stamp[j]});
        if (hn + 4 > 4 * (size_t)n) { /* compact: drop stale entries */
            unsigned k = 0;
            for (unsigned e = 0; e < hn; e++)
                if (!dead[h[e].i] && h[e].stamp == stamp[h[e].i])
                    h[k++] = h[e];
            hn = 0;
            for (unsigned e = 0; e < k; e++)
                heap_push(h, &hn, h[e]);
        }
    }
#undef PAIR_COST
    unsigned m = 0;
    for (unsigned i = 0; i < n; i++)
        if (!dead[i])
            a[m++] = a[i];
    free(next);
    free(prev);
    free(stamp);
    free(dead);
    free(h);
    return m;
}

/* ---- the search ---- */

struct params {
    uint64_t budget;
    unsigned headroom;    /* percent */
    unsigned max_classes; /* 1 .. POOL_CLASSES_MAX */
};

/* One class of a configuration: atoms (from, to] of the atom array. */
struct choice {
    unsigned from, to;
    bool barrier;
    uint64_t size, count, bytes, requests, peak;
};

struct config {
    unsigned n;
    struct choice c[POOL_CLASSES_MAX];
    uint64_t bytes, served;
};

struct search {
    const struct atom *a;
    unsigned n;
    const struct params *pp;
    uint64_t *pr, *pk; /* prefix sums of requests and peaks, n + 1 each */
    /* DP tables, (max_classes + 1) x (n + 1) */
    double *val, *cost;
    unsigned *from;
    bool *barrier;
};

/* The class size for a range whose top bucket is top (see the header). */
static uint64_t class_size(uint64_t top)
{
    return top >= 32 ? top - 8 : top;
}

/* Objects a full class needs for a range with peak sum p; 0 when it would
 * exceed the limits of a class of stride `stride`. */
static uint64_t full_count(uint64_t p, unsigned headroom, uint64_t stride)
{
    if (p > COUNT_MAX)
        return 0;
    uint64_t c = p + (p * headroom + 99) / 100;
    if (c == 0)
        c = 1;
    if (c > COUNT_MAX || c * stride > POOL_CLASS_BYTES_MAX)
        return 0;
    return c;
}

/* Solve for price lambda into *out. */
static void solve(struct search *s, double lambda, struct config *out)
{
    const unsigned n = s->n, K = s->pp->max_classes, W = n + 1;
    const double NEG = -INFINITY;
    for (unsigned k = 0; k <= K; k++)
        for (unsigned i = 0; i <= n; i++) {
            s->val[k * W + i] = NEG;
            s->cost[k * W + i] = 0;
        }
    s->val[0] = 0;
    for (unsigned k = 1; k <= K; k++) {
        for (unsigned i = k; i <= n; i++) {
            const uint64_t stride = s->a[i - 1].top;
            double best = NEG, best_cost = 0;
            unsigned best_from = 0;
            bool best_bar = false;
            for (unsigned f = k - 1; f < i; f++) {
                double v0 = s->val[(k - 1) * W + f];
                if (v0 == NEG)
                    continue;
                double c0 = s->cost[(k - 1) * W + f];
                /* barrier */
                double cb = c0 + (double)stride;
                double vb = v0 - lambda * (double)stride;
                if (vb > best || (vb == best && cb < best_cost)) {
                    best = vb;
                    best_cost = cb;
                    best_from = f;
                    best_bar = true;
                }
                /* full */
                uint64_t cnt = full_count(s->pk[i] - s->pk[f], s->pp->headroom, stride);
                if (cnt == 0)
                    continue;
                double bytes = (double)(cnt * stride);
                double cf = c0 + bytes;
                double vf = v0 + (double)(s->pr[i] - s->pr[f]) - lambda * bytes;
                if (vf > best || (vf == best && cf < best_cost)) {
                    best = vf;
                    best_cost = cf;
                    best_from = f;
                    best_bar = false;
                }
            }
            s->val[k * W + i] = best;
            s->cost[k * W + i] = best_cost;
            s->from[k * W + i] = best_from;
            s->barrier[k * W + i] = best_bar;
        }
    }
    /* the best end: any number of classes, any last atom (the atoms above
     * it are left to the system allocator); (0, 0) is the empty set */
    unsigned bk = 0, bi = 0;
    for (unsigned k = 1; k <= K; k++)
        for (unsigned i = k; i <= n; i++) {
            double v = s->val[k * W + i], bv = s->val[bk * W + bi];
            if (v > bv || (v == bv && s->cost[k * W + i] < s->cost[bk * W + bi]))
                bk = k, bi = i;
        }
    out->n = bk;
    out->bytes = out->served = 0;
    for (unsigned k = bk, i = bi; k > 0; k--) {
        unsigned f = s->from[k * W + i];
        struct choice *c = &out->c[k - 1];
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

static bool better(const struct config *x, const struct config *y)
{
    return x->served > y->served ||
           (x->served == y->served && x->bytes < y->bytes);
}

/* The recommended configuration for atoms a[0..n), or one with served == 0
 * when nothing fits the budget; `steps` bisection steps of the price (each
 * one O(max_classes * n^2)). */
static void recommend(const struct atom *a, unsigned n, const struct params *pp,
                      int steps, struct config *best)
{
    const unsigned K = pp->max_classes, W = n + 1;
    struct search s = {.a = a, .n = n, .pp = pp};
    s.pr = calloc(W, sizeof *s.pr);
    s.pk = calloc(W, sizeof *s.pk);
    s.val = calloc((size_t)(K + 1) * W, sizeof *s.val);
    s.cost = calloc((size_t)(K + 1) * W, sizeof *s.cost);
    s.from = calloc((size_t)(K + 1) * W, sizeof *s.from);
    s.barrier = calloc((size_t)(K + 1) * W, sizeof *s.barrier);
    if (!s.pr || !s.pk || !s.val || !s.cost || !s.from || !s.barrier)
        die("out of memory");
    for (unsigned i = 0; i < n; i++) {
        s.pr[i + 1] = s.pr[i] + a[i].requests;
        s.pk[i + 1] = s.pk[i] + a[i].peak; /* < 2^16 buckets * 2^48 */
    }

    struct config cur;
    memset(best, 0, sizeof *best);
    solve(&s, 0, &cur);
    if (cur.bytes <= pp->budget) {
        *best = cur;
    } else {
        /* lambda in requests per byte: between one request per 2^48 bytes
         * and every request for one 16-byte slot */
        double lo = log2(1.0 / 281474976710656.0);
        double hi = log2((double)s.pr[n] / 16.0 + 1.0);
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
    free(s.pr);
    free(s.pk);
    free(s.val);
    free(s.cost);
    free(s.from);
    free(s.barrier);
}

/* Bytes of the cheapest configuration that serves at least one request. */
static uint64_t cheapest(const struct atom *a, unsigned n, const struct params *pp)
{
    uint64_t best = UINT64_MAX, below = 0;
    for (unsigned i = 0; i < n; i++) {
        below += a[i].peak;
        uint64_t c = full_count(below, pp->headroom, a[i].top);
        if (c != 0 && c * a[i].top < best)
            best = c * a[i].top;
        c = full_count(a[i].peak, pp->headroom, a[i].top);
        if (i > 0 && pp->max_classes >= 2 && c != 0 &&
            c * a[i].top + a[i - 1].top < best)
            best = c * a[i].top + a[i - 1].top;
    }
    return best;
}

/* ---- output ---- */

/* v with the largest exact suffix up to k (max_shift 10), M (20) or G (30):
 * 4096 -> "4k", 1048576 -> "1M" (max_shift >= 20), 1000 -> "1000". */
static const char *size_text(uint64_t v, unsigned max_shift, char *buf,
                             size_t len)
{
    for (unsigned shift = max_shift; shift >= 10; shift -= 10) {
        if (v != 0 && v % (UINT64_C(1) << shift) == 0) {
            snprintf(buf, len, "%" PRIu64 "%c", v >> shift, "kMG"[shift / 10 - 1]);
            return buf;
        }
    }
    snprintf(buf, len, "%" PRIu64, v);
    return buf;
}

static void classes_line(const struct config *cf, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (unsigned k = 0; k < cf->n; k++) {
        char b[32];
        used += (size_t)snprintf(out + used, len - used, "%s%s:%" PRIu64,
                                 k ? "," : "", size_text(cf->c[k].size, 10, b, sizeof b),
                                 cf->c[k].count);
    }
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static const char *human(uint64_t v, char *buf, size_t len)
{
    if (v >= (UINT64_C(1) << 30))
        snprintf(buf, len, "%.2f GiB", (double)v / (double)(UINT64_C(1) << 30));
    else if (v >= (UINT64_C(1) << 20))
        snprintf(buf, len, "%.2f MiB", (double)v / (double)(UINT64_C(1) << 20));
    else
        snprintf(buf, len, "%.1f KiB", (double)v / 1024.0);
    return buf;
}

#define TRADEOFFS 4

struct totals {
    uint64_t requests;     /* every request, larger ones included */
    uint64_t above;        /* up to 1 MiB, above the largest class */
    uint64_t in_barriers;
    /* what budgets of 1/4, 1/16, 1/64, 1/256 of the given one would serve */
    unsigned ntrade;
    struct {
        uint64_t budget, served, bytes;
    } trade[TRADEOFFS];
};

static void print_text(const struct profile *pf, const struct params *pp,
                       const struct config *cf, const struct totals *t,
                       const char *line)
{
    char h1[32], h2[32];
    printf("poolshim-recommend: %u file%s, %u profile block%s (processes), "
           "%" PRIu64 " requests\n", pf->files, pf->files == 1 ? "" : "s",
           pf->blocks, pf->blocks == 1 ? "" : "s", t->requests);
    printf("budget %" PRIu64 " bytes (%s), at most %u classes, headroom %u%%\n\n",
           pp->budget, human(pp->budget, h1, sizeof h1), pp->max_classes,
           pp->headroom);
    printf("%10s %10s  %-19s %12s %8s %12s\n", "class", "count", "request sizes",
           "requests", "share", "bytes");
    uint64_t prev = 0;
    for (unsigned k = 0; k < cf->n; k++) {
        const struct choice *c = &cf->c[k];
        char range[40], share[16];
        snprintf(range, sizeof range, "%" PRIu64 "..%" PRIu64, prev + 1, c->size);
        if (c->barrier)
            snprintf(share, sizeof share, "barrier");
        else
            snprintf(share, sizeof share, "%.2f%%", pct(c->requests, t->requests));
        printf("%10" PRIu64 " %10" PRIu64 "  %-19s %12" PRIu64 " %8s %12" PRIu64 "\n",
               c->size, c->count, range, c->requests, share, c->bytes);
        prev = c->size;
    }
    printf("\nserved from the pools: %" PRIu64 " of %" PRIu64 " requests (%.2f%%)\n",
           cf->served, t->requests, pct(cf->served, t->requests));
    printf("left to the system allocator: %" PRIu64 " above the largest class, %"
           PRIu64 " above 1 MiB, %" PRIu64 " in barrier classes\n",
           t->above, pf->larger, t->in_barriers);
    printf("pool memory: %" PRIu64 " bytes (%s) of the %s budget\n", cf->bytes,
           human(cf->bytes, h2, sizeof h2), human(pp->budget, h1, sizeof h1));
    if (t->ntrade > 0) {
        printf("smaller budgets:");
        for (unsigned k = 0; k < t->ntrade; k++)
            printf("%s --budget %s serves %.2f%% (%s)", k ? ";" : "",
                   size_text(t->trade[k].budget, 30, h1, sizeof h1),
                   pct(t->trade[k].served, t->requests),
                   human(t->trade[k].bytes, h2, sizeof h2));
        printf("\n");
    }
    printf("POOLSHIM_CLASSES=%s\n", line);
}

static void print_json(const struct profile *pf, const struct params *pp,
                       const struct config *cf, const struct totals *t,
                       const char *line)
{
    printf("{\"version\":1,\"files\":%u,\"blocks\":%u,\"requests\":%" PRIu64
           ",\"larger\":%" PRIu64 ",\"budget\":%" PRIu64
           ",\"max_classes\":%u,\"headroom_percent\":%u,\"classes\":[",
           pf->files, pf->blocks, t->requests, pf->larger, pp->budget,
           pp->max_classes, pp->headroom);
    uint64_t prev = 0;
    for (unsigned k = 0; k < cf->n; k++) {
        const struct choice *c = &cf->c[k];
        printf("%s{\"size\":%" PRIu64 ",\"count\":%" PRIu64 ",\"barrier\":%s"
               ",\"min_request\":%" PRIu64 ",\"requests\":%" PRIu64
               ",\"peak\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
               k ? "," : "", c->size, c->count, c->barrier ? "true" : "false",
               prev + 1, c->requests, c->peak, c->bytes);
        prev = c->size;
    }
    printf("],\"served\":%" PRIu64 ",\"share\":%.6f,\"above_largest\":%" PRIu64
           ",\"in_barriers\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"smaller_budgets\":[",
           cf->served, t->requests ? (double)cf->served / (double)t->requests : 0.0,
           t->above, t->in_barriers, cf->bytes);
    for (unsigned k = 0; k < t->ntrade; k++)
        printf("%s{\"budget\":%" PRIu64 ",\"served\":%" PRIu64 ",\"bytes\":%" PRIu64 "}",
               k ? "," : "", t->trade[k].budget, t->trade[k].served,
               t->trade[k].bytes);
    printf("],\"classes_line\":\"%s\"}\n", line);
}

/* ---- options ---- */

static void usage(FILE *to)
{
    fputs("Usage: poolshim-recommend [OPTIONS] FILE...\n"
          "\n"
          "Read POOLSHIM_PROFILE files (\"-\": standard input), merge them, and\n"
          "recommend the POOLSHIM_CLASSES that serve the largest share of the\n"
          "requests within the memory budget.\n"
          "\n"
          "Options:\n"
          "  --budget SIZE       pool memory allowed, bytes with an optional k, M\n"
          "                      or G suffix (default: $POOLSHIM_BUDGET, else 64M)\n"
          "  --headroom PERCENT  objects added to each class's peak, 0..1000\n"
          "                      (default 10)\n"
          "  --max-classes N     at most N classes, 1..32 (default 32)\n"
          "  --json              one JSON object instead of the report\n"
          "  -h, --help          show this help and exit\n"
          "  --version           print the version and exit\n"
          "\n"
          "The report's last line is POOLSHIM_CLASSES=SIZE:COUNT,... .\n"
          "Exit status: 0, or 2 with one line on stderr for any error.\n",
          to);
}

/* SIZE: digits with an optional k/M/G suffix (either case), above 0. */
static bool parse_size(const char *s, uint64_t *out)
{
    char buf[32];
    size_t n = strlen(s);
    unsigned shift = 0;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n + 1);
    switch (buf[n - 1]) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    }
    if (shift != 0)
        buf[n - 1] = '\0';
    uint64_t v;
    if (!parse_u64(buf, &v) || v == 0 || v > (UINT64_MAX >> shift))
        return false;
    *out = v << shift;
    return true;
}

static bool parse_range(const char *s, uint64_t lo, uint64_t hi, unsigned *out)
{
    uint64_t v;
    if (!parse_u64(s, &v) || v < lo || v > hi)
        return false;
    *out = (unsigned)v;
    return true;
}

int main(int argc, char **argv)
{
    struct params pp = {BUDGET_DEFAULT, HEADROOM_DEFAULT, POOL_CLASSES_MAX};
    bool json = false, budget_given = false;
    int i = 1;
    for (; i < argc; i++) {
        const char *o = argv[i], *v = NULL;
        if (strcmp(o, "--") == 0) {
            i++;
            break;
        }
        if (o[0] != '-' || strcmp(o, "-") == 0)
            break;
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(o, "--version") == 0) {
            puts(PROG " " POOL_VERSION_STRING);
            return 0;
        }
        if (strcmp(o, "--json") == 0) {
            json = true;
            continue;
        }
        const char *names[] = {"--budget", "--headroom", "--max-classes"};
        unsigned which = 3;
        for (unsigned k = 0; k < 3; k++) {
            size_t len = strlen(names[k]);
            if (strncmp(o, names[k], len) == 0 && (o[len] == '\0' || o[len] == '=')) {
                which = k;
                v = o[len] == '=' ? o + len + 1 : NULL;
            }
        }
        if (which == 3)
            die("unknown option %s (see --help)", o);
        if (v == NULL) {
            if (i + 1 >= argc)
                die("%s needs a value (see --help)", o);
            v = argv[++i];
        }
        if (which == 0) {
            if (!parse_size(v, &pp.budget))
                die("--budget \"%s\": expected a size in bytes above 0 with an "
                    "optional k, M or G suffix, e.g. 64M", v);
            budget_given = true;
        } else if (which == 1) {
            if (!parse_range(v, 0, HEADROOM_MAX, &pp.headroom))
                die("--headroom \"%s\": expected a whole percentage from 0 to %d",
                    v, HEADROOM_MAX);
        } else if (!parse_range(v, 1, POOL_CLASSES_MAX, &pp.max_classes)) {
            die("--max-classes \"%s\": expected a number from 1 to %d", v,
                POOL_CLASSES_MAX);
        }
    }
    if (i >= argc)
        die("no profile file given (usage: " PROG " [OPTIONS] FILE...)");
    const char *env = getenv("POOLSHIM_BUDGET");
    if (!budget_given && env != NULL && !parse_size(env, &pp.budget))
        die("POOLSHIM_BUDGET=\"%s\": expected a size in bytes above 0 with an "
            "optional k, M or G suffix, e.g. 64M", env);

    static struct profile pf;
    for (; i < argc; i++)
        read_file(&pf, argv[i]);

    struct totals t = {.requests = pf.larger};
    static struct atom atoms[BUCKETS];
    unsigned n = 0;
    for (unsigned b = 1; b < BUCKETS; b++) {
        if (pf.requests[b] == 0)
            continue;
        atoms[n++] = (struct atom){b * 16, b * 16, pf.requests[b], pf.peak[b]};
        t.requests = add_or_die(t.requests, pf.requests[b], "profile", 0);
    }
    if (n == 0)
        die("no request of 1 MiB or less in the profile: nothing for the pools "
            "to serve");
    n = coarsen(atoms, n, ATOMS_MAX);

    struct config cf;
    recommend(atoms, n, &pp, 32, &cf);
    if (cf.served == 0) {
        char h[32];
        uint64_t need = cheapest(atoms, n, &pp);
        die("budget %" PRIu64 " bytes too small: the cheapest class that serves "
            "any request needs %" PRIu64 " bytes (%s)", pp.budget, need,
            human(need, h, sizeof h));
    }
    for (unsigned k = 0; k < cf.n; k++)
        if (cf.c[k].barrier)
            t.in_barriers += cf.c[k].requests;
    t.above = t.requests - pf.larger - cf.served - t.in_barriers;
    uint64_t floor = cheapest(atoms, n, &pp);
    for (unsigned k = 1; k <= TRADEOFFS; k++) {
        struct params small = pp;
        small.budget = pp.budget >> (2 * k);
        if (small.budget < floor)
            break;
        struct config alt;
        recommend(atoms, n, &small, 16, &alt);
        t.trade[t.ntrade].budget = small.budget;
        t.trade[t.ntrade].served = alt.served;
        t.trade[t.ntrade].bytes = alt.bytes;
        t.ntrade++;
    }

    static char line[POOL_CLASSES_MAX * 40];
    classes_line(&cf, line, sizeof line);
    if (json)
        print_json(&pf, &pp, &cf, &t, line);
    else
        print_text(&pf, &pp, &cf, &t, line);
    if (fflush(stdout) != 0)
        die("cannot write the report: %s", strerror(errno));
    return 0;
}
