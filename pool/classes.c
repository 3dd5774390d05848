/* classes.c - size-classed pools in one address range; see classes.h.
 *
 * Memory: the objects live in one reserved range, class i in the slice
 * [base + (i << shift), base + (i << shift) + bytes_i); the rest of each slice
 * stays inaccessible. A second mapping holds struct pool_classes, the size
 * lookup table, every class's depot links and (CHECKED) state bytes.
 *
 * Per class, whenever no get or put is in flight:
 *   depot.free + mag_size * mag_full.free
 *     + sum over attached caches of (sp - lo) + handed out == count
 */
#include "classes.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "report.h"

#define POISON 0xdb /* CHECKED: the byte free objects are filled with */

/* ---- helpers ---- */

static uint32_t obj_index(const struct pool_class *k, const void *ptr)
{
    uint64_t off = (uint64_t)((const char *)ptr - k->base);
    return (uint32_t)(((unsigned __int128)k->magic * off) >> 64);
}

static void *obj_at(const struct pool_class *k, uint32_t idx)
{
    return k->base + (size_t)idx * k->stride;
}

/* Free objects in the depot, loose and in magazines. */
static uint32_t depot_objects(const struct pool_class *k)
{
    return depot_free(&k->depot) + k->mag_size * depot_free(&k->mag_full);
}

/* Push n indices: a full magazine when n is one's size and an empty one is
 * at hand, else one by one. */
static void give_back(struct pool_class *k, const uint32_t *idx, uint32_t n)
{
    uint32_t m;
    if (n == k->mag_size && n != 0 && depot_pop(&k->mag_empty, &m, 1) == 1) {
        memcpy(&k->mag_slots[(size_t)m * n], idx, n * sizeof *idx);
        depot_push(&k->mag_full, &m, 1);
        return;
    }
    depot_push(&k->depot, idx, n);
}

/* Pop up to want indices (want >= mag_size: a whole magazine if there is
 * one, else one by one). */
static uint32_t take(struct pool_class *k, uint32_t *idx, uint32_t want)
{
    uint32_t m, n = k->mag_size;
    if (n != 0 && want >= n && depot_pop(&k->mag_full, &m, 1) == 1) {
        memcpy(idx, &k->mag_slots[(size_t)m * n], n * sizeof *idx);
        depot_push(&k->mag_empty, &m, 1);
        return n;
    }
    return depot_pop(&k->depot, idx, want);
}

/* Pop one index: a loose one, else one from a full magazine whose others
 * then go back loose. */
static uint32_t take_one(struct pool_class *k, uint32_t *idx)
{
    uint32_t batch[POOL_CACHE_SLOTS], n;
    if (depot_pop(&k->depot, idx, 1) == 1)
        return 1;
    if (k->mag_size == 0 || (n = take(k, batch, k->mag_size)) == 0)
        return 0;
    *idx = batch[0];
    if (n > 1)
        depot_push(&k->depot, batch + 1, n - 1);
    return 1;
}

static void note_peak(struct pool_class *k)
{
    uint32_t out = k->count - depot_objects(k);
    uint32_t peak = atomic_load_explicit(&k->peak_out, memory_order_relaxed);
    while (out > peak &&
           !atomic_compare_exchange_weak_explicit(&k->peak_out, &peak, out,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed))
        ;
}

_Noreturn static void die(const struct pool_classes *s, const char *what,
                          const void *ptr, const struct pool_class *k,
                          const char *tail)
{
    struct rbuf b = {0};
    rb_str(&b, s->name);
    rb_str(&b, ": ");
    rb_str(&b, what);
    rb_char(&b, ' ');
    rb_hex(&b, (uintptr_t)ptr);
    if (k != NULL) {
        rb_str(&b, " (class ");
        rb_u64(&b, k->size);
        rb_str(&b, " bytes)");
    }
    rb_str(&b, tail);
    rb_char(&b, '\n');
    rb_flush(&b, 2);
    abort();
}

_Noreturn void pool_classes_invalid(const struct pool_classes *s,
                                    const char *what, const void *ptr)
{
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)s->base;
    const struct pool_class *k =
        off < s->span ? &s->cls[off >> s->shift] : NULL;
    struct rbuf b = {0};
    rb_str(&b, what);
    rb_str(&b, ": invalid pointer");
    die(s, rb_cstr(&b), ptr, k, ", not an object start");
}

/* ---- CHECKED mode: state bytes and poison ---- */

static void checked_on_get(struct pool_classes *s, struct pool_class *k,
                           uint32_t idx)
{
    unsigned char *obj = obj_at(k, idx);
    for (size_t i = 0; i < k->stride; i++)
        if (obj[i] != POISON) {
            struct rbuf b = {0};
            rb_str(&b, " was written after it was freed (byte ");
            rb_u64(&b, i);
            rb_str(&b, " changed)");
            die(s, "write after free:", obj, k, rb_cstr(&b));
        }
    k->state[idx] = 1;
}

static void checked_on_put(struct pool_classes *s, struct pool_class *k,
                           void *ptr)
{
    uint32_t idx = obj_index(k, ptr);
    if (__atomic_exchange_n(&k->state[idx], 0, __ATOMIC_RELAXED) == 0)
        die(s, "double free:", ptr, k, " is already free");
    memset(ptr, POISON, k->stride);
}

/* ---- slow paths ---- */

/* Attach c to the set where it may; true when c is attached (its figures
 * then count in c), false when the op must go uncached with its figures
 * kept in the set. */
static bool attached(struct pool_classes *s, struct pool_cache *c)
{
    if (c == NULL)
        return false;
    if (c->set == NULL && !c->retired) {
        pool_classes_cache_attach(s, c);
        if (s->on_attach != NULL)
            s->on_attach(s, c);
    }
    return c->set == s;
}

static uint32_t held(const struct pool_cache *c, unsigned cls)
{
    return (uint32_t)(c->sp[cls] - c->lo[cls]);
}

/* Return all but the `keep` newest objects of c's class cls to the depot;
 * returns how many went back. */
static uint32_t spill(struct pool_classes *s, struct pool_cache *c,
                      unsigned cls, uint32_t keep)
{
    struct pool_class *k = &s->cls[cls];
    uint32_t n = held(c, cls), idx[POOL_CACHE_SLOTS];
    if (n <= keep)
        return 0;
    n -= keep;
    void **lo = c->lo[cls];
    for (uint32_t i = 0; i < n; i++)
        idx[i] = obj_index(k, lo[i]);
    memmove(lo, lo + n, keep * sizeof *lo);
    c->sp[cls] = lo + keep;
    /* The objects leave the cache before the push: a fork in between loses
     * them in the child, but can never hand them out twice. */
    atomic_signal_fence(memory_order_seq_cst);
    uint32_t done = 0, m = k->mag_size;
    for (; m != 0 && n - done >= m; done += m)
        give_back(k, idx + done, m);
    if (done < n)
        depot_push(&k->depot, idx + done, n - done);
    return n;
}

void pool_classes_aux_add_slow_(struct pool_classes *s, struct pool_cache *c,
                                unsigned i, uint64_t v)
{
    if (attached(s, c))
        c->aux[i] += v;
    else
        atomic_fetch_add_explicit(&s->aux[i], v, memory_order_relaxed);
}

void *pool_classes_get_slow_(struct pool_classes *s, struct pool_cache *c,
                             int cls, bool quiet)
{
    struct pool_class *k = &s->cls[cls];
    bool mine = attached(s, c);
    if (mine && c->sp[cls] != c->lo[cls]) /* attached just now by a put */
        return pool_cache_pop(c, (unsigned)cls);
    if (mine && c->hi[cls] != c->lo[cls]) {
        /* A magazine, or up to one's worth one by one. */
        uint32_t idx[POOL_CACHE_SLOTS];
        uint32_t want = k->mag_size ? k->mag_size : 1;
        uint32_t got = take(k, idx, want);
        if (got == 0) {
            c->misses[cls] += !quiet;
            return NULL;
        }
        note_peak(k);
        void **sp = c->sp[cls];
        for (uint32_t i = got - 1; i >= 1; i--)
            *sp++ = obj_at(k, idx[i]);
        c->sp[cls] = sp;
        c->gets[cls]++;
        return obj_at(k, idx[0]);
    }
    uint32_t idx;
    if (take_one(k, &idx) == 0) {
        if (quiet)
            return NULL;
        if (mine)
            c->misses[cls]++;
        else
            atomic_fetch_add_explicit(&k->misses, 1, memory_order_relaxed);
        return NULL;
    }
    note_peak(k);
    if (k->state != NULL)
        checked_on_get(s, k, idx);
    if (mine)
        c->gets[cls]++;
    else
        atomic_fetch_add_explicit(&k->gets, 1, memory_order_relaxed);
    return obj_at(k, idx);
}

void pool_classes_put_slow_(struct pool_classes *s, struct pool_cache *c,
                            int cls, void *ptr)
{
    struct pool_class *k = &s->cls[cls];
    bool mine = attached(s, c);
    if (mine && c->hi[cls] != c->lo[cls]) {
        for (void **p = c->lo[cls]; p < c->sp[cls]; p++)
            if (*p == ptr)
                die(s, "double free:", ptr, k, " is already free");
        if (c->sp[cls] == c->hi[cls]) { /* full: the older half goes back */
            uint32_t cap = (uint32_t)(c->hi[cls] - c->lo[cls]);
            spill(s, c, (unsigned)cls, cap - (k->mag_size ? k->mag_size : (cap + 1) / 2));
        }
        pool_cache_push(c, (unsigned)cls, ptr);
        return;
    }
    if (k->state != NULL)
        checked_on_put(s, k, ptr);
    uint32_t idx = obj_index(k, ptr);
    if ((uint32_t)atomic_load_explicit(&k->depot.head, memory_order_relaxed) == idx)
        die(s, "double free:", ptr, k, " is already free");
    depot_push(&k->depot, &idx, 1);
}

/* ---- creation ---- */

static uint32_t cache_cap_for(uint32_t count, unsigned flags)
{
    if (flags & (POOL_CLASSES_NOCACHE | POOL_CLASSES_CHECKED))
        return 0;
    uint32_t cap = count / 16;
    return cap > POOL_CACHE_SLOTS ? POOL_CACHE_SLOTS : cap;
}

static uint32_t mag_size_for(uint32_t count, unsigned flags)
{
    return cache_cap_for(count, flags) / 2;
}

/* Enough magazines for every object at once, plus one in flight. */
static uint32_t mags_for(uint32_t count, uint32_t mag)
{
    return count / mag + 1;
}

static int spec_cmp(const void *a, const void *b)
{
    const struct pool_class_spec *x = a, *y = b;
    return (x->size > y->size) - (x->size < y->size);
}

static unsigned ceil_log2(uint64_t v)
{
    unsigned s = 0;
    while ((UINT64_C(1) << s) < v)
        s++;
    return s;
}

struct pool_classes *pool_classes_create(const struct pool_class_spec *spec,
                                         size_t n, unsigned flags,
                                         int *mlock_errno)
{
    struct pool_class_spec sorted[POOL_CLASSES_MAX];
    if (mlock_errno != NULL)
        *mlock_errno = 0;
    if (spec == NULL || n == 0 || n > POOL_CLASSES_MAX)
        goto invalid;
    memcpy(sorted, spec, n * sizeof *spec);
    qsort(sorted, n, sizeof *sorted, spec_cmp);

    size_t page = mem_page_size(), slice = page, links = 0;
    for (size_t i = 0; i < n; i++) {
        size_t size = sorted[i].size, count = sorted[i].count;
        if (size == 0 || size > POOL_CLASS_SIZE_MAX || count == 0 ||
            count > UINT32_MAX - 1)
            goto invalid;
        size_t stride = mem_round_up(size, 16);
        if (i > 0 && stride == mem_round_up(sorted[i - 1].size, 16))
            goto invalid; /* equal sizes, or two sizes in one 16-byte slot */
        if ((uint64_t)stride * count > POOL_CLASS_BYTES_MAX)
            goto invalid;
        size_t bytes = mem_round_up(stride * count, page);
        if (bytes > slice)
            slice = bytes;
        links += depot_storage((uint32_t)count);
        if (flags & POOL_CLASSES_CHECKED)
            links += count;
        uint32_t mag = mag_size_for((uint32_t)count, flags);
        if (mag != 0)
            links += depot_storage(mags_for((uint32_t)count, mag)) +
                     (size_t)mags_for((uint32_t)count, mag) * mag * sizeof(uint32_t);
    }
    unsigned shift = ceil_log2(slice);
    size_t max_size = sorted[n - 1].size;
    size_t lut_len = ((max_size + 15) >> 4) + 1;
    size_t meta = mem_round_up(sizeof(struct pool_classes) + lut_len, 64) + links;

    struct pool_classes *s = mem_reserve(meta, page);
    if (s == NULL)
        return NULL;
    if (mem_commit(s, mem_round_up(meta, page)) != 0) {
        mem_release(s, meta);
        return NULL;
    }
    size_t span = n << shift;
    size_t align = (size_t)1 << shift;
    if (align > POOL_CLASS_SIZE_MAX)
        align = POOL_CLASS_SIZE_MAX;
    char *base = mem_reserve(span, align);
    if (base == NULL) {
        mem_release(s, meta);
        return NULL;
    }
    s->base = base;
    s->span = span;
    s->shift = shift;
    s->nclasses = (unsigned)n;
    s->flags = flags;
    s->max_size = max_size;
    s->slice_mask = ((uintptr_t)1 << shift) - 1;
    s->name = "pool";
    s->meta_bytes = meta;
    s->on_attach = NULL;
    for (unsigned i = 0; i < POOL_CACHE_AUX; i++)
        atomic_init(&s->aux[i], 0);
    pthread_mutex_init(&s->lock, NULL);
    s->caches = NULL;

    char *cursor = (char *)s + mem_round_up(sizeof(struct pool_classes) + lut_len, 64);
    uint8_t *lut = s->lut;
    /* lut[g]: the first class that can hold the smallest size of granule g,
     * (g - 1) * 16 + 1; the one comparison in lookup then settles the rest,
     * since no two strides share a granule. */
    for (size_t g = 0, c = 0; g < lut_len; g++) {
        size_t low = g == 0 ? 0 : (g - 1) * 16 + 1;
        while (c + 1 < n && sorted[c].size < low)
            c++;
        lut[g] = (uint8_t)c;
    }
    for (size_t m = 0, c = 0; m <= POOL_SMALL_MAX; m++) {
        while (c < n && sorted[c].size < (m ? m : 1))
            c++;
        s->small[m] = (uint8_t)(c < n ? c : POOL_CLASSES_MAX);
    }

    for (size_t i = 0; i < n; i++) {
        struct pool_class *k = &s->cls[i];
        k->base = base + (i << shift);
        k->size = sorted[i].size;
        s->sizes[i] = (uint32_t)k->size;
        k->stride = mem_round_up(k->size, 16);
        k->count = (uint32_t)sorted[i].count;
        k->bytes = k->stride * k->count;
        k->magic = UINT64_MAX / k->stride + 1;
        s->hot[i].bytes = k->bytes;
        s->hot[i].magic = k->magic;
        size_t a = k->stride & -k->stride;
        k->align = a < align ? a : align;
        k->cache_cap = cache_cap_for(k->count, flags);
        k->mag_size = mag_size_for(k->count, flags);
        depot_init(&k->depot, k->count, cursor);
        cursor += depot_storage(k->count);
        k->mag_slots = NULL;
        if (k->mag_size != 0) {
            uint32_t mags = mags_for(k->count, k->mag_size);
            /* one stack of links serves both: an id is on one of them */
            depot_init(&k->mag_empty, mags, cursor);
            depot_init_empty(&k->mag_full, mags, cursor);
            cursor += depot_storage(mags);
            k->mag_slots = (uint32_t *)cursor;
            cursor += (size_t)mags * k->mag_size * sizeof(uint32_t);
        }
        k->state = NULL;
        if (flags & POOL_CLASSES_CHECKED) {
            k->state = (uint8_t *)cursor;
            cursor += k->count;
        }
        size_t bytes = mem_round_up(k->bytes, page);
        if (mem_commit(k->base, bytes) != 0) {
            pool_classes_destroy(s);
            errno = ENOMEM;
            return NULL;
        }
        if (flags & POOL_CLASSES_CHECKED)
            memset(k->base, POISON, k->bytes);
        else if (flags & POOL_CLASSES_PREFAULT)
            mem_prefault(k->base, bytes);
        if ((flags & POOL_CLASSES_MLOCK) && mem_lock(k->base, bytes) != 0 &&
            mlock_errno != NULL && *mlock_errno == 0)
            *mlock_errno = errno;
    }
    if (flags & POOL_CLASSES_PREFAULT)
        mem_prefault(s, mem_round_up(meta, page));
    return s;

invalid:
    errno = EINVAL;
    return NULL;
}

void pool_classes_destroy(struct pool_classes *s)
{
    if (s == NULL)
        return;
    pthread_mutex_destroy(&s->lock);
    mem_release(s->base, s->span);
    mem_release(s, s->meta_bytes);
}

void pool_classes_set_name(struct pool_classes *s, const char *name)
{
    s->name = name;
}

/* ---- thread caches ---- */

static void link_cache(struct pool_classes *s, struct pool_cache *c)
{
    c->prev = NULL;
    c->next = s->caches;
    if (s->caches != NULL)
        s->caches->prev = c;
    s->caches = c;
}

static void unlink_cache(struct pool_classes *s, struct pool_cache *c)
{
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        s->caches = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

void pool_classes_on_attach(struct pool_classes *s,
                            void (*hook)(struct pool_classes *s,
                                         struct pool_cache *c))
{
    s->on_attach = hook;
}

void pool_classes_cache_attach(struct pool_classes *s, struct pool_cache *c)
{
    if (c->set == s)
        return;
    for (unsigned i = 0; i < s->nclasses; i++) {
        c->lo[i] = c->sp[i] = c->slot[i];
        c->hi[i] = c->slot[i] + s->cls[i].cache_cap;
    }
    pthread_mutex_lock(&s->lock);
    link_cache(s, c);
    c->set = s;
    pthread_mutex_unlock(&s->lock);
}

/* Return the cache's objects and fold its figures into the set; the caller
 * holds the lock or is alone. */
static void drain_cache(struct pool_classes *s, struct pool_cache *c)
{
    for (unsigned i = 0; i < s->nclasses; i++) {
        struct pool_class *k = &s->cls[i];
        spill(s, c, i, 0);
        c->lo[i] = c->sp[i] = c->hi[i] = NULL; /* from now on: the depot */
        atomic_fetch_add_explicit(&k->gets, c->gets[i], memory_order_relaxed);
        atomic_fetch_add_explicit(&k->misses, c->misses[i], memory_order_relaxed);
        c->gets[i] = c->misses[i] = 0;
    }
    for (unsigned i = 0; i < POOL_CACHE_AUX; i++) {
        atomic_fetch_add_explicit(&s->aux[i], c->aux[i], memory_order_relaxed);
        c->aux[i] = 0;
    }
}

void pool_classes_cache_detach(struct pool_classes *s, struct pool_cache *c,
                               bool retire)
{
    if (retire)
        c->retired = true;
    if (c->set != s)
        return;
    pthread_mutex_lock(&s->lock);
    drain_cache(s, c);
    unlink_cache(s, c);
    c->set = NULL;
    pthread_mutex_unlock(&s->lock);
}

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
    struct pool_cache *c = s->caches, *next;
    for (; c != NULL; c = next) {
        next = c->next;
        if (c == self)
            continue;
        drain_cache(s, c);
        unlink_cache(s, c);
        c->set = NULL;
    }
}

/* ---- figures ---- */

static void stats_locked(struct pool_classes *s, int cls,
                         struct pool_class_stats *out)
{
    struct pool_class *k = &s->cls[cls];
    uint64_t gets = atomic_load_explicit(&k->gets, memory_order_relaxed);
    uint64_t misses = atomic_load_explicit(&k->misses, memory_order_relaxed);
    uint32_t cached = 0;
    for (struct pool_cache *c = s->caches; c != NULL; c = c->next) {
        cached += (uint32_t)(__atomic_load_n(&c->sp[cls], __ATOMIC_RELAXED) -
                             __atomic_load_n(&c->lo[cls], __ATOMIC_RELAXED));
        gets += __atomic_load_n(&c->gets[cls], __ATOMIC_RELAXED);
        misses += __atomic_load_n(&c->misses[cls], __ATOMIC_RELAXED);
    }
    out->size = k->size;
    out->stride = k->stride;
    out->align = k->align;
    out->capacity = k->count;
    out->available = depot_objects(k) + cached;
    if (out->available > out->capacity)
        out->available = out->capacity; /* a put in flight */
    out->in_use = out->capacity - out->available;
    out->peak_out = atomic_load_explicit(&k->peak_out, memory_order_relaxed);
    out->gets = gets;
    out->misses = misses;
}

static uint64_t aux_locked(struct pool_classes *s, unsigned i)
{
    uint64_t sum = atomic_load_explicit(&s->aux[i], memory_order_relaxed);
    for (struct pool_cache *c = s->caches; c != NULL; c = c->next)
        sum += __atomic_load_n(&c->aux[i], __ATOMIC_RELAXED);
    return sum;
}

void pool_classes_stats(struct pool_classes *s, int cls,
                        struct pool_class_stats *out)
{
    pthread_mutex_lock(&s->lock);
    stats_locked(s, cls, out);
    pthread_mutex_unlock(&s->lock);
}

uint64_t pool_classes_aux(struct pool_classes *s, unsigned i)
{
    pthread_mutex_lock(&s->lock);
    uint64_t sum = aux_locked(s, i);
    pthread_mutex_unlock(&s->lock);
    return sum;
}

int pool_classes_snapshot(struct pool_classes *s, struct pool_class_stats *out,
                          uint64_t *aux, bool trylock)
{
    if (trylock) {
        if (pthread_mutex_trylock(&s->lock) != 0) {
            errno = EBUSY;
            return -1;
        }
    } else {
        pthread_mutex_lock(&s->lock);
    }
    for (unsigned i = 0; i < s->nclasses; i++)
        stats_locked(s, (int)i, &out[i]);
    for (unsigned i = 0; aux != NULL && i < POOL_CACHE_AUX; i++)
        aux[i] = aux_locked(s, i);
    pthread_mutex_unlock(&s->lock);
    return 0;
}

size_t pool_classes_available(struct pool_classes *s, int cls)
{
    struct pool_class_stats st;
    pool_classes_stats(s, cls, &st);
    return st.available;
}

/* Walk a depot's stack: every index below its count, none seen before (in
 * seen[], where it marks them with `mark`), as many as its free counter
 * says. */
static bool walk(const struct depot *d, uint8_t *seen, uint8_t mark)
{
    uint32_t walked = 0;
    uint32_t x = (uint32_t)atomic_load(&d->head);
    for (; x != DEPOT_NIL; walked++) {
        if (x >= d->count || seen[x] || walked > d->count)
            return false;
        seen[x] = mark;
        x = atomic_load_explicit(&d->next[x], memory_order_relaxed);
    }
    return walked == depot_free(d);
}

bool pool_classes_check(struct pool_classes *s)
{
    bool ok = true;
    size_t page = mem_page_size();
    pthread_mutex_lock(&s->lock);
    for (unsigned i = 0; i < s->nclasses && ok; i++) {
        struct pool_class *k = &s->cls[i];
        uint8_t *seen = mem_reserve(k->count, page);
        if (seen == NULL || mem_commit(seen, mem_round_up(k->count, page)) != 0) {
            ok = false;
            break;
        }
        ok = walk(&k->depot, seen, 1);
        if (k->mag_size != 0) {
            /* full magazines: their objects; both stacks: every id once */
            uint32_t mags = k->mag_empty.count;
            uint8_t *ids = mem_reserve(mags, page);
            ok = ok && ids != NULL && mem_commit(ids, mem_round_up(mags, page)) == 0 &&
                 walk(&k->mag_full, ids, 2) && walk(&k->mag_empty, ids, 1) &&
                 depot_free(&k->mag_full) + depot_free(&k->mag_empty) == mags;
            for (uint32_t m = 0; ok && m < mags; m++)
                if (ids[m] == 2) /* a full one: mark its objects */
                    for (uint32_t j = 0; ok && j < k->mag_size; j++) {
                        uint32_t x = k->mag_slots[(size_t)m * k->mag_size + j];
                        ok = x < k->count && !seen[x];
                        if (ok)
                            seen[x] = 1;
                    }
            if (ids != NULL)
                mem_release(ids, mags);
        }
        for (struct pool_cache *c = s->caches; c != NULL && ok; c = c->next) {
            for (void **q = c->lo[i]; q < c->sp[i] && ok; q++) {
                void *p = *q;
                if (pool_classes_owner(s, p) != (int)i || seen[obj_index(k, p)])
                    ok = false;
                else
                    seen[obj_index(k, p)] = 1;
            }
            ok = ok && c->sp[i] - c->lo[i] <= c->hi[i] - c->lo[i];
        }
        if (k->state != NULL)
            for (uint32_t x = 0; x < k->count && ok; x++)
                ok = (k->state[x] == 0) == (seen[x] == 1);
        mem_release(seen, k->count);
    }
    pthread_mutex_unlock(&s->lock);
    return ok;
}
