/* test_classes.c - size-classed pool sets (pool/classes.h): one Check suite,
 * "classes".
 *
 * Class choice for a table of sizes, creation errors, sorting, ownership from
 * the address alone, alignment, exhaustion and the per-class figures with and
 * without a thread cache, cache attach/detach and its bound, CHECKED-mode
 * misuse (double put, invalid pointer, write after put) dying with SIGABRT and
 * a message, and a threaded stress run with per-thread caches.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pool/classes_internal.h" /* the layout, for the fast pair and the checks */
#include "tests/stress.h"
#include "tests/checkutil.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static size_t stride_of(size_t size)
{
    return (size + POOL_GRANULE - 1) & ~(size_t)(POOL_GRANULE - 1);
}

static struct pool_classes *create(const struct pool_class_spec *spec, size_t n,
                                   unsigned flags)
{
    errno = 0;
    struct pool_classes *s = pool_classes_create(spec, n, flags, NULL);
    ck_assert_msg(s != NULL, "pool_classes_create: %s", strerror(errno));
    return s;
}

static struct pool_class_stats stats(struct pool_classes *s, int cls)
{
    struct pool_class_stats st;
    memset(&st, 0xff, sizeof st);
    pool_classes_stats(s, cls, &st);
    return st;
}

/* Take every object of class cls through cache c (NULL: uncached), asserting
 * there are exactly `count` and that the next get is NULL; sorted by address.
 * The caller frees the array. */
static void **take_all_sorted(struct pool_classes *s, struct pool_cache *c,
                              int cls, size_t count)
{
    void **obj = calloc(count, sizeof *obj);
    ck_assert_ptr_nonnull(obj);
    for (size_t i = 0; i < count; i++) {
        obj[i] = pool_classes_get(s, c, cls);
        ck_assert_msg(obj[i] != NULL, "class %d: get %zu of %zu returned NULL",
                      cls, i + 1, count);
    }
    ck_assert_ptr_null(pool_classes_get(s, c, cls));
    qsort(obj, count, sizeof *obj, tu_cmp_ptr);
    for (size_t i = 1; i < count; i++)
        ck_assert_ptr_ne(obj[i], obj[i - 1]);
    return obj;
}

static void put_all(struct pool_classes *s, struct pool_cache *c, void **obj,
                    size_t count)
{
    for (size_t i = 0; i < count; i++)
        pool_classes_put(s, c, obj[i]);
}

/* How many objects of cls an uncached get can have right now (they go back
 * at once). */
static size_t uncached_gettable(struct pool_classes *s, int cls, size_t count)
{
    void **obj = calloc(count + 1, sizeof *obj);
    ck_assert_ptr_nonnull(obj);
    size_t n = 0;
    while (n <= count && (obj[n] = pool_classes_get(s, NULL, cls)) != NULL)
        n++;
    put_all(s, NULL, obj, n);
    free(obj);
    return n;
}

/* ---- class choice ---- */

/* Deliberately unsorted. Sorted: 16 32 48 64 100 128 256 1000 4096 65536. */
static const struct pool_class_spec lookup_spec[] = {
    {4096, 8}, {16, 64}, {100, 20}, {64, 32}, {1000, 10},
    {32, 64},  {65536, 2}, {48, 40}, {256, 16}, {128, 16},
};
static const size_t lookup_sorted[] = {16, 32, 48, 64, 100, 128, 256, 1000, 4096, 65536};
static const size_t lookup_counts[] = {64, 64, 40, 32, 20, 16, 16, 10, 8, 2};

static const struct {
    size_t n;
    int cls;
} lookup_table[] = {
    {0, 0},       {1, 0},       {15, 0},       {16, 0},     {17, 1},
    {31, 1},      {32, 1},      {33, 2},       {47, 2},     {48, 2},
    {49, 3},      {63, 3},      {64, 3},       {65, 4},     {99, 4},
    {100, 4},     {101, 5},     {127, 5},      {128, 5},    {129, 6},
    {255, 6},     {256, 6},     {257, 7},      {999, 7},    {1000, 7},
    {1001, 8},    {4095, 8},    {4096, 8},     {4097, 9},   {65535, 9},
    {65536, 9},   {65537, -1},  {65552, -1},   {1u << 20, -1},
    {SIZE_MAX / 2 + 1, -1},     {SIZE_MAX - 15, -1},        {SIZE_MAX, -1},
};

START_TEST(lookup_sizes)
{
    struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), 0);
    size_t n = lookup_table[_i].n;
    int got = pool_classes_lookup(s, n);
    ck_assert_msg(got == lookup_table[_i].cls, "lookup(%zu) = %d, expected %d", n,
                  got, lookup_table[_i].cls);
    if (got >= 0)
        ck_assert_uint_ge(pool_classes_size(s, got), n);
    pool_classes_destroy(s);
}
END_TEST

/* Every n from 0 to past the largest class against a linear scan. */
START_TEST(lookup_matches_linear_scan)
{
    struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), 0);
    unsigned nc = pool_classes_count(s);
    for (size_t n = 0; n <= 65536 + 64; n++) {
        int want = -1;
        for (unsigned c = 0; c < nc; c++)
            if (pool_classes_size(s, (int)c) >= (n ? n : 1)) {
                want = (int)c;
                break;
            }
        int got = pool_classes_lookup(s, n);
        ck_assert_msg(got == want, "lookup(%zu) = %d, expected %d", n, got, want);
    }
    pool_classes_destroy(s);
}
END_TEST

START_TEST(lookup_size_max_class)
{
    const struct pool_class_spec spec[] = {{POOL_CLASS_SIZE_MAX, 1}, {16, 1}};
    struct pool_classes *s = create(spec, 2, 0);
    ck_assert_int_eq(pool_classes_lookup(s, 16), 0);
    ck_assert_int_eq(pool_classes_lookup(s, 17), 1);
    ck_assert_int_eq(pool_classes_lookup(s, POOL_CLASS_SIZE_MAX - 1), 1);
    ck_assert_int_eq(pool_classes_lookup(s, POOL_CLASS_SIZE_MAX), 1);
    ck_assert_int_eq(pool_classes_lookup(s, POOL_CLASS_SIZE_MAX + 1), -1);
    ck_assert_int_eq(pool_classes_lookup(s, SIZE_MAX), -1);
    void *o = pool_classes_get(s, NULL, 1);
    ck_assert_ptr_nonnull(o);
    memset(o, 1, POOL_CLASS_SIZE_MAX); /* all of it is usable */
    pool_classes_put(s, NULL, o);
    pool_classes_destroy(s);
}
END_TEST

/* ---- creation ---- */

START_TEST(create_sorts_classes)
{
    struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), 0);
    ck_assert_uint_eq(pool_classes_count(s), N_ELEMS(lookup_spec));
    for (unsigned c = 0; c < pool_classes_count(s); c++) {
        ck_assert_uint_eq(pool_classes_size(s, (int)c), lookup_sorted[c]);
        if (c > 0)
            ck_assert_uint_gt(pool_classes_size(s, (int)c), pool_classes_size(s, (int)c - 1));
        struct pool_class_stats st = stats(s, (int)c);
        ck_assert_uint_eq(st.size, lookup_sorted[c]);
        ck_assert_uint_eq(st.stride, stride_of(lookup_sorted[c]));
        ck_assert_uint_eq(st.capacity, lookup_counts[c]); /* pairs kept */
        ck_assert_uint_eq(st.available, lookup_counts[c]);
        ck_assert_uint_eq(st.in_use, 0);
        ck_assert_uint_eq(st.peak_out, 0);
        ck_assert_uint_eq(st.misses, 0);
    }
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

START_TEST(create_max_classes)
{
    struct pool_class_spec spec[POOL_CLASSES_MAX];
    for (int i = 0; i < POOL_CLASSES_MAX; i++)
        spec[i] = (struct pool_class_spec){16 * (size_t)(POOL_CLASSES_MAX - i), 2};
    struct pool_classes *s = create(spec, POOL_CLASSES_MAX, 0);
    ck_assert_uint_eq(pool_classes_count(s), POOL_CLASSES_MAX);
    for (int i = 0; i < POOL_CLASSES_MAX; i++) {
        ck_assert_uint_eq(pool_classes_size(s, i), 16 * (size_t)(i + 1));
        ck_assert_int_eq(pool_classes_lookup(s, 16 * (size_t)(i + 1)), i);
    }
    ck_assert_int_eq(pool_classes_lookup(s, 16 * POOL_CLASSES_MAX + 1), -1);
    pool_classes_destroy(s);
}
END_TEST

static struct pool_class_spec too_many[POOL_CLASSES_MAX + 1];
static const struct pool_class_spec one_ok[] = {{64, 4}};
static const struct pool_class_spec size0[] = {{64, 4}, {0, 4}};
static const struct pool_class_spec count0[] = {{64, 4}, {128, 0}};
static const struct pool_class_spec duplicate[] = {{64, 4}, {128, 4}, {64, 8}};
static const struct pool_class_spec same_stride[] = {{60, 4}, {64, 4}};
static const struct pool_class_spec same_stride2[] = {{17, 4}, {32, 4}};
static const struct pool_class_spec too_big[] = {{64, 4}, {POOL_CLASS_SIZE_MAX + 1, 1}};
static const struct pool_class_spec class_over_4g[] = {{POOL_CLASS_SIZE_MAX, 4097}};

static const struct {
    const char *what;
    const struct pool_class_spec *spec;
    size_t n;
} bad_specs[] = {
    {"0 classes", one_ok, 0},
    {"NULL spec", NULL, 1},
    {"more than POOL_CLASSES_MAX", too_many, POOL_CLASSES_MAX + 1},
    {"size 0", size0, 2},
    {"count 0", count0, 2},
    {"duplicate size", duplicate, 3},
    {"60 and 64 share a stride", same_stride, 2},
    {"17 and 32 share a stride", same_stride2, 2},
    {"size above POOL_CLASS_SIZE_MAX", too_big, 2},
    {"class above POOL_CLASS_BYTES_MAX", class_over_4g, 1},
};

START_TEST(create_rejects_bad_spec)
{
    for (int i = 0; i <= POOL_CLASSES_MAX; i++)
        too_many[i] = (struct pool_class_spec){16 * (size_t)(i + 1), 1};
    long vm = tu_vm_size_kb();
    ck_assert_int_gt(vm, 0);
    int mlock_err = -1;
    errno = 0;
    struct pool_classes *s =
        pool_classes_create(bad_specs[_i].spec, bad_specs[_i].n, 0, &mlock_err);
    int err = errno;
    ck_assert_msg(s == NULL, "%s: created", bad_specs[_i].what);
    ck_assert_msg(err == EINVAL, "%s: errno %d (%s)", bad_specs[_i].what, err, strerror(err));
    ck_assert_int_eq(tu_vm_size_kb(), vm);
}
END_TEST

START_TEST(create_destroy_leaks_nothing)
{
    pool_classes_destroy(create(lookup_spec, N_ELEMS(lookup_spec), 0));
    long vm = tu_vm_size_kb();
    pool_classes_destroy(NULL); /* ignored */
    ck_assert_int_eq(tu_vm_size_kb(), vm);
    ck_assert_int_gt(vm, 0);
    for (unsigned flags = 0; flags < 16; flags++) {
        if (flags & POOL_CLASSES_MLOCK)
            continue;
        struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), flags);
        ck_assert_ptr_nonnull(pool_classes_get(s, NULL, 3));
        pool_classes_destroy(s);
    }
    ck_assert_int_eq(tu_vm_size_kb(), vm);
}
END_TEST

/* ---- ownership ---- */

static const struct pool_class_spec own_spec[] = {{100, 5}, {48, 10}, {4096, 3}, {64, 8}};

/* free's fast test (one multiply, one comparison with mlimit) says "an
 * object start, handed out at least once" exactly, for strides that are
 * powers of two and strides that are not, up to the largest class: every
 * offset around each class's first objects, its frontier, its last object
 * and its padding, then random offsets over the whole span, against the
 * definition. A zeroed cache is not attached: a pointer that passes the
 * checks comes back POOL_FAST_FULL, and nothing is written. */
static const struct pool_class_spec fast_spec[] = {
    {16, 40}, {48, 30}, {64, 20}, {100, 20}, {1000, 9}, {4096, 5}, {POOL_CLASS_SIZE_MAX, 3}};

static int fast_expected(const struct pool_classes *s, uintptr_t off)
{
    const struct pool_class *k = &s->cls[off >> s->shift];
    uintptr_t first = (uintptr_t)(k->base - s->base);
    if (off < first || (off - first) % k->stride != 0)
        return POOL_FAST_SLOW; /* the padding, or inside an object */
    uintptr_t i = (off - first) / k->stride;
    if (i >= atomic_load(&k->frontier))
        return POOL_FAST_SLOW; /* never handed out, or past the last */
    return *(const uint64_t *)(s->base + off) == s->key ? POOL_FAST_SLOW : POOL_FAST_FULL;
}

static void fast_agrees(struct pool_classes *s, uintptr_t off, unsigned *passed)
{
    struct pool_cache c;
    memset(&c, 0, sizeof c);
    size_t v = 0;
    int want = fast_expected(s, off);
    int got = pool_fast_put(s, &c, s->base + off, &v);
    ck_assert_msg(got == want, "offset %#lx (class %lu): %d, not %d", (unsigned long)off,
                  (unsigned long)(off >> s->shift), got, want);
    if (got == POOL_FAST_FULL) {
        ck_assert_uint_eq(v, (off >> s->shift) + 1);
        (*passed)++;
    }
}

START_TEST(fast_put_checks_exactly)
{
    struct pool_classes *s = create(fast_spec, N_ELEMS(fast_spec), POOL_CLASSES_NOCACHE);
    unsigned nc = pool_classes_count(s), passed = 0, out = 0;
    for (unsigned c = 0; c < nc; c++) { /* about half handed out, two back */
        const struct pool_class *k = &s->cls[c];
        void *held[64];
        unsigned n = (k->count + 1) / 2;
        for (unsigned i = 0; i < n; i++)
            ck_assert_ptr_nonnull(held[i] = pool_classes_get(s, NULL, (int)c));
        pool_classes_put(s, NULL, held[0]);
        pool_classes_put(s, NULL, held[n - 1]);
        out += n - 2;
    }
    for (unsigned c = 0; c < nc; c++) {
        const struct pool_class *k = &s->cls[c];
        uintptr_t slice = (uintptr_t)c << s->shift, first = (uintptr_t)(k->base - s->base);
        uintptr_t f = first + (uintptr_t)atomic_load(&k->frontier) * k->stride;
        uintptr_t last = first + (uintptr_t)(k->count - 1) * k->stride;
        uintptr_t around[] = {slice, first, f - k->stride, f, last, last + k->stride};
        for (size_t a = 0; a < N_ELEMS(around); a++)
            for (uintptr_t o = around[a] < 256 + slice ? slice : around[a] - 256;
                 o < around[a] + 256 && o < s->span; o++)
                fast_agrees(s, o, &passed);
        for (uintptr_t o = slice; o < first; o += 8) /* the padding */
            fast_agrees(s, o, &passed);
        for (unsigned i = 0; i < k->count; i++) /* every object start */
            fast_agrees(s, first + (uintptr_t)i * k->stride, &passed);
    }
    ck_assert_uint_ge(passed, out); /* each held object at least once */
    uint64_t seed = 0x9e3779b97f4a7c15u;
    for (int i = 0; i < 200000; i++)
        fast_agrees(s, tu_xorshift64(&seed) % s->span, &passed);
    pool_classes_destroy(s);
}
END_TEST

START_TEST(owner_from_address)
{
    struct pool_classes *s = create(own_spec, N_ELEMS(own_spec), POOL_CLASSES_NOCACHE);
    unsigned nc = pool_classes_count(s);
    void **obj[N_ELEMS(own_spec)];
    size_t count[N_ELEMS(own_spec)];
    for (unsigned c = 0; c < nc; c++) {
        count[c] = stats(s, (int)c).capacity;
        obj[c] = take_all_sorted(s, NULL, (int)c, count[c]);
    }
    /* class i's slice starts at base + i * region, region a power of two, and
     * its first object is the first multiple of its stride (from base) there */
    uintptr_t base = (uintptr_t)obj[0][0];
    uintptr_t region = (uintptr_t)obj[1][0] - base;
    ck_assert_uint_eq(region & (region - 1), 0);
    ck_assert_uint_ge(region, tu_page_size());
    char *end = (char *)(base + nc * region);

    for (unsigned c = 0; c < nc; c++) {
        size_t size = pool_classes_size(s, (int)c), stride = stride_of(size);
        char *first = obj[c][0], *slice = (char *)(base + c * region);
        ck_assert_uint_eq((uintptr_t)first - base, (c * region + stride - 1) / stride * stride);
        if (c > 0 && (stride & (stride - 1)))
            ck_assert_ptr_ne(first, slice); /* 100's stride 112 here */
        for (char *pad = slice; pad < first; pad += 8) /* the padding */
            ck_assert_int_eq(pool_classes_owner(s, pad), POOL_INTERIOR);
        for (size_t i = 0; i < count[c]; i++) {
            char *o = obj[c][i];
            ck_assert_ptr_eq(o, first + i * stride);
            ck_assert_int_eq(pool_classes_owner(s, o), (int)c);
            ck_assert_int_eq(pool_classes_owner(s, o + 1), POOL_INTERIOR);
            ck_assert_int_eq(pool_classes_owner(s, o + 8), POOL_INTERIOR);
            ck_assert_int_eq(pool_classes_owner(s, o + stride - 1), POOL_INTERIOR);
            if (size < stride)
                ck_assert_int_eq(pool_classes_owner(s, o + size), POOL_INTERIOR);
        }
        /* the unused tail of the class's region */
        char *tail = first + count[c] * stride;
        ck_assert_uint_lt((uintptr_t)tail, (uintptr_t)slice + region);
        ck_assert_int_eq(pool_classes_owner(s, tail), POOL_INTERIOR);
        ck_assert_int_eq(pool_classes_owner(s, slice + region - 1), POOL_INTERIOR);
    }
    ck_assert_int_eq(pool_classes_owner(s, (char *)base - 1), POOL_NOT_OURS);
    ck_assert_int_eq(pool_classes_owner(s, (char *)base - region), POOL_NOT_OURS);
    ck_assert_int_eq(pool_classes_owner(s, end - 1), POOL_INTERIOR);
    ck_assert_int_eq(pool_classes_owner(s, end), POOL_NOT_OURS);
    ck_assert_int_eq(pool_classes_owner(s, end + region), POOL_NOT_OURS);
    ck_assert_int_eq(pool_classes_owner(s, NULL), POOL_NOT_OURS);
    ck_assert_int_eq(pool_classes_owner(s, (void *)UINTPTR_MAX), POOL_NOT_OURS);
    int local;
    ck_assert_int_eq(pool_classes_owner(s, &local), POOL_NOT_OURS);
    void *m = malloc(64);
    ck_assert_int_eq(pool_classes_owner(s, m), POOL_NOT_OURS);
    free(m);
    /* another set's objects are not ours, and ours not its */
    struct pool_classes *t = create(own_spec, N_ELEMS(own_spec), POOL_CLASSES_NOCACHE);
    void *o = pool_classes_get(t, NULL, 0);
    ck_assert_int_eq(pool_classes_owner(t, o), 0);
    ck_assert_int_eq(pool_classes_owner(s, o), POOL_NOT_OURS);
    ck_assert_int_eq(pool_classes_owner(t, obj[0][0]), POOL_NOT_OURS);
    pool_classes_destroy(t);

    for (unsigned c = 0; c < nc; c++) {
        put_all(s, NULL, obj[c], count[c]);
        for (size_t i = 0; i < count[c]; i++) /* free or not */
            ck_assert_int_eq(pool_classes_owner(s, obj[c][i]), (int)c);
        free(obj[c]);
    }
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* ---- alignment ---- */

START_TEST(alignment)
{
    const struct pool_class_spec spec[] = {
        {16, 8}, {48, 8}, {64, 8}, {100, 8}, {192, 4}, {4096, 4}, {65536, 2}, {640, 5},
    };
    struct pool_classes *s = create(spec, N_ELEMS(spec), POOL_CLASSES_NOCACHE);
    for (unsigned c = 0; c < pool_classes_count(s); c++) {
        size_t size = pool_classes_size(s, (int)c), stride = stride_of(size);
        size_t align = pool_classes_align(s, (int)c);
        size_t low = stride & -stride;
        size_t want = low < tu_page_size() ? low : tu_page_size();
        ck_assert_uint_eq(align & (align - 1), 0);
        ck_assert_uint_ge(align, alignof(max_align_t));
        ck_assert_uint_ge(align, want);
        ck_assert_uint_eq(stats(s, (int)c).align, align);
        size_t count = stats(s, (int)c).capacity;
        void **obj = take_all_sorted(s, NULL, (int)c, count);
        for (size_t i = 0; i < count; i++) {
            uintptr_t a = (uintptr_t)obj[i];
            ck_assert_uint_eq(a % align, 0);
            ck_assert_uint_eq(a % alignof(max_align_t), 0);
            if (size == 64)
                ck_assert_uint_eq(a % 64, 0);
            if (size == 192)
                ck_assert_uint_eq(a % 64, 0);
            if (size >= 4096)
                ck_assert_uint_eq(a % tu_page_size(), 0);
        }
        put_all(s, NULL, obj, count);
        free(obj);
    }
    pool_classes_destroy(s);
}
END_TEST

/* ---- exhaustion and figures ---- */

enum { MODE_NOCACHE, MODE_CACHED, MODES };

START_TEST(exhaust_and_stats)
{
    const struct pool_class_spec spec[] = {{32, 100}, {256, 40}, {4096, 16}};
    unsigned flags = _i == MODE_NOCACHE ? POOL_CLASSES_NOCACHE : 0;
    struct pool_classes *s = create(spec, N_ELEMS(spec), flags);
    struct pool_cache *c = NULL;
    if (_i == MODE_CACHED) {
        c = pool_cache_create();
        ck_assert_ptr_nonnull(c);
        pool_classes_cache_attach(s, c);
    }
    for (int k = 0; k < (int)N_ELEMS(spec); k++) {
        size_t count = spec[k].count;
        void **obj = calloc(count, sizeof *obj);
        ck_assert_ptr_nonnull(obj);
        for (size_t i = 0; i < count; i++) {
            obj[i] = pool_classes_get(s, c, k);
            ck_assert_msg(obj[i] != NULL, "class %d: get %zu of %zu NULL", k, i + 1, count);
            ck_assert_int_eq(pool_classes_owner(s, obj[i]), k);
            struct pool_class_stats st = stats(s, k);
            ck_assert_uint_eq(st.in_use, i + 1);
            ck_assert_uint_eq(st.available, count - i - 1);
            ck_assert_uint_eq(pool_classes_available(s, k), count - i - 1);
        }
        for (int miss = 1; miss <= 3; miss++) {
            ck_assert_ptr_null(pool_classes_get(s, c, k));
            ck_assert_uint_eq(stats(s, k).misses, (uint64_t)miss);
        }
        struct pool_class_stats st = stats(s, k);
        ck_assert_uint_eq(st.capacity, count);
        ck_assert_uint_eq(st.available, 0);
        ck_assert_uint_eq(st.in_use, count);
        ck_assert_uint_eq(st.peak_out, count);
        ck_assert_uint_eq(st.misses, 3);
        ck_assert(pool_classes_check(s));
        /* the other classes are untouched */
        for (int j = k + 1; j < (int)N_ELEMS(spec); j++)
            ck_assert_uint_eq(pool_classes_available(s, j), spec[j].count);

        for (size_t i = 0; i < count; i++) {
            pool_classes_put(s, c, obj[i]);
            ck_assert_uint_eq(pool_classes_available(s, k), i + 1);
        }
        st = stats(s, k);
        ck_assert_uint_eq(st.available, count);
        ck_assert_uint_eq(st.in_use, 0);
        ck_assert_uint_eq(st.misses, 3);
        ck_assert_uint_eq(st.peak_out, count);
        ck_assert(pool_classes_check(s));
        free(obj);
    }
    if (c != NULL) {
        pool_classes_cache_detach(s, c);
        for (int k = 0; k < (int)N_ELEMS(spec); k++) {
            struct pool_class_stats st = stats(s, k); /* folded into the set */
            ck_assert_uint_eq(st.available, spec[k].count);
            ck_assert_uint_eq(st.misses, 3);
            ck_assert_uint_eq(uncached_gettable(s, k, spec[k].count), spec[k].count);
        }
        pool_cache_destroy(c);
    }
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* ---- caches ---- */

START_TEST(cache_attach_detach)
{
    enum { COUNT = 256, FEW = 5 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, 0);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    pool_classes_cache_attach(s, c);

    void *few[FEW];
    for (int i = 0; i < FEW; i++)
        ck_assert_ptr_nonnull(few[i] = pool_classes_get(s, c, 0));
    put_all(s, c, few, FEW);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    ck_assert(pool_classes_check(s));

    /* The cache holds at least the FEW it was given back: the depot lacks
     * them, and at most its bound. */
    size_t depot = uncached_gettable(s, 0, COUNT);
    ck_assert_uint_le(depot, COUNT - FEW);
    ck_assert_uint_ge(depot, COUNT - pool_classes_cache_bound(s, 0));
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);

    pool_classes_cache_detach(s, c);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT); /* all returned */
    ck_assert(pool_classes_check(s));

    /* Detached: its next use attaches it again, and it takes a magazine. */
    void *x = pool_classes_get(s, c, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT - 1);
    ck_assert_uint_lt(uncached_gettable(s, 0, COUNT), COUNT - 1);
    pool_classes_put(s, c, x);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    pool_cache_destroy(c); /* detaches: everything back */
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* A cache attached to one set is not used for another: calls on the other
 * go uncached, and nothing mixes. */
START_TEST(cache_serves_one_set)
{
    enum { COUNT = 256 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, 0), *t = create(spec, 1, 0);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    /* every object handed out once: the depots hold them (a class hands out
     * objects never used one at a time, not in magazines) */
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    ck_assert_uint_eq(uncached_gettable(t, 0, COUNT), COUNT);
    void *x = pool_classes_get(s, c, 0), *y = pool_classes_get(t, c, 0);
    ck_assert_int_eq(pool_classes_owner(s, x), 0);
    ck_assert_int_eq(pool_classes_owner(t, y), 0);
    ck_assert_uint_eq(uncached_gettable(t, 0, COUNT), COUNT - 1); /* t: uncached */
    ck_assert_uint_lt(uncached_gettable(s, 0, COUNT), COUNT - 1); /* s: a magazine */
    pool_classes_put(t, c, y);
    pool_classes_put(s, c, x);
    pool_cache_destroy(c);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    ck_assert_uint_eq(uncached_gettable(t, 0, COUNT), COUNT);
    ck_assert(pool_classes_check(s) && pool_classes_check(t));
    pool_classes_destroy(s);
    pool_classes_destroy(t);
}
END_TEST

/* One snapshot gives what pool_classes_stats gives; without waiting it
 * refuses (EBUSY) while the set's lock is held. */
START_TEST(snapshot_matches_stats)
{
    struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), 0);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    void *x = pool_classes_get(s, c, 2), *y = pool_classes_get(s, NULL, 5);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    void *z[2] = {pool_classes_get(s, NULL, 9), pool_classes_get(s, NULL, 9)};
    ck_assert_ptr_nonnull(z[1]);
    ck_assert_ptr_null(pool_classes_get(s, NULL, 9)); /* a miss */
    ck_assert_ptr_null(pool_classes_get(s, c, 9));    /* a miss, counted in c */
    unsigned nc = pool_classes_count(s);
    struct pool_class_stats snap[POOL_CLASSES_MAX];
    ck_assert_int_eq(pool_classes_snapshot(s, snap, true), 0);
    for (unsigned k = 0; k < nc; k++) {
        struct pool_class_stats st = stats(s, (int)k);
        ck_assert_int_eq(memcmp(&st, &snap[k], sizeof st), 0);
    }
    ck_assert_uint_eq(snap[2].in_use, 1);
    ck_assert_uint_eq(snap[5].in_use, 1);
    ck_assert_uint_eq(snap[9].misses, 2);
    ck_assert_uint_eq(snap[9].available, 0);
    ck_assert_int_eq(pool_classes_snapshot(s, snap, false), 0);

    pool_classes_fork_prepare(s); /* holds the lock */
    errno = 0;
    ck_assert_int_eq(pool_classes_snapshot(s, snap, false), -1);
    ck_assert_int_eq(errno, EBUSY);
    pool_classes_fork_parent(s);
    ck_assert_int_eq(pool_classes_snapshot(s, snap, false), 0);

    pool_classes_put(s, c, x);
    pool_classes_put(s, NULL, y);
    put_all(s, NULL, z, 2);
    pool_cache_destroy(c);
    ck_assert_uint_eq(stats(s, 9).misses, 2); /* c's folded into the set */
    pool_classes_destroy(s);
}
END_TEST

START_TEST(cache_on_nocache_set_stays_uncached)
{
    enum { COUNT = 256 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, POOL_CLASSES_NOCACHE);
    ck_assert_uint_eq(pool_classes_cache_bound(s, 0), 0);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    pool_classes_cache_attach(s, c);
    void *x = pool_classes_get(s, c, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT - 1);
    pool_classes_put(s, c, x);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    pool_cache_destroy(c);
    pool_classes_destroy(s);
}
END_TEST

/* classes.h: a thread's cache holds at most pool_classes_cache_bound()
 * objects of a class (two magazines), whatever it gets and puts; the bound
 * is at most a quarter of the class, and 0 for tiny classes. */
static const size_t bounded_counts[] = {8, 15, 16, 17, 31, 32, 48, 64, 100, 512, 513, 1024, 4096};

START_TEST(cache_bounded)
{
    size_t count = bounded_counts[_i];
    const struct pool_class_spec spec[] = {{64, count}};
    struct pool_classes *s = create(spec, 1, 0);
    size_t cap = pool_classes_cache_bound(s, 0);
    ck_assert_uint_le(cap, count / 4);
    ck_assert_uint_eq(stats(s, 0).rounds * 2, cap);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    pool_classes_cache_attach(s, c);
    for (size_t held = 1; held <= count; held = held * 2 + 1) {
        void **obj = calloc(held, sizeof *obj);
        ck_assert_ptr_nonnull(obj);
        for (size_t i = 0; i < held; i++)
            ck_assert_ptr_nonnull(obj[i] = pool_classes_get(s, c, 0));
        put_all(s, c, obj, held);
        size_t cached = count - uncached_gettable(s, 0, count);
        ck_assert_msg(cached <= cap, "count %zu, %zu held and put back: the cache keeps "
                      "%zu objects, more than its bound %zu", count, held, cached, cap);
        ck_assert_uint_eq(pool_classes_available(s, 0), count);
        free(obj);
    }
    ck_assert(pool_classes_check(s));
    pool_cache_destroy(c);
    pool_classes_destroy(s);
}
END_TEST

/* The point of two magazines: a thread whose gets and puts walk back and
 * forth around a magazine's edge goes to the depot once, not every few
 * calls. Walks: alternate get/put, and a random walk kept within +-rounds/2
 * of where it started. */
START_TEST(magazines_absorb_a_walk_at_the_edge)
{
    enum { COUNT = 8192, STEPS = 200000 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, 0);
    size_t rounds = stats(s, 0).rounds;
    ck_assert_uint_ge(rounds, 64);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    void **obj = calloc(COUNT, sizeof *obj);
    ck_assert_ptr_nonnull(obj);
    size_t n = 0;
    /* exactly one magazine's worth out: the loaded magazine is at its edge */
    while (n < rounds)
        ck_assert_ptr_nonnull(obj[n++] = pool_classes_get(s, c, 0));
    uint64_t before = stats(s, 0).exchanges;
    uint64_t rng = 12345;
    size_t lo = n - rounds / 2, hi = n + rounds / 2;
    for (int i = 0; i < STEPS; i++) {
        bool get = _i == 0 ? (i & 1) == 0 : (tu_xorshift64(&rng) & 1) != 0;
        if ((get && n < hi) || n <= lo)
            ck_assert_ptr_nonnull(obj[n++] = pool_classes_get(s, c, 0));
        else
            pool_classes_put(s, c, obj[--n]);
    }
    uint64_t exchanges = stats(s, 0).exchanges - before;
    ck_assert_msg(exchanges <= 2, "%llu depot exchanges in %d calls at a magazine's edge",
                  (unsigned long long)exchanges, STEPS);
    put_all(s, c, obj, n);
    pool_cache_destroy(c);
    ck_assert(pool_classes_check(s));
    free(obj);
    pool_classes_destroy(s);
}
END_TEST

/* A cache that finds the depot empty takes never-used objects a page at a
 * time (at most an eighth of those left): the next cache starts after them.
 * Those it holds but never handed out are free objects: a put of one is a
 * double free, as is a put of one the frontier never reached. */
START_TEST(frontier_taken_a_page_at_a_time)
{
    static const size_t counts[] = {1024, 64};
    size_t count = counts[_i], page = tu_page_size(), stride = 64;
    size_t run = page / stride < count / 8 ? page / stride : count / 8;
    const struct pool_class_spec spec[] = {{64, count}};
    struct pool_classes *s = create(spec, 1, 0);
    ck_assert_uint_ge(stats(s, 0).rounds, run);
    struct pool_cache *a = pool_cache_create(), *b = pool_cache_create();
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    char *x = pool_classes_get(s, a, 0), *y = pool_classes_get(s, b, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_eq(y, x + run * stride); /* a holds x's run */
    size_t left = count - run, run_b = page / stride < left / 8 ? page / stride : left / 8;
    ck_assert_int_eq(pool_which(s, x), 1);
    ck_assert_int_eq(pool_which(s, y), 1);
    ck_assert_int_eq(pool_which(s, x + stride), POOL_FREED);          /* in a's magazine */
    ck_assert_int_eq(pool_which(s, y + stride), POOL_FREED);          /* in b's */
    ck_assert_int_eq(pool_which(s, y + run_b * stride), POOL_FREED);  /* never reached */
    ck_assert_int_eq(pool_which(s, x + 8), POOL_INTERIOR);
    ck_assert_uint_eq(pool_classes_available(s, 0), count - 2);
    ck_assert(pool_classes_check(s));
    /* a's run serves a's next gets, in address order, without another trip */
    uint64_t ex = stats(s, 0).exchanges;
    for (size_t i = 1; i < run; i++)
        ck_assert_ptr_eq(pool_classes_get(s, a, 0), x + i * stride);
    ck_assert_uint_eq(stats(s, 0).exchanges, ex);
    pool_cache_destroy(a);
    pool_cache_destroy(b);
    ck_assert_uint_eq(pool_classes_available(s, 0), count - run - 1);
    pool_classes_destroy(s);
}
END_TEST

/* The swap paths alone: a cache whose loaded magazine is empty (get) or full
 * (put) and whose previous one helps swaps them, without the depot; else
 * they refuse and change nothing. */
START_TEST(swaps_without_the_depot)
{
    enum { COUNT = 8192 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, 0);
    size_t rounds = stats(s, 0).rounds, v = 0;
    ck_assert_uint_eq(rounds, 256);
    struct pool_cache *c = pool_cache_create();
    ck_assert_ptr_nonnull(c);
    void **obj = calloc(2 * rounds, sizeof *obj), *p;
    ck_assert_ptr_nonnull(obj);
    /* whole pages from the frontier: the loaded magazine ends empty, and
     * there is no previous one */
    for (size_t i = 0; i < 2 * rounds; i++)
        ck_assert_ptr_nonnull(obj[i] = pool_classes_get(s, c, 0));
    for (size_t i = 0; i < rounds; i++)
        ck_assert_int_eq(pool_fast_put(s, c, obj[i], &v), POOL_FAST_DONE);
    ck_assert_int_eq(pool_fast_put(s, c, obj[rounds], &v), POOL_FAST_FULL);
    ck_assert_uint_eq(v, 1);
    ck_assert(!pool_swap_put(s, c, obj[rounds], 1)); /* no previous magazine */
    ck_assert(!pool_swap_get(c, 1, &p));
    uint64_t ex = stats(s, 0).exchanges;
    ck_assert_int_eq(pool_put_slow(s, c, obj[rounds]), 1); /* an empty one, from the depot */
    ck_assert_uint_eq(stats(s, 0).exchanges, ex + 1);
    /* loaded: obj[rounds]; previous: full */
    ck_assert(pool_fast_get(s, c, 1, &p));
    ck_assert_ptr_eq(p, obj[rounds]);
    ck_assert(!pool_fast_get(s, c, 1, &p));
    ck_assert(pool_swap_get(c, 1, &p));
    ck_assert_ptr_eq(p, obj[rounds - 1]);
    ck_assert(!pool_swap_get(c, 1, &p)); /* the previous one is empty now */
    ck_assert_int_eq(pool_fast_put(s, c, obj[rounds - 1], &v), POOL_FAST_DONE);
    ck_assert_int_eq(pool_fast_put(s, c, obj[rounds], &v), POOL_FAST_FULL);
    ck_assert(pool_swap_put(s, c, obj[rounds], 1));
    ck_assert_int_eq(pool_which(s, obj[rounds]), POOL_FREED);
    ck_assert(pool_fast_get(s, c, 1, &p));
    ck_assert_ptr_eq(p, obj[rounds]);
    ck_assert_uint_eq(stats(s, 0).exchanges, ex + 1); /* the swaps went nowhere */
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT - rounds);
    put_all(s, c, obj + rounds, rounds);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    ck_assert(pool_classes_check(s));
    pool_cache_destroy(c);
    free(obj);
    pool_classes_destroy(s);
}
END_TEST

/* Objects go through magazines whole: a thread that frees what another
 * allocated returns full magazines, and the other takes them back, with
 * every object handed out once at a time. */
START_TEST(magazines_travel_between_caches)
{
    enum { COUNT = 4096, ROUNDS = 50 };
    const struct pool_class_spec spec[] = {{128, COUNT}};
    struct pool_classes *s = create(spec, 1, 0);
    struct pool_cache *a = pool_cache_create(), *b = pool_cache_create();
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    void **obj = calloc(COUNT, sizeof *obj);
    ck_assert_ptr_nonnull(obj);
    size_t most = COUNT - pool_classes_cache_bound(s, 0); /* b keeps some */
    for (int r = 0; r < ROUNDS; r++) {
        size_t n = (size_t)(COUNT / 2 + r * 37 % (most - COUNT / 2));
        for (size_t i = 0; i < n; i++)
            ck_assert_ptr_nonnull(obj[i] = pool_classes_get(s, a, 0));
        qsort(obj, n, sizeof *obj, tu_cmp_ptr);
        for (size_t i = 1; i < n; i++)
            ck_assert_ptr_ne(obj[i], obj[i - 1]);
        put_all(s, b, obj, n);
        ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    }
    ck_assert(pool_classes_check(s));
    pool_cache_destroy(b); /* gives back what it kept: a can have them all */
    void **all = take_all_sorted(s, a, 0, COUNT);
    put_all(s, a, all, COUNT);
    pool_cache_destroy(a);
    ck_assert(pool_classes_check(s));
    free(all);
    free(obj);
    pool_classes_destroy(s);
}
END_TEST

/* The pools write only the first 8 bytes of a free object (the key that
 * catches a double free; a get gives them back zeroed), and CHECKED poisons:
 * the rest of what a put object held is what the next get of it sees. */
START_TEST(objects_untouched)
{
    enum { COUNT = 512 };
    const struct pool_class_spec spec[] = {{48, COUNT}};
    struct pool_classes *s = create(spec, 1, 0);
    struct pool_cache *c = pool_cache_create();
    void **obj = take_all_sorted(s, c, 0, COUNT);
    for (size_t i = 0; i < COUNT; i++)
        memset(obj[i], (int)(i % 251) + 1, 48);
    put_all(s, c, obj, COUNT);
    pool_cache_destroy(c);
    void **again = take_all_sorted(s, NULL, 0, COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        ck_assert_ptr_eq(again[i], obj[i]);
        for (size_t j = 0; j < 48; j++)
            ck_assert_int_eq(((unsigned char *)obj[i])[j], j < 8 ? 0 : (int)(i % 251) + 1);
    }
    put_all(s, NULL, again, COUNT);
    free(obj);
    free(again);
    pool_classes_destroy(s);
}
END_TEST

/* pool_classes_footprint() tells what create reserves, exactly. */
START_TEST(footprint_is_what_create_reserves)
{
    for (unsigned flags = 0; flags < 16; flags++) {
        if (flags & POOL_CLASSES_MLOCK)
            continue;
        struct pool_classes_footprint f;
        ck_assert_int_eq(pool_classes_footprint(lookup_spec, N_ELEMS(lookup_spec), flags, &f), 0);
        long vm = tu_vm_size_kb();
        struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), flags);
        ck_assert_int_eq((tu_vm_size_kb() - vm) * 1024, (long)f.reserve);
        ck_assert_uint_ge(f.objects, 2 * 4096); /* every class's page */
        ck_assert_uint_le(f.touched, f.objects + f.meta);
        if (flags & (POOL_CLASSES_PREFAULT | POOL_CLASSES_CHECKED))
            ck_assert_uint_ge(f.touched, f.objects);
        else
            ck_assert_uint_lt(f.touched, f.objects);
        pool_classes_destroy(s);
    }
    struct pool_classes_footprint f;
    errno = 0;
    ck_assert_int_eq(pool_classes_footprint(size0, 2, 0, &f), -1);
    ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/* After fork, the child takes back what other threads' caches held; its
 * figures start afresh. Run in a forked child of the test. */
START_TEST(fork_child_takes_back_other_caches)
{
    enum { COUNT = 1024 };
    const struct pool_class_spec spec[] = {{64, COUNT}, {256, COUNT}};
    struct pool_classes *s = create(spec, 2, 0);
    struct pool_cache *self = pool_cache_create(), *other = pool_cache_create();
    void *mine = pool_classes_get(s, self, 0), *theirs[100];
    for (int i = 0; i < 100; i++)
        theirs[i] = pool_classes_get(s, other, i & 1);
    for (int i = 0; i < 50; i++)
        pool_classes_put(s, other, theirs[i]);
    ck_assert_ptr_null(pool_classes_get(s, NULL, 5)); /* a miss: class 5 does not exist */
    pool_classes_fork_prepare(s);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        pool_classes_fork_child(s, self);
        /* the 50 still out of `other` stay out (the child may still hold
         * them); everything other cached is free again, in the depot */
        int ok = pool_classes_available(s, 0) + pool_classes_available(s, 1) == 2 * COUNT - 51 &&
                 stats(s, 0).exchanges == 0 && pool_classes_check(s) &&
                 uncached_gettable(s, 1, COUNT) == COUNT - 25;
        _exit(ok ? 0 : 1);
    }
    pool_classes_fork_parent(s);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    pool_classes_put(s, self, mine);
    for (int i = 50; i < 100; i++)
        pool_classes_put(s, other, theirs[i]);
    pool_cache_destroy(self);
    pool_cache_destroy(other);
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* A set of all zeros (what the shim's fast paths see before start-up, in
 * static storage) fits no size and owns no pointer: a thread that reaches it
 * goes to its slow path for everything (issue 9.8: it used to map small sizes
 * to class 0, a 16-byte object for malloc(1000)). */
START_TEST(zeroed_set_fits_nothing)
{
    static struct pool_classes zero;
    static struct pool_cache cache; /* zeroed: never attached */
    for (size_t n = 0; n <= 4096; n++)
        ck_assert_uint_eq(pool_fast_class(&zero, n), 0);
    ck_assert_uint_eq(pool_fast_class(&zero, SIZE_MAX), 0);
    void *p = (void *)&cache;
    ck_assert(!pool_fast_get(&zero, &cache, 0, &p));
    size_t v = 99;
    int x;
    ck_assert_int_eq(pool_fast_put(&zero, &cache, &x, &v), POOL_FAST_NOT_OURS);
    ck_assert_int_eq(pool_fast_put(&zero, &cache, NULL, &v), POOL_FAST_NOT_OURS);
    ck_assert_uint_eq(v, 99);
    /* and a real set's cache, not yet attached, fails over the same way */
    struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), 0);
    void *o = pool_classes_get(s, NULL, 0);
    ck_assert(!pool_fast_get(s, &cache, pool_fast_class(s, 16), &p));
    ck_assert(!pool_swap_get(&cache, pool_fast_class(s, 16), &p));
    ck_assert_int_eq(pool_fast_put(s, &cache, o, &v), POOL_FAST_FULL);
    ck_assert_uint_eq(v, 1);
    ck_assert(!pool_swap_put(s, &cache, o, 1));
    static const struct pool_cache zeroed;
    ck_assert(memcmp(&cache, &zeroed, sizeof cache) == 0);
    pool_classes_put(s, NULL, o);
    pool_classes_destroy(s);
}
END_TEST

/* The integrity walk can fail: a free object whose key was overwritten (a
 * write after free) is caught, and so is a CHECKED state byte that lies. */
START_TEST(check_catches_a_broken_free_object)
{
    const struct pool_class_spec spec[] = {{64, 64}};
    struct pool_classes *s = create(spec, 1, 0);
    uint64_t *x = pool_classes_get(s, NULL, 0);
    ck_assert(pool_classes_check(s));
    pool_classes_put(s, NULL, x);
    ck_assert(pool_classes_check(s));
    uint64_t key = x[0];
    ck_assert_uint_ne(key, 0);
    x[0] = 7; /* a write after free */
    ck_assert(!pool_classes_check(s));
    x[0] = key;
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);

    s = create(spec, 1, POOL_CLASSES_CHECKED);
    x = pool_classes_get(s, NULL, 0);
    ck_assert(pool_classes_check(s));
    s->cls[0].state[0] = 0; /* handed out, but its state says free */
    ck_assert(!pool_classes_check(s));
    s->cls[0].state[0] = 1;
    pool_classes_put(s, NULL, x);
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* ---- misuse: always detected, in every mode ---- */

static const struct pool_class_spec misuse_spec[] = {{64, 8}, {128, 8}};
static const struct pool_class_spec cached_spec[] = {{64, 1024}, {128, 1024}};

enum misuse {
    DOUBLE_IMMEDIATE, DOUBLE_LATER, DOUBLE_OTHER_CACHE, DOUBLE_AFTER_DEPOT,
    DOUBLE_UNCACHED, NEVER_HANDED_OUT, INTERIOR, INTERIOR_NAMED, FOREIGN,
    CHECKED_DOUBLE, CHECKED_INTERIOR, CHECKED_WRITE_AFTER_PUT,
    MISUSE_KINDS
};

static const struct {
    const char *what, *prefix, *text;
} misuse_cases[] = {
    {"cached: put a; put a", "pool: ", "double free"},
    {"cached: put a; put b; put a", "pool: ", "double free"},
    {"put a through one cache, again through another", "pool: ", "double free"},
    {"put a, then a magazine's worth, then a again", "pool: ", "double free"},
    {"uncached: put a; put a", "pool: ", "double free"},
    {"put of an object never handed out", "pool: ", "double free"},
    {"interior pointer", "pool: ", "invalid pointer"},
    {"interior pointer, named set", "myalloc: ", "invalid pointer"},
    {"pointer outside the set", "pool: ", "invalid pointer"},
    {"CHECKED: put a; put a", "pool: ", "double free"},
    {"CHECKED: interior pointer", "pool: ", "invalid pointer"},
    {"CHECKED: write after put", "pool: ", "write after free"},
};

static void do_misuse(int kind, int addr_fd)
{
    bool checked = kind >= CHECKED_DOUBLE;
    struct pool_classes *s =
        checked ? pool_classes_create(misuse_spec, N_ELEMS(misuse_spec), POOL_CLASSES_CHECKED, NULL)
                : pool_classes_create(cached_spec, N_ELEMS(cached_spec), 0, NULL);
    struct pool_cache *c = pool_cache_create(), *d = pool_cache_create();
    if (s == NULL || c == NULL || d == NULL)
        _exit(2);
    if (kind == DOUBLE_UNCACHED)
        c = NULL;
    char *a = pool_classes_get(s, c, 1), *b = pool_classes_get(s, c, 1), *o = NULL;
    if (a == NULL || b == NULL)
        _exit(2);
    switch ((enum misuse)kind) {
    case DOUBLE_IMMEDIATE:
    case DOUBLE_UNCACHED:
    case CHECKED_DOUBLE:
        o = a;
        pool_classes_put(s, c, a);
        break;
    case DOUBLE_LATER:
        o = a;
        pool_classes_put(s, c, a);
        pool_classes_put(s, c, b);
        break;
    case DOUBLE_OTHER_CACHE:
        o = a;
        pool_classes_put(s, c, a);
        c = d;
        break;
    case DOUBLE_AFTER_DEPOT: {
        o = a;
        pool_classes_put(s, c, a);
        for (int i = 0; i < 600; i++) { /* a's magazine goes to the depot */
            void *x = pool_classes_get(s, d, 1);
            if (x == NULL)
                _exit(2);
            pool_classes_put(s, c, x);
        }
        break;
    }
    case NEVER_HANDED_OUT:
        for (o = a; pool_classes_owner(s, o + 128) == 1;)
            o += 128; /* the class's last object: never handed out */
        break;
    case INTERIOR_NAMED:
        pool_classes_set_name(s, "myalloc");
        /* fall through */
    case INTERIOR:
    case CHECKED_INTERIOR:
        o = a + 16;
        if (pool_classes_owner(s, o) != POOL_INTERIOR)
            _exit(4);
        break;
    case FOREIGN:
        o = (char *)&kind;
        break;
    case CHECKED_WRITE_AFTER_PUT:
        pool_classes_put(s, c, a);
        tu_report_addr(addr_fd, a);
        a[5] = 'x';
        for (int i = 0; i < 8; i++) /* the next get of that object notices */
            if (pool_classes_get(s, c, 1) == NULL)
                break;
        return;
    case MISUSE_KINDS:
        break;
    }
    tu_report_addr(addr_fd, o);
    pool_classes_put(s, c, o);
}

START_TEST(misuse_raises_sigabrt)
{
    do_misuse(_i, -1);
}
END_TEST

START_TEST(misuse_message)
{
    const char *what = misuse_cases[_i].what;
    struct tu_death d;
    ck_assert_msg(tu_fork_misuse(do_misuse, _i, &d) == 0, "%s: cannot run the child: %s", what,
                  strerror(errno));
    ck_assert_msg(d.sig == SIGABRT, "%s: child ended with signal %d, stderr \"%s\"", what,
                  d.sig, d.msg);
    const char *prefix = misuse_cases[_i].prefix;
    ck_assert_msg(strncmp(d.msg, prefix, strlen(prefix)) == 0, "%s: \"%s\" does not start \"%s\"",
                  what, d.msg, prefix);
    size_t len = strlen(d.msg);
    ck_assert_msg(len > 0 && strchr(d.msg, '\n') == d.msg + len - 1, "%s: not one line: \"%s\"",
                  what, d.msg);
    ck_assert_ptr_nonnull(d.addr);
    ck_assert_msg(tu_mentions_addr(d.msg, d.addr), "%s: \"%s\" does not name %p", what, d.msg,
                  d.addr);
    ck_assert_msg(strstr(d.msg, misuse_cases[_i].text) != NULL, "%s: \"%s\" lacks \"%s\"",
                  what, d.msg, misuse_cases[_i].text);
    if (_i != FOREIGN)
        ck_assert_msg(strstr(d.msg, "class 128 bytes") != NULL,
                      "%s: \"%s\" does not name the class (128 bytes)", what, d.msg);
}
END_TEST

/* CHECKED mode on correct use: no false alarms, and the figures hold. */
START_TEST(checked_correct_use)
{
    struct pool_classes *s = create(misuse_spec, N_ELEMS(misuse_spec), POOL_CLASSES_CHECKED);
    for (int round = 0; round < 3; round++)
        for (int k = 0; k < 2; k++) {
            void **obj = take_all_sorted(s, NULL, k, 8);
            for (size_t i = 0; i < 8; i++)
                memset(obj[i], round, pool_classes_size(s, k));
            ck_assert(pool_classes_check(s));
            put_all(s, NULL, obj, 8);
            ck_assert_uint_eq(pool_classes_available(s, k), 8);
            free(obj);
        }
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* ---- threaded stress with per-thread caches ---- */

static const struct pool_class_spec stress_spec[] = {
    {32, 2048}, {128, 512}, {1024, 128}, {256, 32}, /* the last runs out */
};

static void *stress_thread_start(void *s)
{
    struct pool_cache *c = pool_cache_create();
    if (c != NULL)
        pool_classes_cache_attach(s, c);
    return c;
}

static void stress_thread_end(void *s, void *c)
{
    pool_classes_cache_detach(s, c);
    pool_cache_destroy(c);
}

/* A size of one of the classes, or up to 15 bytes less. */
static void *stress_get(void *s, void *c, uint64_t r)
{
    size_t want = stress_spec[r % N_ELEMS(stress_spec)].size - (r >> 40) % 16;
    return pool_classes_get(s, c, pool_classes_lookup(s, want));
}

static void stress_put(void *s, void *c, void *obj)
{
    pool_classes_put(s, c, obj);
}

static bool stress_owns(void *s, const void *obj)
{
    return pool_classes_owner(s, obj) >= 0;
}

/* _i: 0 with per-thread caches, 1 with POOL_CLASSES_NOCACHE (every get and
 * put on the shared depots). */
START_TEST(stress_threads)
{
    struct pool_classes *s = create(stress_spec, N_ELEMS(stress_spec),
                                    _i ? POOL_CLASSES_NOCACHE : 0);
    struct stress_totals sum = stress_run(&(struct stress_ops){
        .arg = s, .thread_start = stress_thread_start, .thread_end = stress_thread_end,
        .get = stress_get, .put = stress_put, .owns = stress_owns});

    uint64_t stat_misses = 0;
    for (int k = 0; k < (int)N_ELEMS(stress_spec); k++) {
        struct pool_class_stats st = stats(s, k);
        ck_assert_uint_eq(pool_classes_available(s, k), st.capacity);
        ck_assert_uint_eq(st.available, st.capacity);
        ck_assert_uint_eq(st.in_use, 0);
        ck_assert_uint_le(st.peak_out, st.capacity);
        stat_misses += st.misses;
    }
    ck_assert_uint_eq(stat_misses, sum.empties);
    ck_assert(pool_classes_check(s));

    /* Every object accounted for exactly once, and free. */
    for (int k = 0; k < (int)N_ELEMS(stress_spec); k++) {
        size_t count = stats(s, k).capacity; /* classes come sorted */
        void **obj = take_all_sorted(s, NULL, k, count);
        stress_assert_free(obj, count);
        put_all(s, NULL, obj, count);
        free(obj);
    }
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* ---- the suite ---- */

static void classes_cases(Suite *s)
{
    TCase *tc = add_tcase(s, "lookup", 0, TC_PLAIN);
    tcase_add_loop_test(tc, lookup_sizes, 0, (int)N_ELEMS(lookup_table));
    add_tests(tc, lookup_matches_linear_scan, lookup_size_max_class);

    tc = add_tcase(s, "create", 0, TC_PLAIN, create_sorts_classes, create_max_classes);
    tcase_add_loop_test(tc, create_rejects_bad_spec, 0, (int)N_ELEMS(bad_specs));
    add_tests(tc, create_destroy_leaks_nothing, footprint_is_what_create_reserves);

    add_tcase(s, "layout", 0, TC_PLAIN, owner_from_address, fast_put_checks_exactly, alignment);

    tc = add_tcase(s, "get_put", 0, TC_PLAIN);
    tcase_add_loop_test(tc, exhaust_and_stats, 0, MODES);
    add_tests(tc, cache_attach_detach, cache_serves_one_set, snapshot_matches_stats,
              cache_on_nocache_set_stays_uncached);
    tcase_add_loop_test(tc, cache_bounded, 0, (int)N_ELEMS(bounded_counts));
    tcase_add_loop_test(tc, magazines_absorb_a_walk_at_the_edge, 0, 2);
    tcase_add_loop_test(tc, frontier_taken_a_page_at_a_time, 0, 2);
    add_tests(tc, swaps_without_the_depot, magazines_travel_between_caches, objects_untouched,
              fork_child_takes_back_other_caches, check_catches_a_broken_free_object,
              zeroed_set_fits_nothing);

    tc = add_tcase(s, "misuse", 0, TC_PLAIN);
    tcase_add_loop_test_raise_signal(tc, misuse_raises_sigabrt, SIGABRT, 0, MISUSE_KINDS);
    tcase_add_loop_test(tc, misuse_message, 0, MISUSE_KINDS);
    add_tests(tc, checked_correct_use);

    tc = add_tcase(s, "stress", 30, TC_PLAIN);
    tcase_add_loop_test(tc, stress_threads, 0, 2);
}

TU_SUITE("classes", classes_cases, 0);
