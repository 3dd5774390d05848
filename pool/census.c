/* census.c - what a set of size classes holds: its figures, and the walk
 * that checks its invariants (classes_internal.h states them).
 */
#include "pool/classes_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool/mem.h"

/* Free objects a cache holds in class v. Read by another thread than the
 * cache's: a figure, exact only when the owner is not in a get or put. */
static uint32_t cached(const struct pool_cache *c, unsigned v, uint32_t rounds)
{
    uint32_t n = 0;
    if (__atomic_load_n(&c->mags[v].cur, __ATOMIC_RELAXED) != 0)
        n += (uint32_t)(__atomic_load_n(&c->sp[v], __ATOMIC_RELAXED) -
                        __atomic_load_n(&c->lo[v], __ATOMIC_RELAXED));
    if (__atomic_load_n(&c->mags[v].prev, __ATOMIC_RELAXED) != 0 &&
        __atomic_load_n(&c->mags[v].prev_full, __ATOMIC_RELAXED))
        n += rounds;
    return n;
}

static void stats_locked(struct pool_classes *s, unsigned i,
                         struct pool_class_stats *out)
{
    struct pool_class *k = &s->cls[i];
    unsigned v = i + 1;
    uint64_t misses = atomic_load_explicit(&k->misses, memory_order_relaxed);
    uint64_t exchanges = atomic_load_explicit(&k->exchanges, memory_order_relaxed);
    size_t available = pool_depot_objects_(k);
    for (struct pool_cache *c = s->caches; c != NULL; c = c->next_cache) {
        available += cached(c, v, k->rounds);
        misses += __atomic_load_n(&c->mags[v].misses, __ATOMIC_RELAXED);
        exchanges += __atomic_load_n(&c->mags[v].exchanges, __ATOMIC_RELAXED);
    }
    out->size = k->size;
    out->stride = k->stride;
    out->align = k->align;
    out->capacity = k->count;
    out->available = available < k->count ? available : k->count; /* a put in flight */
    out->in_use = out->capacity - out->available;
    out->peak_out = atomic_load_explicit(&k->peak_out, memory_order_relaxed);
    out->rounds = k->rounds;
    out->misses = misses;
    out->exchanges = exchanges;
}

void pool_classes_stats(struct pool_classes *s, int cls,
                        struct pool_class_stats *out)
{
    pthread_mutex_lock(&s->lock);
    stats_locked(s, (unsigned)cls, out);
    pthread_mutex_unlock(&s->lock);
}

int pool_classes_snapshot(struct pool_classes *s, struct pool_class_stats *out,
                          bool wait)
{
    if (!wait) {
        if (pthread_mutex_trylock(&s->lock) != 0) {
            errno = EBUSY;
            return -1;
        }
    } else {
        pthread_mutex_lock(&s->lock);
    }
    for (unsigned i = 0; i < s->nclasses; i++)
        stats_locked(s, i, &out[i]);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

size_t pool_classes_available(struct pool_classes *s, int cls)
{
    struct pool_class_stats st;
    pool_classes_stats(s, cls, &st);
    return st.available;
}

/* ---- the integrity walk ---- */

/* Scratch marks, one byte per object and per magazine of a class. */
struct walk {
    const struct pool_classes *s;
    const struct pool_class *k;
    unsigned v;
    uint8_t *obj, *mag;
    size_t bytes;
    uint32_t free;   /* free objects found */
    bool lost_ok;    /* in a fork's child: objects and magazines that a
                        thread had in hand at the fork are lost, not wrong */
};

/* Mark the free object p; false when it is not one of the class's, was
 * never handed out, or is marked already. */
static bool mark_object(struct walk *w, const void *p)
{
    if (pool_classes_owner(w->s, p) != (int)w->v - 1)
        return false;
    uint32_t i = (uint32_t)(((const char *)p - w->k->base) / w->k->stride);
    if (i >= atomic_load(&w->k->frontier) || w->obj[i])
        return false;
    w->obj[i] = 1;
    w->free++;
    return true;
}

static bool mark_rounds(struct walk *w, uint32_t m, uint32_t n)
{
    void **r = w->k->mag + (size_t)m * w->k->rounds;
    for (uint32_t j = 0; j < n; j++)
        if (!mark_object(w, r[j]))
            return false;
    return true;
}

static bool mark_mag(struct walk *w, uint32_t m)
{
    if (m >= atomic_load(&w->k->mags_born) || w->mag[m])
        return false;
    w->mag[m] = 1;
    return true;
}

/* Walk a depot's stack, calling each(w, x) on every entry; true when every
 * call is, and the stack holds as many entries as its counter says. */
static bool walk_depot(struct walk *w, const struct depot *d,
                       bool (*each)(struct walk *, uint32_t))
{
    uint32_t walked = 0;
    uint32_t x = (uint32_t)atomic_load(&d->head);
    for (; x != DEPOT_NIL; walked++) {
        if (x >= d->count || walked > d->count || !each(w, x))
            return false;
        x = atomic_load_explicit(&d->next[x], memory_order_relaxed);
    }
    /* in a fork's child a push or pop may have been cut between its count
     * and its compare-and-swap: the counter is then ahead */
    return walked == depot_free(d) || (w->lost_ok && walked < depot_free(d));
}

static bool each_loose(struct walk *w, uint32_t x)
{
    return mark_object(w, w->k->base + (size_t)x * w->k->stride);
}

static bool each_full(struct walk *w, uint32_t m)
{
    return mark_mag(w, m) && mark_rounds(w, m, w->k->rounds);
}

static bool each_empty(struct walk *w, uint32_t m)
{
    return mark_mag(w, m);
}

static bool walk_cache(struct walk *w, const struct pool_cache *c)
{
    unsigned v = w->v;
    const struct pool_class *k = w->k;
    if (c->mags[v].cur != 0) {
        uint32_t m = c->mags[v].cur - 1;
        void **r = k->mag + (size_t)m * k->rounds;
        if (c->lo[v] != r || c->hi[v] != r + k->rounds || c->sp[v] < c->lo[v] ||
            c->sp[v] > c->hi[v] || !mark_mag(w, m) ||
            !mark_rounds(w, m, (uint32_t)(c->sp[v] - c->lo[v])))
            return false;
    } else if ((c->sp[v] != NULL || c->lo[v] != NULL || c->hi[v] != NULL) && !w->lost_ok) {
        return false; /* a child's own thread may have forked from a signal
                         handler halfway through loading a magazine */
    }
    if (c->mags[v].prev != 0 && (!mark_mag(w, c->mags[v].prev - 1) ||
                            !mark_rounds(w, c->mags[v].prev - 1, c->mags[v].prev_full ? k->rounds : 0)))
        return false;
    return true;
}

/* Every object below the frontier is either marked free and holds the key
 * (CHECKED: its state byte is 0), or is handed out (CHECKED: state 1; else
 * its bytes are the program's). The limit the slow paths check is the
 * offset (from the set's base) of the frontier's object, the fast path's
 * mlimit that times magic. */
static bool check_states(struct walk *w)
{
    const struct pool_class *k = w->k;
    uint32_t frontier = atomic_load(&k->frontier);
    uint64_t limit = __atomic_load_n(&w->s->limit[w->v - 1], __ATOMIC_RELAXED) -
                     (uint64_t)(k->base - w->s->base);
    if (limit != (uint64_t)frontier * k->stride &&
        !(w->lost_ok && limit < (uint64_t)frontier * k->stride)) /* a take cut short */
        return false;
    uint64_t mlimit = __atomic_load_n(&w->s->mlimit[w->v - 1], __ATOMIC_RELAXED);
    uint64_t mwant = (limit + (uint64_t)(k->base - w->s->base)) * k->magic;
    if (mlimit != mwant && !(w->lost_ok && mlimit < mwant)) /* grown by half */
        return false;
    for (uint32_t i = 0; i < frontier; i++) {
        const char *p = k->base + (size_t)i * k->stride;
        if (k->state != NULL) {
            bool out = !w->obj[i];
            if (k->state[i] != out && !(out && k->state[i] == 0 && w->lost_ok))
                return false;
        } else if (w->obj[i] && *(const uint64_t *)p != w->s->key) {
            return false;
        }
    }
    return true;
}

static bool check_class(struct walk *w)
{
    const struct pool_class *k = w->k;
    uint32_t born = atomic_load(&k->mags_born), mags = 0;
    if (!walk_depot(w, &k->loose, each_loose) || !walk_depot(w, &k->full, each_full) ||
        !walk_depot(w, &k->empty, each_empty))
        return false;
    for (const struct pool_cache *c = w->s->caches; c != NULL; c = c->next_cache)
        if (!walk_cache(w, c))
            return false;
    for (uint32_t m = 0; m < born; m++)
        mags += w->mag[m];
    /* With the counts of the stacks checked by walk_depot, and each object
     * found at most once, this partitions the class: fresh + free + handed
     * out == count. */
    return (mags == born || (w->lost_ok && mags < born)) && born <= k->nmags &&
           check_states(w);
}

static bool check_set(struct pool_classes *s, bool lost_ok)
{
    bool ok = true;
    size_t page = mem_page_size();
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nclasses && ok; i++) {
        struct walk w = {.s = s, .k = &s->cls[i], .v = i + 1, .lost_ok = lost_ok};
        w.bytes = mem_round_up((size_t)w.k->count + w.k->nmags + 1, page);
        w.obj = mem_reserve(w.bytes, page);
        if (w.obj == NULL || mem_commit(w.obj, w.bytes) != 0) {
            mem_release(w.obj, w.bytes);
            ok = false;
            break;
        }
        w.mag = w.obj + w.k->count;
        ok = check_class(&w);
        mem_release(w.obj, w.bytes);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}

bool pool_classes_check(struct pool_classes *s)
{
    return check_set(s, s->forked);
}

/* ---- one cache ---- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static bool cache_class_ok(const struct pool_classes *s, const struct pool_cache *c,
                           unsigned v, void **seen)
{
    const struct pool_class *k = &s->cls[v - 1];
    uint32_t born = atomic_load(&k->mags_born), n = 0;
    if (c->mags[v].cur != 0) {
        void **r = k->mag + (size_t)(c->mags[v].cur - 1) * k->rounds;
        if (c->mags[v].cur > born || c->lo[v] != r || c->hi[v] != r + k->rounds ||
            c->sp[v] < c->lo[v] || c->sp[v] > c->hi[v] || c->mags[v].rounds != k->rounds)
            return false;
        for (void **q = c->lo[v]; q < c->sp[v]; q++)
            seen[n++] = *q;
    }
    if (c->mags[v].prev != 0) {
        if (c->mags[v].prev > born || c->mags[v].prev == c->mags[v].cur)
            return false;
        void **r = k->mag + (size_t)(c->mags[v].prev - 1) * k->rounds;
        if (c->mags[v].prev_lo != r || c->mags[v].rounds != k->rounds)
            return false; /* what a swap uses without the class */
        for (uint32_t j = 0; c->mags[v].prev_full && j < k->rounds; j++)
            seen[n++] = r[j];
    }
    qsort(seen, n, sizeof *seen, cmp_ptr);
    for (uint32_t j = 0; j < n; j++)
        if (pool_classes_owner(s, seen[j]) != (int)v - 1 ||
            (k->state == NULL && *(const uint64_t *)seen[j] != s->key) ||
            (j > 0 && seen[j] == seen[j - 1]))
            return false;
    return true;
}

bool pool_cache_check_(const struct pool_classes *s, const struct pool_cache *c)
{
    void *seen[2 * 256];
    if (c->sp[0] != NULL || c->lo[0] != NULL || c->hi[0] != NULL)
        return false;
    for (unsigned v = 1; v <= s->nclasses; v++)
        if (s->cls[v - 1].rounds > 256 || !cache_class_ok(s, c, v, seen))
            return false;
    return true;
}

/* ---- is an object free? ---- */

static bool in_rounds(void *const *r, uint32_t n, const void *p)
{
    for (uint32_t i = 0; i < n; i++)
        if (r[i] == p)
            return true;
    return false;
}

/* p on a depot stack: loose (indices of objects) or full (magazine ids).
 * Other threads may push and pop meanwhile: the walk is bounded, and a
 * stale link only ends it early. */
static bool on_stack(const struct pool_class *k, const struct depot *d, bool mags,
                     const void *p, uint32_t idx)
{
    uint32_t x = (uint32_t)atomic_load(&d->head);
    for (uint32_t n = 0; x < d->count && n <= d->count; n++) {
        if (mags ? in_rounds(k->mag + (size_t)x * k->rounds, k->rounds, p) : x == idx)
            return true;
        x = atomic_load_explicit(&d->next[x], memory_order_relaxed);
    }
    return false;
}

bool pool_object_is_free_(struct pool_classes *s, unsigned v, const void *p)
{
    const struct pool_class *k = &s->cls[v - 1];
    uint32_t idx = (uint32_t)(((unsigned __int128)k->magic *
                               (uint64_t)((const char *)p - k->base)) >> 64);
    if (idx >= atomic_load(&k->frontier))
        return true;
    bool found = on_stack(k, &k->loose, false, p, idx) || on_stack(k, &k->full, true, p, idx);
    pthread_mutex_lock(&s->lock);
    for (const struct pool_cache *c = s->caches; c != NULL && !found; c = c->next_cache) {
        if (__atomic_load_n(&c->mags[v].cur, __ATOMIC_RELAXED) != 0) {
            void **lo = __atomic_load_n(&c->lo[v], __ATOMIC_RELAXED);
            void **sp = __atomic_load_n(&c->sp[v], __ATOMIC_RELAXED);
            found = lo != NULL && sp >= lo && sp - lo <= k->rounds &&
                    in_rounds(lo, (uint32_t)(sp - lo), p);
        }
        uint32_t prev = __atomic_load_n(&c->mags[v].prev, __ATOMIC_RELAXED);
        if (prev != 0 && !found && __atomic_load_n(&c->mags[v].prev_full, __ATOMIC_RELAXED))
            found = in_rounds(k->mag + (size_t)(prev - 1) * k->rounds, k->rounds, p);
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}
