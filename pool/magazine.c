/* magazine.c - the thread caches and the depots behind them (Bonwick and
 * Adams' magazines, USENIX 2001); see classes_internal.h for the layout.
 *
 * A cache holds, per class, a loaded magazine (the fast paths pop from and
 * push onto it) and a previous one that is either full or empty. When the
 * loaded magazine runs empty (get) or full (put), the slow path first swaps
 * it with the previous one when that helps, and only then trades with the
 * depot: a full magazine for an empty one (get), or an empty one for a full
 * one (put). A magazine changes hands by its id (one compare-and-swap on a
 * lock-free stack), never by copying. So after each trade a thread has a
 * magazine's worth of slack both ways, and a random walk of gets and puts
 * reaches the depot only after a net `rounds` of either. A swap, which that
 * walk needs each time it crosses the edge between the two magazines, has a
 * path of its own (pool_swap_get, pool_swap_put) that skips the rest. When
 * the depot has nothing, a cache takes never-used objects from the frontier
 * a page's worth at a time (fill_new).
 *
 * fork: another thread may have been anywhere in these paths when the
 * process forked; the child takes back what that thread's cache holds (see
 * pool_classes_fork_child). Every multi-step change here therefore removes a
 * magazine or object from where it was before adding it where it goes, with
 * compiler barriers in between, so that the child may lose one (its capacity
 * shrinks) but can never see one in two places (and hand it out twice).
 */
#include "pool/classes_internal.h"

#include <errno.h>
#include <string.h>

#include "pool/mem.h"

#define NONE UINT32_MAX
#define ROUNDS_MAX 256 /* rounds_for()'s largest */

static inline void ordered(void)
{
    atomic_signal_fence(memory_order_seq_cst);
}

static uint32_t obj_index(const struct pool_class *k, const void *p)
{
    uint64_t off = (uint64_t)((const char *)p - k->base);
    return (uint32_t)(((unsigned __int128)k->magic * off) >> 64);
}

static void *obj_at(const struct pool_class *k, uint32_t idx)
{
    return k->base + (size_t)idx * k->stride;
}

static void **rounds_of(const struct pool_class *k, uint32_t m)
{
    return k->mag + (size_t)m * k->rounds;
}

/* ---- the depot ---- */

uint32_t pool_depot_objects_(const struct pool_class *k)
{
    uint32_t fresh = k->count - atomic_load_explicit(&k->frontier, memory_order_relaxed);
    return fresh + depot_free(&k->loose) + k->rounds * depot_free(&k->full);
}

static void note_peak(struct pool_class *k)
{
    uint32_t out = k->count - pool_depot_objects_(k);
    uint32_t peak = atomic_load_explicit(&k->peak_out, memory_order_relaxed);
    while (out > peak &&
           !atomic_compare_exchange_weak_explicit(&k->peak_out, &peak, out,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

/* *limit raised to want, unless another thread raised it further. */
static void grow_to(uint64_t *limit, uint64_t want)
{
    uint64_t had = __atomic_load_n(limit, __ATOMIC_RELAXED);
    while (had < want && !__atomic_compare_exchange_n(limit, &had, want, true,
                                                      __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
}

/* The class's limits, which free checks, up to object f (a frontier that a
 * take just moved): the offset of f from the set's base, and that times the
 * class's magic. */
static void grow_limit(struct pool_classes *s, const struct pool_class *k, uint32_t f)
{
    size_t i = (size_t)(k - s->cls);
    uint64_t want = (uint64_t)(k->base - s->base) + (uint64_t)f * k->stride;
    grow_to(&s->limit[i], want);
    grow_to(&s->mlimit[i], want * k->magic); /* grows with want: classes_internal.h */
}

/* Move the frontier past up to `want` objects: at least one, and only those
 * whose start lies on the page of the first (so that no page is touched
 * before a program would touch it), and at most an eighth of those left (so
 * that a cache that takes more than it needs leaves most of a small class to
 * the other threads). Their first index in *first, how many as the result,
 * 0 when none is left. */
static uint32_t take_new_run(struct pool_classes *s, struct pool_class *k, uint32_t want,
                             uint32_t *first)
{
    size_t page = mem_page_size();
    uint32_t f = atomic_load_explicit(&k->frontier, memory_order_relaxed), n;
    do {
        if (f == k->count)
            return 0;
        uintptr_t at = (uintptr_t)obj_at(k, f), end = (at & ~(page - 1)) + page;
        n = (uint32_t)((end - at + k->stride - 1) / k->stride);
        uint32_t share = (k->count - f) / 8;
        n = n < want ? n : want;
        n = n < share ? n : share > 0 ? share : 1;
    } while (!atomic_compare_exchange_weak_explicit(&k->frontier, &f, f + n,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    grow_limit(s, k, f + n);
    *first = f;
    return n;
}

/* The index of an object never handed out, from the frontier, or
 * UINT32_MAX when there is none left: for the caller itself. */
static uint32_t take_new(struct pool_classes *s, struct pool_class *k)
{
    uint32_t f;
    return take_new_run(s, k, 1, &f) == 1 ? f : UINT32_MAX;
}

/* Up to want never-used objects into r, for a magazine: free objects from
 * now on, so their keys are written (a free of one of them, which the
 * program never got, is then a double free, as it is for any free object). */
static uint32_t fill_new(struct pool_classes *s, struct pool_class *k, void **r, uint32_t want)
{
    uint32_t f, n = take_new_run(s, k, want, &f);
    for (uint32_t i = 0; i < n; i++) { /* the lowest on top: handed out in order */
        r[i] = obj_at(k, f + n - 1 - i);
        *(uint64_t *)r[i] = s->key;
    }
    return n;
}

/* An empty magazine: from the empty stack, else one never used; NONE when
 * every magazine is somewhere else. */
static uint32_t mag_get_empty(struct pool_class *k)
{
    uint32_t m;
    if (depot_pop(&k->empty, &m, 1) == 1)
        return m;
    uint32_t b = atomic_load_explicit(&k->mags_born, memory_order_relaxed);
    while (b < k->nmags)
        if (atomic_compare_exchange_weak_explicit(&k->mags_born, &b, b + 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
            return b;
    return NONE;
}

/* The objects r[0 .. n) go back one by one. */
static void spill(struct pool_class *k, void *const *r, uint32_t n)
{
    uint32_t idx[ROUNDS_MAX];
    for (uint32_t i = 0; i < n; i++)
        idx[i] = obj_index(k, r[i]);
    if (n != 0)
        depot_push(&k->loose, idx, n);
}

/* Up to want loose free objects into r. */
static uint32_t fill(struct pool_class *k, void **r, uint32_t want)
{
    uint32_t idx[ROUNDS_MAX];
    uint32_t n = depot_pop(&k->loose, idx, want);
    for (uint32_t i = 0; i < n; i++)
        r[i] = obj_at(k, idx[i]);
    return n;
}

/* Magazine m, holding n objects, goes to the depot: full or emptied. */
static void give_back(struct pool_class *k, uint32_t m, uint32_t n)
{
    if (n == k->rounds) {
        depot_push(&k->full, &m, 1);
        return;
    }
    spill(k, rounds_of(k, m), n);
    depot_push(&k->empty, &m, 1);
}

/* ---- a cache's two magazines ---- */

/* Stop using the loaded magazine; returns its id. The id is cleared first
 * and set last by load(): a cache whose cur is set has valid pointers. */
static uint32_t unload(struct pool_cache *c, unsigned v)
{
    uint32_t m = c->mags[v].cur - 1;
    c->mags[v].cur = 0;
    ordered();
    c->sp[v] = c->lo[v] = c->hi[v] = NULL;
    return m;
}

/* Load the magazine m, whose rounds are r (`rounds` of them), holding n. */
static void load_at(struct pool_cache *c, unsigned v, void **r, uint32_t rounds,
                    uint32_t m, uint32_t n)
{
    c->lo[v] = r;
    c->hi[v] = r + rounds;
    c->sp[v] = r + n;
    c->mags[v].rounds = rounds;
    ordered();
    c->mags[v].cur = m + 1;
}

static void load(struct pool_cache *c, unsigned v, const struct pool_class *k,
                 uint32_t m, uint32_t n)
{
    load_at(c, v, rounds_of(k, m), k->rounds, m, n);
}

static uint32_t held(const struct pool_cache *c, unsigned v)
{
    return c->mags[v].cur ? (uint32_t)(c->sp[v] - c->lo[v]) : 0;
}

/* Set the previous magazine (id m, whose rounds are r; or NONE), full or
 * empty. */
static void set_prev(struct pool_cache *c, unsigned v, uint32_t m, void **r, bool full)
{
    c->mags[v].prev_full = full;
    c->mags[v].prev_lo = m == NONE ? NULL : r;
    ordered();
    c->mags[v].prev = m == NONE ? 0 : m + 1;
}

/* Make the previous magazine the loaded one and the other way round. All
 * it needs is in the cache's own record of the class (not the class). */
static void swap(struct pool_cache *c, unsigned v, const struct pool_class *k)
{
    struct pool_cache_mags *g = &c->mags[v];
    (void)k;
    POOL_ASSERT(g->rounds == k->rounds && g->prev_lo == rounds_of(k, g->prev - 1));
    uint32_t rounds = g->rounds, prev = g->prev - 1, n = g->prev_full ? rounds : 0;
    void **prev_lo = g->prev_lo, **lo = c->lo[v];
    uint32_t had = held(c, v), cur = g->cur ? unload(c, v) : NONE;
    g->prev = 0;
    ordered();
    load_at(c, v, prev_lo, rounds, prev, n);
    set_prev(c, v, cur, lo, cur != NONE && had == rounds);
}

/* ---- the swaps alone ---- */

bool pool_swap_get(struct pool_cache *c, unsigned v, void **p)
{
    if (c->mags[v].prev == 0 || !c->mags[v].prev_full)
        return false; /* (a cache not attached has no previous magazine) */
    POOL_ASSERT(c->set != NULL && v >= 1 && v <= c->set->nclasses);
    swap(c, v, &c->set->cls[v - 1]);
    return pool_fast_get(c->set, c, v, p);
}

bool pool_swap_put(const struct pool_classes *s, struct pool_cache *c, void *p, unsigned v)
{
    if (c->mags[v].prev == 0 || c->mags[v].prev_full)
        return false;
    POOL_ASSERT(c->set == s && v >= 1 && v <= s->nclasses);
    swap(c, v, &s->cls[v - 1]);
    *(uint64_t *)p = s->key;
    *c->sp[v] = p;
    ordered(); /* p in place before the stack grows over it (fork) */
    c->sp[v]++;
    return true;
}

/* ---- get ---- */

static void *take_loaded(const struct pool_classes *s, struct pool_cache *c,
                         unsigned v)
{
    void *p = NULL;
    pool_fast_get(s, c, v, &p);
    return p;
}

/* The loaded magazine is empty (or missing). */
static void *get_cached(struct pool_classes *s, struct pool_cache *c,
                        unsigned v, struct pool_class *k)
{
    void *p;
    if (held(c, v) != 0)
        return take_loaded(s, c, v);
    if (pool_swap_get(c, v, &p))
        return p;
    uint32_t m;
    /* what note_peak will read, on its way while the pop's lines come */
    __builtin_prefetch(&k->frontier);
    __builtin_prefetch(&k->loose);
    if (depot_pop(&k->full, &m, 1) == 1) {
        c->mags[v].exchanges++;
        void **old_lo = c->lo[v];
        uint32_t old = c->mags[v].cur ? unload(c, v) : NONE;
        load(c, v, k, m, k->rounds);
        if (old != NONE && c->mags[v].prev == 0)
            set_prev(c, v, old, old_lo, false);
        else if (old != NONE)
            depot_push(&k->empty, &old, 1);
        note_peak(k);
        return take_loaded(s, c, v);
    }
    /* No full magazine in the depot: fill one from the loose objects, else
     * from the frontier. */
    if (c->mags[v].cur == 0) {
        if (c->mags[v].prev != 0) {
            swap(c, v, k); /* the previous one is empty */
        } else {
            uint32_t e = mag_get_empty(k);
            if (e == NONE)
                return NULL; /* every magazine elsewhere: go uncached */
            load(c, v, k, e, 0);
        }
    }
    uint32_t n = fill(k, c->lo[v], k->rounds);
    if (n == 0)
        n = fill_new(s, k, c->lo[v], k->rounds);
    if (n == 0)
        return NULL;
    c->mags[v].exchanges++;
    c->sp[v] = c->lo[v] + n;
    note_peak(k);
    return take_loaded(s, c, v);
}

/* One object from a full magazine of the depot, whose others go loose. */
static bool take_from_full(struct pool_class *k, uint32_t *idx)
{
    uint32_t m;
    if (k->rounds == 0 || depot_pop(&k->full, &m, 1) != 1)
        return false;
    void **r = rounds_of(k, m);
    *idx = obj_index(k, r[0]);
    spill(k, r + 1, k->rounds - 1);
    depot_push(&k->empty, &m, 1);
    return true;
}

static void check_poison(const struct pool_classes *s,
                         const struct pool_class *k, const unsigned char *p)
{
    for (size_t i = 0; i < k->stride; i++)
        if (p[i] != POOL_POISON) {
            char detail[96] = "the object was written after it was freed (byte ";
            size_t len = strlen(detail), d = 1;
            for (size_t x = i; x >= 10; x /= 10)
                d++;
            for (size_t x = i, j = d; j > 0; x /= 10, j--)
                detail[len + j - 1] = (char)('0' + x % 10);
            memcpy(detail + len + d, " changed)", 10);
            pool_die(s, "write after free", p, detail);
        }
}

static void *get_uncached(struct pool_classes *s, struct pool_class *k)
{
    uint32_t idx;
    if (depot_pop(&k->loose, &idx, 1) != 1 && !take_from_full(k, &idx) &&
        (idx = take_new(s, k)) == UINT32_MAX)
        return NULL;
    note_peak(k);
    void *p = obj_at(k, idx);
    if (k->state != NULL) {
        check_poison(s, k, p);
        __atomic_store_n(&k->state[idx], 1, __ATOMIC_RELAXED);
    } else {
        *(uint64_t *)p = 0; /* the key */
    }
    return p;
}

void *pool_get_slow(struct pool_classes *s, struct pool_cache *c, unsigned v)
{
    POOL_ASSERT(v >= 1 && v <= s->nclasses);
    POOL_ASSERT(c == NULL || c->set == s);
    struct pool_class *k = &s->cls[v - 1];
    void *p = NULL;
    if (c != NULL && k->rounds != 0)
        p = get_cached(s, c, v, k);
    if (p == NULL)
        p = get_uncached(s, k);
    if (p != NULL)
        return p;
    if (c != NULL)
        c->mags[v].misses++;
    else
        atomic_fetch_add_explicit(&k->misses, 1, memory_order_relaxed);
    return NULL;
}

/* ---- put ---- */

/* The loaded magazine is full (or missing) and no empty one is to be had:
 * one full magazine's objects go loose, and it serves as the empty one. */
static bool make_room(struct pool_cache *c, unsigned v, struct pool_class *k)
{
    if (c->mags[v].prev != 0 && c->mags[v].prev_full) {
        uint32_t m = c->mags[v].prev - 1;
        c->mags[v].prev = 0;
        ordered();
        spill(k, rounds_of(k, m), k->rounds);
        set_prev(c, v, m, rounds_of(k, m), false);
        swap(c, v, k);
        return true;
    }
    if (c->mags[v].cur != 0) {
        uint32_t m = unload(c, v);
        spill(k, rounds_of(k, m), k->rounds);
        load(c, v, k, m, 0);
        return true;
    }
    return false;
}

/* The loaded magazine is full (or missing): make room, then push p. */
static void put_cached(struct pool_cache *c, unsigned v, struct pool_class *k,
                       void *p)
{
    if (c->mags[v].cur != 0 && c->sp[v] != c->hi[v])
        goto push;
    if (c->mags[v].prev != 0 && !c->mags[v].prev_full) {
        swap(c, v, k);
        goto push;
    }
    c->mags[v].exchanges++;
    uint32_t m = mag_get_empty(k);
    if (m == NONE) {
        if (!make_room(c, v, k)) {
            spill(k, &p, 1);
            return;
        }
        goto push;
    }
    if (c->mags[v].prev != 0) { /* full: to the depot */
        uint32_t old = c->mags[v].prev - 1;
        c->mags[v].prev = 0;
        ordered();
        depot_push(&k->full, &old, 1);
    }
    void **cur_lo = c->lo[v];
    uint32_t cur = c->mags[v].cur ? unload(c, v) : NONE;
    load(c, v, k, m, 0);
    if (cur != NONE)
        set_prev(c, v, cur, cur_lo, true);
push:
    *c->sp[v] = p;
    c->sp[v]++;
}

int pool_put_slow(struct pool_classes *s, struct pool_cache *c, void *p)
{
    POOL_ASSERT(c == NULL || c->set == s);
    int w = pool_which(s, p);
    if (w <= 0)
        return w;
    unsigned v = (unsigned)w;
    struct pool_class *k = &s->cls[v - 1];
    if (k->state != NULL) {
        /* an exchange: of two frees of p racing here only one wins */
        if (__atomic_exchange_n(&k->state[obj_index(k, p)], 0, __ATOMIC_RELAXED) == 0)
            return POOL_FREED;
        memset(p, POOL_POISON, k->stride);
    } else {
        *(uint64_t *)p = s->key;
    }
    if (c != NULL && k->rounds != 0) {
        put_cached(c, v, k, p);
    } else {
        uint32_t idx = obj_index(k, p);
        depot_push(&k->loose, &idx, 1);
    }
    return w;
}

/* ---- attaching and detaching caches ---- */

struct pool_cache *pool_cache_create(void)
{
    size_t bytes = mem_round_up(sizeof(struct pool_cache), mem_page_size());
    struct pool_cache *c = mem_reserve(bytes, 0);
    if (c == NULL)
        return NULL;
    if (mem_commit(c, bytes) != 0) {
        mem_release(c, bytes);
        errno = ENOMEM;
        return NULL;
    }
    c->heap = true;
    return c;
}

void pool_cache_destroy(struct pool_cache *c)
{
    if (c == NULL)
        return;
    if (c->set != NULL)
        pool_classes_cache_detach(c->set, c);
    mem_release(c, sizeof *c);
}

void pool_cache_forget_(struct pool_cache *c)
{
    bool heap = c->heap;
    memset(c, 0, sizeof *c);
    c->heap = heap;
}

void pool_classes_cache_attach(struct pool_classes *s, struct pool_cache *c)
{
    if (c->set != NULL)
        return; /* attached here already, or to another set */
    pool_cache_forget_(c);
    pthread_mutex_lock(&s->lock);
    c->prev_cache = NULL;
    c->next_cache = s->caches;
    if (s->caches != NULL)
        s->caches->prev_cache = c;
    s->caches = c;
    c->set = s;
    pthread_mutex_unlock(&s->lock);
}

/* Return everything c holds to the depots and fold its figures into the
 * set's; the caller holds the lock or is alone. */
static void drain(struct pool_classes *s, struct pool_cache *c)
{
    for (unsigned v = 1; v <= s->nclasses; v++) {
        struct pool_class *k = &s->cls[v - 1];
        if (c->mags[v].cur != 0) {
            uint32_t n = held(c, v), m = unload(c, v);
            ordered();
            give_back(k, m, n);
        }
        if (c->mags[v].prev != 0) {
            uint32_t m = c->mags[v].prev - 1, n = c->mags[v].prev_full ? k->rounds : 0;
            c->mags[v].prev = 0;
            ordered();
            give_back(k, m, n);
        }
        atomic_fetch_add_explicit(&k->misses, c->mags[v].misses, memory_order_relaxed);
        atomic_fetch_add_explicit(&k->exchanges, c->mags[v].exchanges, memory_order_relaxed);
        c->mags[v].misses = c->mags[v].exchanges = 0;
    }
}

static void unlink_cache(struct pool_classes *s, struct pool_cache *c)
{
    if (c->prev_cache != NULL)
        c->prev_cache->next_cache = c->next_cache;
    else
        s->caches = c->next_cache;
    if (c->next_cache != NULL)
        c->next_cache->prev_cache = c->prev_cache;
    c->prev_cache = c->next_cache = NULL;
    c->set = NULL;
}

void pool_classes_cache_detach(struct pool_classes *s, struct pool_cache *c)
{
    if (c->set != s)
        return;
    POOL_ASSERT(pool_cache_check_(s, c));
    pthread_mutex_lock(&s->lock);
    drain(s, c);
    unlink_cache(s, c);
    pthread_mutex_unlock(&s->lock);
}

/* ---- fork ---- */

void pool_classes_fork_prepare(struct pool_classes *s)
{
    pthread_mutex_lock(&s->lock);
}

void pool_classes_fork_parent(struct pool_classes *s)
{
    pthread_mutex_unlock(&s->lock);
}

void pool_classes_fork_child(struct pool_classes *s, struct pool_cache *self)
{
    pthread_mutex_init(&s->lock, NULL);
    bool others = false;
    for (struct pool_cache *c = s->caches, *next; c != NULL; c = next) {
        next = c->next_cache;
        if (c != self) {
            drain(s, c);
            unlink_cache(s, c);
            others = true;
        }
    }
    s->forked = true;
    for (unsigned v = 1; v <= s->nclasses; v++) {
        struct pool_class *k = &s->cls[v - 1];
        if (others) { /* their counters may be one op ahead of a stack; ours,
                         if we forked from a signal handler, catch up when
                         the interrupted call goes on */
            depot_recount(&k->loose);
            depot_recount(&k->full);
            depot_recount(&k->empty);
        }
        uint32_t out = k->count - pool_depot_objects_(k);
        if (self != NULL && self->set == s)
            self->mags[v].misses = self->mags[v].exchanges = 0;
        atomic_store_explicit(&k->misses, 0, memory_order_relaxed);
        atomic_store_explicit(&k->exchanges, 0, memory_order_relaxed);
        atomic_store_explicit(&k->peak_out, out, memory_order_relaxed);
    }
    POOL_ASSERT(pool_classes_check(s)); /* the child is alone: quiescent */
}
