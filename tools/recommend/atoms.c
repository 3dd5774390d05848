/* atoms.c - the profile's buckets as atoms, the units the search works on.
 *
 * An atom is a run of neighbouring buckets that always share a class. At
 * first each bucket with requests is an atom. Profiles with more than
 * REC_ATOMS_MAX of them (the programs we tried have 70 to 400) are coarsened:
 * the neighbouring pair that costs the fewest extra bytes when served from
 * the upper atom's class is merged, until REC_ATOMS_MAX remain, which keeps
 * the search well under a second. The candidates wait in a min-heap ordered
 * by that cost; a merge changes the cost of the pair below it, so entries
 * carry a stamp of their atom and are dropped when stale.
 */
#include <stdlib.h>

#include "tools/recommend/recommend.h"

int rec_atoms(const struct rec_profile *pf, struct rec_atom *a, uint64_t *total)
{
    int n = 0;
    *total = pf->larger;
    for (unsigned b = 1; b < PROFILE_BUCKETS; b++) {
        if (pf->requests[b] == 0)
            continue;
        uint64_t size = (uint64_t)b * PROFILE_GRANULE;
        a[n++] = (struct rec_atom){size, size, pf->requests[b], pf->peak[b]};
        if (__builtin_add_overflow(*total, pf->requests[b], total))
            return -1;
    }
    return n;
}

/* A merge candidate: atom i and the next live atom above it. */
struct cand {
    double cost;
    unsigned i, stamp;
};

#define NONE ((unsigned)-1)

/* The atoms as a doubly linked list of the live ones, and the heap. */
struct merger {
    struct rec_atom *a;
    unsigned n;
    unsigned *next, *prev, *stamp; /* next[i] == n: the last atom */
    bool *dead;
    struct cand *h;
    unsigned hn, hcap;             /* hcap == 4n */
};

static void heap_push(struct merger *m, struct cand c)
{
    struct cand *h = m->h;
    unsigned k = m->hn++;
    while (k > 0 && h[(k - 1) / 2].cost > c.cost) {
        h[k] = h[(k - 1) / 2];
        k = (k - 1) / 2;
    }
    h[k] = c;
}

static struct cand heap_pop(struct merger *m)
{
    struct cand *h = m->h, top = h[0], last = h[--m->hn];
    unsigned k = 0, n = m->hn;
    for (;;) {
        unsigned c = 2 * k + 1;
        if (c >= n)
            break;
        if (c + 1 < n && h[c + 1].cost < h[c].cost)
            c++;
        if (h[c].cost >= last.cost)
            break;
        h[k] = h[c];
        k = c;
    }
    if (n > 0)
        h[k] = last;
    return top;
}

/* Bytes the pair (i, next[i]) costs more when i's buckets are served by
 * the class of the atom above. */
static void push_pair(struct merger *m, unsigned i)
{
    const struct rec_atom *a = m->a;
    double cost = (double)(a[m->next[i]].top - a[i].top) * (double)a[i].peak;
    heap_push(m, (struct cand){cost, i, m->stamp[i]});
}

/* Drop the stale entries when the heap nears its capacity. */
static void heap_compact(struct merger *m)
{
    if (m->hn + 4 <= m->hcap)
        return;
    unsigned k = 0;
    for (unsigned e = 0; e < m->hn; e++)
        if (!m->dead[m->h[e].i] && m->h[e].stamp == m->stamp[m->h[e].i])
            m->h[k++] = m->h[e];
    m->hn = 0;
    for (unsigned e = 0; e < k; e++)
        heap_push(m, m->h[e]);
}

/* Atom i (live, not the last) joins the atom above it. */
static void merge_up(struct merger *m, unsigned i)
{
    struct rec_atom *a = m->a;
    unsigned j = m->next[i], p = m->prev[i];
    a[j].requests += a[i].requests;
    a[j].peak += a[i].peak;
    a[j].bottom = a[i].bottom;
    m->dead[i] = true;
    m->prev[j] = p;
    if (p != NONE) {
        m->next[p] = j;
        m->stamp[p]++;
        push_pair(m, p);
    }
    m->stamp[j]++;
    if (m->next[j] < m->n)
        push_pair(m, j);
    heap_compact(m);
}

int rec_coarsen(struct rec_atom *a, unsigned n, unsigned max)
{
    if (n <= max)
        return (int)n;
    struct merger m = {.a = a, .n = n, .hcap = 4 * n};
    m.next = calloc(n, sizeof *m.next);
    m.prev = calloc(n, sizeof *m.prev);
    m.stamp = calloc(n, sizeof *m.stamp);
    m.dead = calloc(n, sizeof *m.dead);
    m.h = malloc(m.hcap * sizeof *m.h);
    int live = -1;
    if (m.next && m.prev && m.stamp && m.dead && m.h) {
        for (unsigned i = 0; i < n; i++) {
            m.next[i] = i + 1;
            m.prev[i] = i == 0 ? NONE : i - 1;
        }
        for (unsigned i = 0; i + 1 < n; i++)
            push_pair(&m, i);
        for (live = (int)n; (unsigned)live > max && m.hn > 0;) {
            struct cand c = heap_pop(&m);
            if (m.dead[c.i] || c.stamp != m.stamp[c.i] || m.next[c.i] >= n)
                continue;
            merge_up(&m, c.i);
            live--;
        }
        live = 0;
        for (unsigned i = 0; i < n; i++)
            if (!m.dead[i])
                a[live++] = a[i];
    }
    free(m.next);
    free(m.prev);
    free(m.stamp);
    free(m.dead);
    free(m.h);
    return live;
}
