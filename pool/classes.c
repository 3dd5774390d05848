/* classes.c - building a set of size classes, and what a pointer is; see
 * classes.h and, for the layout, classes_internal.h. The caches and the
 * depots are in magazine.c, figures and the integrity walk in census.c.
 *
 * Two reservations make a set: the objects (one slice per class, aligned to
 * 1 << shift) and the store (per class: the loose stack's links, the
 * magazine stacks' links, the magazines' rounds, and with CHECKED a state
 * byte per object). A small mapping holds struct pool_classes and its lookup
 * table. Nothing in the store is written at creation unless PREFAULT asks
 * for it: the kernel's zero pages already say "empty" and "never used".
 */
#include "pool/classes_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pool/mem.h"
#include "pool/report.h"

#define SPARE_MAGS 32 /* magazines beyond the objects': two per thread for 16 */

/* ---- the plan: every figure create needs, computed once ---- */

struct class_plan {
    size_t size, stride, bytes;  /* bytes: count * stride */
    size_t off, pages;           /* first object's offset in the objects'
                                    range; the bytes of pages it commits */
    uint32_t count, rounds, nmags;
    size_t loose_off, ids_off, mag_off, state_off, store_end; /* in the store */
};

struct plan {
    size_t n;
    struct class_plan k[POOL_CLASSES_MAX];
    unsigned shift;
    size_t span, objects, store, meta, fits;
    size_t store_hot; /* the magazines' part of the store, which PREFAULT
                         faults in (the loose links are written only when a
                         thread's leftovers go back one by one) */
};

/* The pages of class k's magazines and their links, within the store. */
static void hot_range(const struct class_plan *k, size_t page, size_t *from, size_t *to)
{
    *from = k->ids_off & ~(page - 1);
    *to = mem_round_up(k->store_end, page);
}

/* Rounds per magazine: more for small objects (a random walk around a
 * magazine's edge then needs more net gets or puts to reach the depot), at
 * most an eighth of the class (so that one thread's two magazines hold at
 * most a quarter), none below 2. */
static uint32_t rounds_for(size_t size, uint32_t count, unsigned flags)
{
    if (flags & (POOL_CLASSES_NOCACHE | POOL_CLASSES_CHECKED))
        return 0;
    uint32_t r = size <= 128 ? 256 : size <= 1024 ? 128 : size <= 4096 ? 64
               : size <= 16384 ? 32 : 16;
    if (r > count / 8)
        r = count / 8;
    return r < 2 ? 0 : r;
}

static int spec_cmp(const void *a, const void *b)
{
    const struct pool_class_spec *x = a, *y = b;
    return (x->size > y->size) - (x->size < y->size);
}

/* Class i's first object is the first multiple of its stride at or above
 * its slice's start (i << shift): then an offset from the set's base is an
 * object start exactly when the stride divides it, which free tests on the
 * offset itself (classes_internal.h). The slice has room for the padding,
 * which only a stride that is not a power of two needs. */
static size_t start_pad_max(size_t stride)
{
    return (stride & (stride - 1)) != 0 ? stride - POOL_GRANULE : 0;
}

/* The divisibility test by multiply (x * magic <= magic - 1, magic =
 * floor(2^64 / d) + 1) is exact for x * d < 2^64, and so is free's test
 * against mlimit (classes_internal.h): for x = j * d + r, x * magic = j * e
 * + r * magic (mod 2^64, e = magic * d - 2^64 <= d), which does not wrap
 * when r >= 1, and j * e <= x < magic. Offsets stay below the span, at most
 * POOL_CLASSES_MAX slices of twice POOL_CLASS_BYTES_MAX. */
_Static_assert((unsigned __int128)POOL_CLASSES_MAX * 2 * POOL_CLASS_BYTES_MAX *
               POOL_CLASS_SIZE_MAX < (unsigned __int128)1 << 64,
               "a set's offsets are in the range where the multiply tests divisibility");

static unsigned ceil_log2(uint64_t v)
{
    unsigned s = 0;
    while ((UINT64_C(1) << s) < v)
        s++;
    return s;
}

/* Fill one class's plan; false when the spec is invalid. */
static bool plan_class(struct class_plan *k, const struct pool_class_spec *spec,
                       size_t prev_stride, unsigned flags, size_t *store)
{
    size_t size = spec->size, count = spec->count;
    if (size == 0 || size > POOL_CLASS_SIZE_MAX || count == 0 ||
        count > POOL_CLASS_COUNT_MAX)
        return false;
    k->size = size;
    k->stride = mem_round_up(size, POOL_GRANULE);
    if (k->stride == prev_stride)
        return false; /* equal sizes, or two sizes in one granule */
    if ((uint64_t)k->stride * count > POOL_CLASS_BYTES_MAX)
        return false;
    k->count = (uint32_t)count;
    k->bytes = k->stride * count;
    k->rounds = rounds_for(size, k->count, flags);
    k->nmags = k->rounds ? (k->count + k->rounds - 1) / k->rounds + SPARE_MAGS : 0;
    k->loose_off = *store;
    k->ids_off = k->loose_off + mem_round_up(depot_storage(k->count), 64);
    k->mag_off = k->ids_off + mem_round_up(depot_storage(k->nmags), 64);
    k->state_off = k->mag_off + (size_t)k->nmags * k->rounds * sizeof(void *);
    k->store_end = k->state_off + (flags & POOL_CLASSES_CHECKED ? k->count : 0);
    *store = mem_round_up(k->store_end, 64);
    return true;
}

static bool make_plan(struct plan *p, const struct pool_class_spec *spec,
                      size_t n, unsigned flags)
{
    struct pool_class_spec sorted[POOL_CLASSES_MAX];
    if (spec == NULL || n == 0 || n > POOL_CLASSES_MAX)
        return false;
    memcpy(sorted, spec, n * sizeof *spec);
    qsort(sorted, n, sizeof *sorted, spec_cmp);
    size_t page = mem_page_size(), slice = page, store = 0;
    memset(p, 0, sizeof *p);
    p->n = n;
    for (size_t i = 0; i < n; i++) {
        struct class_plan *k = &p->k[i];
        if (!plan_class(k, &sorted[i], i ? p->k[i - 1].stride : 0, flags, &store))
            return false;
        size_t bytes = mem_round_up(k->bytes + start_pad_max(k->stride), page);
        slice = bytes > slice ? bytes : slice;
        size_t from, to;
        hot_range(k, page, &from, &to);
        p->store_hot += to - from;
    }
    p->shift = ceil_log2(slice);
    p->span = n << p->shift;
    for (size_t i = 0; i < n; i++) {
        struct class_plan *k = &p->k[i];
        k->off = (((i << p->shift) + k->stride - 1) / k->stride) * k->stride;
        k->pages = mem_round_up(k->off + k->bytes, page) - (k->off & ~(page - 1));
        p->objects += k->pages;
    }
    p->store = mem_round_up(store, page);
    if (p->store_hot > p->store) /* neighbouring classes share pages */
        p->store_hot = p->store;
    p->fits = p->k[n - 1].size + 1;
    p->meta = mem_round_up(sizeof(struct pool_classes) + p->fits, page);
    return true;
}

int pool_classes_footprint(const struct pool_class_spec *spec, size_t n,
                           unsigned flags, struct pool_classes_footprint *out)
{
    struct plan p;
    if (!make_plan(&p, spec, n, flags)) {
        errno = EINVAL;
        return -1;
    }
    out->reserve = p.span + p.store + p.meta;
    out->objects = p.objects;
    out->meta = p.store + p.meta;
    out->touched = p.meta;
    if (flags & (POOL_CLASSES_PREFAULT | POOL_CLASSES_CHECKED))
        out->touched += p.objects;
    if (flags & POOL_CLASSES_PREFAULT)
        out->touched += p.store_hot;
    return 0;
}

/* ---- creation ---- */

static void fill_tables(struct pool_classes *s, const struct plan *p)
{
    /* classes are sorted by size: the first that holds m serves it */
    for (size_t m = 0, c = 0; m < p->fits; m++) {
        while (p->k[c].size < m)
            c++;
        s->size_v[m] = (uint8_t)(c + 1);
    }
}

static void init_class(struct pool_classes *s, unsigned i,
                       const struct class_plan *kp)
{
    struct pool_class *k = &s->cls[i];
    char *store = s->store;
    k->base = s->base + kp->off;
    k->size = kp->size;
    k->stride = kp->stride;
    k->count = kp->count;
    k->bytes = kp->bytes;
    /* floor(2^64 / stride) + 1: for a power of two too (e >= 1) */
    k->magic = (uint64_t)(((unsigned __int128)1 << 64) / k->stride) + 1;
    size_t a = k->stride & -k->stride, slice = (size_t)1 << s->shift;
    if (slice > POOL_CLASS_SIZE_MAX)
        slice = POOL_CLASS_SIZE_MAX;
    k->align = a < slice ? a : slice;
    k->rounds = kp->rounds;
    k->nmags = kp->nmags;
    k->mag = (void **)(store + kp->mag_off);
    k->state = s->flags & POOL_CLASSES_CHECKED ? (uint8_t *)store + kp->state_off : NULL;
    s->limit[i] = kp->off; /* nothing handed out yet */
    s->magic[i] = k->magic;
    s->mlimit[i] = kp->off * k->magic;
    depot_init_empty(&k->loose, k->count, store + kp->loose_off);
    /* one array of links serves both stacks: an id is on one of them */
    depot_init_empty(&k->full, k->nmags, store + kp->ids_off);
    depot_init_empty(&k->empty, k->nmags, store + kp->ids_off);
    atomic_init(&k->frontier, 0);
    atomic_init(&k->mags_born, 0);
    atomic_init(&k->peak_out, 0);
    atomic_init(&k->misses, 0);
    atomic_init(&k->exchanges, 0);
}

/* Commit class i's objects; lock and fault them in as asked. */
static int commit_class(struct pool_classes *s, unsigned i, size_t pages, int *mlock_errno)
{
    struct pool_class *k = &s->cls[i];
    char *from = (char *)((uintptr_t)k->base & ~(mem_page_size() - 1));
    if (mem_commit(from, pages) != 0)
        return -1;
    if (s->flags & POOL_CLASSES_CHECKED)
        memset(k->base, POOL_POISON, k->bytes);
    else if (s->flags & POOL_CLASSES_PREFAULT)
        mem_prefault(from, pages);
    if ((s->flags & POOL_CLASSES_MLOCK) && mem_lock(from, pages) != 0 &&
        mlock_errno != NULL && *mlock_errno == 0)
        *mlock_errno = errno;
    return 0;
}

/* The objects' range; with HUGEPAGES on 2 MiB pages where there are any */
static void release_objects(char *base, size_t span, unsigned flags)
{
    if (flags & POOL_CLASSES_HUGEPAGES)
        mem_release_huge(base, span);
    else
        mem_release(base, span);
}

/* The reservations of a plan, or NULL with errno ENOMEM (nothing kept). */
static struct pool_classes *reserve(const struct plan *p, unsigned flags)
{
    size_t page = mem_page_size();
    struct pool_classes *s = mem_reserve(p->meta, page);
    if (s == NULL || mem_commit(s, p->meta) != 0)
        goto fail;
    s->meta_bytes = p->meta;
    size_t align = (size_t)1 << p->shift;
    if (align > POOL_CLASS_SIZE_MAX)
        align = POOL_CLASS_SIZE_MAX;
    enum mem_huge huge = MEM_HUGE_NONE;
    if (flags & POOL_CLASSES_HUGEPAGES) {
        /* hugetlb pages for the objects, not for the padding and the rest
         * of each slice (a slice has the largest class's room) */
        struct mem_run used[POOL_CLASSES_MAX];
        for (size_t i = 0; i < p->n; i++)
            used[i] = (struct mem_run){p->k[i].off, p->k[i].bytes};
        s->base = mem_reserve_huge(p->span, align, used, p->n, &huge);
        s->huge_bytes = mem_huge_need(p->span, used, p->n);
    } else {
        s->base = mem_reserve(p->span, align);
    }
    s->huge = huge;
    s->store = mem_reserve(p->store, page);
    if (s->base == NULL || s->store == NULL || mem_commit(s->store, p->store) != 0)
        goto fail;
    s->span = p->span;
    s->store_bytes = p->store;
    return s;
fail:
    if (s != NULL) {
        release_objects(s->base, p->span, flags);
        mem_release(s->store, p->store);
        mem_release(s, p->meta);
    }
    errno = ENOMEM;
    return NULL;
}

struct pool_classes *pool_classes_create(const struct pool_class_spec *spec,
                                         size_t n, unsigned flags,
                                         int *mlock_errno)
{
    struct plan p;
    if (mlock_errno != NULL)
        *mlock_errno = 0;
    if (!make_plan(&p, spec, n, flags)) {
        errno = EINVAL;
        return NULL;
    }
    struct pool_classes *s = reserve(&p, flags);
    if (s == NULL)
        return NULL;
    s->shift = p.shift;
    s->nclasses = (unsigned)n;
    s->flags = flags;
    s->fits = p.fits;
    s->key = mem_random_key();
    s->name = "pool";
    pthread_mutex_init(&s->lock, NULL);
    s->caches = NULL;
    fill_tables(s, &p);
    for (unsigned i = 0; i < n; i++) {
        init_class(s, i, &p.k[i]);
        if (commit_class(s, i, p.k[i].pages, mlock_errno) != 0) {
            pool_classes_destroy(s);
            errno = ENOMEM;
            return NULL;
        }
        size_t from, to;
        hot_range(&p.k[i], mem_page_size(), &from, &to);
        if (flags & POOL_CLASSES_PREFAULT)
            mem_prefault((char *)s->store + from, to - from);
    }
    return s;
}

void pool_classes_destroy(struct pool_classes *s)
{
    if (s == NULL)
        return;
    for (struct pool_cache *c = s->caches; c != NULL; c = c->next_cache)
        pool_cache_forget_(c);
    pthread_mutex_destroy(&s->lock);
    release_objects(s->base, s->span, s->flags);
    mem_release(s->store, s->store_bytes);
    mem_release(s, s->meta_bytes);
}

void pool_classes_set_name(struct pool_classes *s, const char *name)
{
    s->name = name;
}

/* ---- sizes and pointers ---- */

void pool_classes_set_key_(struct pool_classes *s, uint64_t key)
{
    POOL_ASSERT(key != 0);
    s->key = key;
}

int pool_classes_lookup(const struct pool_classes *s, size_t n)
{
    return (int)pool_fast_class(s, n) - 1;
}

int pool_classes_owner(const struct pool_classes *s, const void *ptr)
{
    uintptr_t off = (uintptr_t)ptr - (uintptr_t)s->base;
    if (off >= s->span)
        return POOL_NOT_OURS;
    const struct pool_class *k = &s->cls[off >> s->shift];
    uint64_t o = (uintptr_t)ptr - (uintptr_t)k->base; /* the padding: huge */
    if (o >= k->bytes || o * k->magic > k->magic - 1)
        return POOL_INTERIOR;
    return (int)(off >> s->shift);
}

int pool_which(struct pool_classes *s, const void *p)
{
    int c = pool_classes_owner(s, p);
    if (c < 0)
        return c;
    const struct pool_class *k = &s->cls[c];
    uint64_t o = (uint64_t)((const char *)p - k->base);
    if ((uint64_t)((const char *)p - s->base) >= __atomic_load_n(&s->limit[c], __ATOMIC_RELAXED))
        return POOL_FREED; /* never handed out */
    if (k->state != NULL) {
        uint32_t idx = (uint32_t)(((unsigned __int128)k->magic * o) >> 64);
        return __atomic_load_n(&k->state[idx], __ATOMIC_RELAXED) ? c + 1 : POOL_FREED;
    }
    if (*(const uint64_t *)p != s->key)
        return c + 1;
    return pool_object_is_free_(s, (unsigned)c + 1, p) ? POOL_FREED : c + 1;
}

unsigned pool_classes_count(const struct pool_classes *s)
{
    return s->nclasses;
}

size_t pool_classes_size(const struct pool_classes *s, int cls)
{
    return s->cls[cls].size;
}

size_t pool_classes_align(const struct pool_classes *s, int cls)
{
    return s->cls[cls].align;
}

size_t pool_classes_cache_bound(const struct pool_classes *s, int cls)
{
    return 2 * (size_t)s->cls[cls].rounds;
}

/* ---- messages ---- */

_Noreturn void pool_die(const struct pool_classes *s, const char *what,
                        const void *p, const char *detail)
{
    struct rbuf b = {0};
    rb_str(&b, s->name);
    rb_str(&b, ": ");
    rb_str(&b, what);
    rb_char(&b, ' ');
    rb_hex(&b, (uintptr_t)p);
    uintptr_t off = (uintptr_t)p - (uintptr_t)s->base;
    if (off < s->span) {
        rb_str(&b, " (class ");
        rb_u64(&b, s->cls[off >> s->shift].size);
        rb_str(&b, " bytes)");
    }
    rb_str(&b, ": ");
    rb_str(&b, detail);
    rb_char(&b, '\n');
    rb_flush(&b, 2);
    abort();
}

_Noreturn void pool_assert_fail_(const char *expr, const char *file, int line)
{
    struct rbuf b = {0};
    rb_str(&b, "pool: ");
    rb_str(&b, file);
    rb_char(&b, ':');
    rb_u64(&b, (uint64_t)line);
    rb_str(&b, ": assertion failed: ");
    rb_str(&b, expr);
    rb_char(&b, '\n');
    rb_flush(&b, 2);
    abort();
}

_Noreturn void pool_misuse(const struct pool_classes *s, const char *what,
                           const void *p, int verdict)
{
    struct rbuf b = {0};
    rb_str(&b, what);
    if (verdict == POOL_FREED)
        rb_str(&b, ": double free");
    else
        rb_str(&b, ": invalid pointer");
    pool_die(s, rb_cstr(&b), p,
             verdict == POOL_FREED ? "the object is already free"
             : verdict == POOL_INTERIOR ? "not the start of an object"
                                        : "not an object of this set");
}

/* ---- the public get and put ---- */

/* c when it may cache for s (attaching it on first use), else NULL. */
static struct pool_cache *cache_for(struct pool_classes *s, struct pool_cache *c)
{
    if (c == NULL)
        return NULL;
    if (c->set == NULL)
        pool_classes_cache_attach(s, c);
    return c->set == s ? c : NULL;
}

void *pool_classes_get(struct pool_classes *s, struct pool_cache *c, int cls)
{
    if (cls < 0 || (unsigned)cls >= s->nclasses)
        return NULL;
    unsigned v = (unsigned)cls + 1;
    c = cache_for(s, c);
    void *p;
    if (c != NULL && (pool_fast_get(s, c, v, &p) || pool_swap_get(c, v, &p)))
        return p;
    return pool_get_slow(s, c, v);
}

void pool_classes_put(struct pool_classes *s, struct pool_cache *c, void *ptr)
{
    c = cache_for(s, c);
    size_t v;
    int r = c != NULL ? pool_fast_put(s, c, ptr, &v) : POOL_FAST_SLOW;
    if (r == POOL_FAST_DONE || (r == POOL_FAST_FULL && pool_swap_put(s, c, ptr, (unsigned)v)))
        return;
    r = pool_put_slow(s, c, ptr);
    if (r <= 0)
        pool_misuse(s, "pool_classes_put()", ptr, r);
}
