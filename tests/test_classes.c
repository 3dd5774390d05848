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
#include <unistd.h>

#include "pool/classes.h"
#include "tests/testutil.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static size_t stride_of(size_t size)
{
    return (size + 15) & ~(size_t)15;
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

static void put_all(struct pool_classes *s, struct pool_cache *c, int cls,
                    void **obj, size_t count)
{
    for (size_t i = 0; i < count; i++)
        pool_classes_put(s, c, cls, obj[i]);
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
    put_all(s, NULL, cls, obj, n);
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
    pool_classes_put(s, NULL, 1, o);
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
        ck_assert_uint_eq(st.gets, 0);
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

START_TEST(destroy_null_is_noop)
{
    pool_classes_destroy(NULL);
}
END_TEST

START_TEST(create_destroy_leaks_nothing)
{
    pool_classes_destroy(create(lookup_spec, N_ELEMS(lookup_spec), 0));
    long vm = tu_vm_size_kb();
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
    /* class i starts at base + i * region, region a power of two */
    uintptr_t base = (uintptr_t)obj[0][0];
    uintptr_t region = (uintptr_t)obj[1][0] - base;
    ck_assert_uint_eq(region & (region - 1), 0);
    ck_assert_uint_ge(region, tu_page_size());
    char *end = (char *)(base + nc * region);

    for (unsigned c = 0; c < nc; c++) {
        size_t size = pool_classes_size(s, (int)c), stride = stride_of(size);
        char *first = obj[c][0];
        ck_assert_uint_eq((uintptr_t)first, base + c * region);
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
        ck_assert_uint_lt((uintptr_t)tail, (uintptr_t)first + region);
        ck_assert_int_eq(pool_classes_owner(s, tail), POOL_INTERIOR);
        ck_assert_int_eq(pool_classes_owner(s, first + region - 1), POOL_INTERIOR);
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
        put_all(s, NULL, (int)c, obj[c], count[c]);
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
        put_all(s, NULL, (int)c, obj, count);
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
        c = calloc(1, sizeof *c);
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
            ck_assert_uint_eq(st.gets, i + 1);
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
        ck_assert_uint_eq(st.gets, count);
        ck_assert_uint_eq(st.misses, 3);
        ck_assert(pool_classes_check(s));
        /* the other classes are untouched */
        for (int j = k + 1; j < (int)N_ELEMS(spec); j++)
            ck_assert_uint_eq(pool_classes_available(s, j), spec[j].count);

        for (size_t i = 0; i < count; i++) {
            pool_classes_put(s, c, k, obj[i]);
            ck_assert_uint_eq(pool_classes_available(s, k), i + 1);
        }
        st = stats(s, k);
        ck_assert_uint_eq(st.available, count);
        ck_assert_uint_eq(st.in_use, 0);
        ck_assert_uint_eq(st.gets, count);
        ck_assert_uint_eq(st.misses, 3);
        ck_assert_uint_eq(st.peak_out, count);
        ck_assert(pool_classes_check(s));
        free(obj);
    }
    if (c != NULL) {
        pool_classes_cache_detach(s, c, false);
        for (int k = 0; k < (int)N_ELEMS(spec); k++) {
            struct pool_class_stats st = stats(s, k); /* folded into the set */
            ck_assert_uint_eq(st.available, spec[k].count);
            ck_assert_uint_eq(st.gets, spec[k].count);
            ck_assert_uint_eq(st.misses, 3);
            ck_assert_uint_eq(uncached_gettable(s, k, spec[k].count), spec[k].count);
        }
        free(c);
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
    struct pool_cache *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    pool_classes_cache_attach(s, c);

    void *few[FEW];
    for (int i = 0; i < FEW; i++)
        ck_assert_ptr_nonnull(few[i] = pool_classes_get(s, c, 0));
    for (int i = 0; i < FEW; i++)
        pool_classes_put(s, c, 0, few[i]);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    ck_assert(pool_classes_check(s));

    /* The cache holds at least the FEW it was given back: the depot lacks them. */
    size_t depot = uncached_gettable(s, 0, COUNT);
    ck_assert_uint_le(depot, COUNT - FEW);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);

    pool_classes_cache_detach(s, c, false);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT); /* all returned */
    ck_assert(pool_classes_check(s));
    uint64_t gets = FEW + depot + COUNT;
    ck_assert_uint_eq(stats(s, 0).gets, gets);

    /* Detached but not retired: its next slow path attaches it again. */
    void *x = pool_classes_get(s, c, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT - 1);
    size_t left = uncached_gettable(s, 0, COUNT);
    ck_assert_uint_lt(left, COUNT - 1); /* it took a batch */
    pool_classes_put(s, c, 0, x);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    gets += 1 + left;

    /* Retired: the cache still works, uncached, taking one object at a time. */
    pool_classes_cache_detach(s, c, true);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    gets += COUNT;
    ck_assert_ptr_nonnull(x = pool_classes_get(s, c, 0));
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT - 1);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT - 1);
    pool_classes_put(s, c, 0, x);
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    gets += 1 + (COUNT - 1) + COUNT;
    ck_assert_uint_eq(stats(s, 0).gets, gets);
    ck_assert(pool_classes_check(s));
    free(c);
    pool_classes_destroy(s);
}
END_TEST

static struct pool_cache *hooked_cache;
static int hook_calls;

static void on_attach(struct pool_classes *s, struct pool_cache *c)
{
    (void)s;
    hooked_cache = c;
    hook_calls++;
}

/* A zeroed cache attaches itself at its first slow path and says so. */
START_TEST(cache_attaches_itself)
{
    enum { COUNT = 256 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, 0);
    pool_classes_on_attach(s, on_attach);
    struct pool_cache *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    void *x = pool_classes_get(s, c, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert_ptr_eq(hooked_cache, c);
    size_t left = uncached_gettable(s, 0, COUNT);
    ck_assert_uint_lt(left, COUNT - 1); /* it cached a batch */
    ck_assert_uint_eq(pool_classes_available(s, 0), COUNT - 1);
    pool_classes_put(s, c, 0, x);
    ck_assert_ptr_nonnull(x = pool_classes_get(s, c, 0));
    pool_classes_put(s, c, 0, x);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert_uint_eq(stats(s, 0).gets, 2 + left);
    pool_classes_cache_detach(s, c, true);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    ck_assert_ptr_nonnull(x = pool_classes_get(s, c, 0)); /* retired: no attach */
    pool_classes_put(s, c, 0, x);
    ck_assert_int_eq(hook_calls, 1);
    ck_assert(pool_classes_check(s));
    free(c);
    pool_classes_destroy(s);
}
END_TEST

/* aux[] counters: summed over attached caches, kept from detached ones. */
START_TEST(aux_counters)
{
    _Static_assert(POOL_CACHE_AUX >= 2, "two aux counters");
    const struct pool_class_spec spec[] = {{64, 64}};
    struct pool_classes *s = create(spec, 1, 0);
    struct pool_cache *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(pool_classes_aux(s, 0), 0);
    pool_classes_aux_add(s, a, 0, 3); /* attaches a */
    pool_classes_aux_add(s, b, 0, 4);
    pool_classes_aux_add(s, b, 1, 10);
    pool_classes_aux_add(s, NULL, 0, 100); /* no cache: the set's own */
    ck_assert_uint_eq(pool_classes_aux(s, 0), 107);
    ck_assert_uint_eq(pool_classes_aux(s, 1), 10);
    pool_classes_cache_detach(s, a, true);
    ck_assert_uint_eq(pool_classes_aux(s, 0), 107);
    pool_classes_aux_add(s, a, 0, 1000); /* retired: the set's own */
    pool_classes_aux_add(s, b, 0, 1);
    ck_assert_uint_eq(pool_classes_aux(s, 0), 1108);
    pool_classes_cache_detach(s, b, false);
    ck_assert_uint_eq(pool_classes_aux(s, 0), 1108);
    ck_assert_uint_eq(pool_classes_aux(s, 1), 10);
    free(a);
    free(b);
    pool_classes_destroy(s);
}
END_TEST

/* One snapshot gives what pool_classes_stats and pool_classes_aux give; with
 * trylock it refuses (EBUSY) while the registry lock is held. */
START_TEST(snapshot_matches_stats)
{
    struct pool_classes *s = create(lookup_spec, N_ELEMS(lookup_spec), 0);
    struct pool_cache *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    void *x = pool_classes_get(s, c, 2), *y = pool_classes_get(s, NULL, 5);
    ck_assert_ptr_nonnull(x);
    ck_assert_ptr_nonnull(y);
    void *z[2] = {pool_classes_get(s, NULL, 9), pool_classes_get(s, NULL, 9)};
    ck_assert_ptr_nonnull(z[1]);
    ck_assert_ptr_null(pool_classes_get(s, NULL, 9)); /* a miss */
    pool_classes_aux_add(s, c, 1, 42);
    unsigned nc = pool_classes_count(s);
    struct pool_class_stats snap[POOL_CLASSES_MAX];
    uint64_t aux[POOL_CACHE_AUX];
    ck_assert_int_eq(pool_classes_snapshot(s, snap, aux, false), 0);
    for (unsigned k = 0; k < nc; k++) {
        struct pool_class_stats st = stats(s, (int)k);
        ck_assert_int_eq(memcmp(&st, &snap[k], sizeof st), 0);
    }
    for (unsigned i = 0; i < POOL_CACHE_AUX; i++)
        ck_assert_uint_eq(aux[i], pool_classes_aux(s, i));
    ck_assert_uint_eq(aux[1], 42);
    ck_assert_uint_eq(snap[2].in_use, 1);
    ck_assert_uint_eq(snap[5].in_use, 1);
    ck_assert_uint_eq(snap[5].gets, 1);
    ck_assert_uint_eq(snap[9].misses, 1);
    ck_assert_uint_eq(snap[9].available, 0);
    ck_assert_int_eq(pool_classes_snapshot(s, snap, NULL, true), 0);

    pool_classes_fork_prepare(s); /* holds the registry lock */
    errno = 0;
    ck_assert_int_eq(pool_classes_snapshot(s, snap, aux, true), -1);
    ck_assert_int_eq(errno, EBUSY);
    pool_classes_fork_parent(s);
    ck_assert_int_eq(pool_classes_snapshot(s, snap, aux, true), 0);

    pool_classes_put(s, c, 2, x);
    pool_classes_put(s, NULL, 5, y);
    put_all(s, NULL, 9, z, 2);
    pool_classes_cache_detach(s, c, true);
    free(c);
    pool_classes_destroy(s);
}
END_TEST

START_TEST(cache_on_nocache_set_stays_uncached)
{
    enum { COUNT = 256 };
    const struct pool_class_spec spec[] = {{64, COUNT}};
    struct pool_classes *s = create(spec, 1, POOL_CLASSES_NOCACHE);
    struct pool_cache *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    pool_classes_cache_attach(s, c);
    void *x = pool_classes_get(s, c, 0);
    ck_assert_ptr_nonnull(x);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT - 1);
    pool_classes_put(s, c, 0, x);
    ck_assert_uint_eq(uncached_gettable(s, 0, COUNT), COUNT);
    pool_classes_cache_detach(s, c, false);
    free(c);
    pool_classes_destroy(s);
}
END_TEST

/* classes.h: a thread caches at most min(POOL_CACHE_SLOTS, count / 16)
 * objects of a class, whatever it gets and puts. */
static const size_t bounded_counts[] = {8, 15, 16, 17, 31, 32, 48, 64, 100, 512, 513, 1024};

START_TEST(cache_bounded)
{
    size_t count = bounded_counts[_i];
    size_t cap = count / 16 < POOL_CACHE_SLOTS ? count / 16 : POOL_CACHE_SLOTS;
    const struct pool_class_spec spec[] = {{64, count}};
    struct pool_classes *s = create(spec, 1, 0);
    struct pool_cache *c = calloc(1, sizeof *c);
    ck_assert_ptr_nonnull(c);
    pool_classes_cache_attach(s, c);
    for (size_t held = 1; held <= count; held = held * 2 + 1) {
        void **obj = calloc(held, sizeof *obj);
        ck_assert_ptr_nonnull(obj);
        for (size_t i = 0; i < held; i++)
            ck_assert_ptr_nonnull(obj[i] = pool_classes_get(s, c, 0));
        put_all(s, c, 0, obj, held);
        size_t cached = count - uncached_gettable(s, 0, count);
        ck_assert_msg(cached <= cap, "count %zu, %zu held and put back: the cache keeps "
                      "%zu objects, more than cache_cap %zu", count, held, cached, cap);
        ck_assert_uint_eq(pool_classes_available(s, 0), count);
        free(obj);
    }
    ck_assert(pool_classes_check(s));
    pool_classes_cache_detach(s, c, false);
    free(c);
    pool_classes_destroy(s);
}
END_TEST

/* ---- misuse ---- */

static const struct pool_class_spec misuse_spec[] = {{64, 8}, {128, 8}};
/* Large enough for class 1 to be cached (count / 16 > 1). */
static const struct pool_class_spec cached_spec[] = {{64, 64}, {128, 64}}; /* COUNT below */

enum misuse {
    CHECKED_DOUBLE_PUT, CHECKED_DOUBLE_PUT_LATER, CHECKED_PUT_NEVER_HANDED_OUT,
    CHECKED_INVALID, CHECKED_WRITE_AFTER_PUT, DEFAULT_INVALID_NAMED,
    DEFAULT_FULL_BIN_DOUBLE_PUT, DEFAULT_CACHED_DOUBLE_PUT, DEFAULT_UNCACHED_DOUBLE_PUT,
    MISUSE_KINDS
};

static const struct {
    const char *what, *prefix, *text;
    bool names_class; /* the message gives the class's size */
} misuse_cases[] = {
    {"CHECKED: immediate double put", "pool: ", NULL, true},
    {"CHECKED: double put after other puts", "pool: ", NULL, true},
    {"CHECKED: put of an object never handed out", "pool: ", NULL, true},
    {"CHECKED: interior pointer", "pool: ", "invalid pointer", true},
    {"CHECKED: write after put", "pool: ", NULL, true},
    {"default: interior pointer, named set", "myalloc: ", "invalid pointer", true},
    {"default: double put finding the object in the full bin", "pool: ", NULL, true},
    /* Undetected, the object links to itself (in the list or the depot) and
     * every later get of the class returns it: worth one comparison. */
    {"default, cached: immediate double put", "pool: ", NULL, true},
    {"default, uncached: immediate double put", "pool: ", NULL, true},
};

static void do_misuse(int kind, int addr_fd)
{
    bool checked = kind <= CHECKED_WRITE_AFTER_PUT;
    struct pool_classes *s =
        checked ? pool_classes_create(misuse_spec, N_ELEMS(misuse_spec), POOL_CLASSES_CHECKED, NULL)
                : pool_classes_create(cached_spec, N_ELEMS(cached_spec), 0, NULL);
    if (s == NULL)
        _exit(2);
    static struct pool_cache cache;
    struct pool_cache *c =
        kind == DEFAULT_FULL_BIN_DOUBLE_PUT || kind == DEFAULT_CACHED_DOUBLE_PUT ? &cache : NULL;
    if (c != NULL)
        pool_classes_cache_attach(s, c);
    if (kind == DEFAULT_FULL_BIN_DOUBLE_PUT) {
        /* Take the whole class through the cache, so that its list is empty;
         * give back exactly cache_cap objects, so that it is full; then put
         * one of those again: the full list sends it to the slow path, which
         * finds it there. */
        enum { COUNT = 64, CAP = COUNT / 16 < POOL_CACHE_SLOTS ? COUNT / 16 : POOL_CACHE_SLOTS };
        _Static_assert(CAP >= 2, "a cached class");
        void *held[COUNT];
        for (int i = 0; i < COUNT; i++)
            if ((held[i] = pool_classes_get(s, c, 1)) == NULL)
                _exit(2);
        if (pool_classes_get(s, c, 1) != NULL)
            _exit(2);
        for (int i = 0; i < CAP; i++)
            pool_classes_put(s, c, 1, held[i]);
        tu_report_addr(addr_fd, held[0]);
        pool_classes_put(s, c, 1, held[0]);
        return;
    }
    char *a = pool_classes_get(s, c, 1), *b = pool_classes_get(s, c, 1);
    if (a == NULL || b == NULL)
        _exit(2);
    switch ((enum misuse)kind) {
    case CHECKED_DOUBLE_PUT:
    case DEFAULT_CACHED_DOUBLE_PUT:
    case DEFAULT_UNCACHED_DOUBLE_PUT:
        pool_classes_put(s, c, 1, a);
        tu_report_addr(addr_fd, a);
        pool_classes_put(s, c, 1, a);
        break;
    case CHECKED_DOUBLE_PUT_LATER:
        pool_classes_put(s, c, 1, a);
        pool_classes_put(s, c, 1, b);
        tu_report_addr(addr_fd, a);
        pool_classes_put(s, c, 1, a);
        break;
    case CHECKED_PUT_NEVER_HANDED_OUT:
        for (int d = -2; d <= 2; d++) {
            char *o = a + d * 128;
            if (o != a && o != b && pool_classes_owner(s, o) == 1) {
                tu_report_addr(addr_fd, o);
                pool_classes_put(s, c, 1, o);
                break;
            }
        }
        break;
    case CHECKED_INVALID:
    case DEFAULT_INVALID_NAMED: {
        if (kind == DEFAULT_INVALID_NAMED)
            pool_classes_set_name(s, "myalloc");
        char *p = a + 16;
        if (pool_classes_owner(s, p) != POOL_INTERIOR)
            _exit(4);
        tu_report_addr(addr_fd, p);
        pool_classes_invalid(s, "free()", p);
    }
    case CHECKED_WRITE_AFTER_PUT:
        pool_classes_put(s, c, 1, a);
        tu_report_addr(addr_fd, a);
        a[5] = 'x';
        /* the next get of that object notices */
        for (int i = 0; i < 8; i++)
            if (pool_classes_get(s, c, 1) == NULL)
                break;
        break;
    case DEFAULT_FULL_BIN_DOUBLE_PUT:
    case MISUSE_KINDS:
        break;
    }
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
    if (misuse_cases[_i].text != NULL)
        ck_assert_msg(strstr(d.msg, misuse_cases[_i].text) != NULL, "%s: \"%s\" lacks \"%s\"",
                      what, d.msg, misuse_cases[_i].text);
    if (misuse_cases[_i].names_class)
        ck_assert_msg(strstr(d.msg, "class") != NULL && strstr(d.msg, "128") != NULL,
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
            put_all(s, NULL, k, obj, 8);
            ck_assert_uint_eq(pool_classes_available(s, k), 8);
            free(obj);
        }
    ck_assert(pool_classes_check(s));
    pool_classes_destroy(s);
}
END_TEST

/* ---- threaded stress with per-thread caches ---- */

enum {
    STRESS_THREADS = 4,
    STRESS_GETS = 150000, /* per thread: 4 * 150000 gets + as many puts */
    STRESS_SLOTS = 16,
    STRESS_HOLD = 4,
    MARK_FREE = 0,
    MARK_TRANSIT = -1,
};

static const struct pool_class_spec stress_spec[] = {
    {32, 2048}, {128, 512}, {1024, 128}, {256, 32}, /* the last runs out */
};

/* 32 bytes. A thread's cache links free objects through their first word,
 * so the owner mark sits after it. */
struct token {
    void *link;
    _Atomic int owner;
    unsigned stamp[5];
};

struct stress {
    struct pool_classes *s;
    _Atomic(struct token *) slot[STRESS_SLOTS];
    _Atomic unsigned long errors, gets, puts, empties;
};

struct worker {
    struct stress *st;
    int id;
    unsigned seq;
    uint64_t rng;
};

static void take(struct worker *w, struct token *t, int from)
{
    if (atomic_exchange(&t->owner, w->id) != from)
        atomic_fetch_add(&w->st->errors, 1);
    w->seq++;
    for (int i = 0; i < 5; i++)
        t->stamp[i] = (unsigned)w->id << 24 ^ w->seq ^ (unsigned)i;
}

static void release(struct worker *w, struct token *t, int to)
{
    unsigned first = t->stamp[0];
    for (int i = 0; i < 5; i++)
        if (t->stamp[i] != (first ^ (unsigned)i) || first >> 24 != (unsigned)w->id)
            atomic_fetch_add(&w->st->errors, 1);
    if (atomic_exchange(&t->owner, to) != w->id)
        atomic_fetch_add(&w->st->errors, 1);
}

static void put_back(struct worker *w, struct pool_cache *c, struct token *t)
{
    release(w, t, MARK_FREE);
    int cls = pool_classes_owner(w->st->s, t);
    if (cls < 0) {
        atomic_fetch_add(&w->st->errors, 1);
        return;
    }
    pool_classes_put(w->st->s, c, cls, t);
}

static void *stress_worker(void *arg)
{
    struct worker *w = arg;
    struct stress *st = w->st;
    struct pool_cache *c = calloc(1, sizeof *c);
    if (c == NULL) {
        atomic_fetch_add(&st->errors, 1);
        return NULL;
    }
    pool_classes_cache_attach(st->s, c);
    struct token *held[STRESS_HOLD + 1];
    int n = 0;
    unsigned long gets = 0, puts = 0, empties = 0;
    while (gets < STRESS_GETS) {
        uint64_t r = tu_xorshift64(&w->rng);
        size_t want = stress_spec[r % N_ELEMS(stress_spec)].size - (r >> 40) % 16;
        int cls = pool_classes_lookup(st->s, want);
        struct token *t = pool_classes_get(st->s, c, cls);
        if (t == NULL) {
            empties++;
            if (n > 0) {
                put_back(w, c, held[--n]);
                puts++;
            }
            continue;
        }
        gets++;
        take(w, t, MARK_FREE);
        held[n++] = t;
        if (n == STRESS_HOLD || (r & 0x300) == 0) {
            int k = (int)((r >> 12) % (unsigned)n);
            struct token *out = held[k];
            held[k] = held[--n];
            release(w, out, MARK_TRANSIT);
            struct token *in = atomic_exchange(&st->slot[(r >> 20) % STRESS_SLOTS], out);
            if (in != NULL) {
                take(w, in, MARK_TRANSIT);
                held[n++] = in;
            }
        }
        r >>= 24;
        while (n > 0 && (n >= STRESS_HOLD || (r & 3) != 0)) {
            put_back(w, c, held[--n]);
            puts++;
            r >>= 2;
        }
    }
    while (n > 0) {
        put_back(w, c, held[--n]);
        puts++;
    }
    pool_classes_cache_detach(st->s, c, false);
    free(c);
    atomic_fetch_add(&st->gets, gets);
    atomic_fetch_add(&st->puts, puts);
    atomic_fetch_add(&st->empties, empties);
    return NULL;
}

/* _i: 0 with per-thread caches, 1 with POOL_CLASSES_NOCACHE (every get and
 * put on the shared depots). */
START_TEST(stress_threads)
{
    static struct stress st;
    st.s = create(stress_spec, N_ELEMS(stress_spec), _i ? POOL_CLASSES_NOCACHE : 0);
    pthread_t tid[STRESS_THREADS];
    struct worker w[STRESS_THREADS];
    for (int i = 0; i < STRESS_THREADS; i++) {
        w[i] = (struct worker){&st, i + 1, 0, 0x9e3779b97f4a7c15u * (uint64_t)(i + 1)};
        ck_assert_int_eq(pthread_create(&tid[i], NULL, stress_worker, &w[i]), 0);
    }
    for (int i = 0; i < STRESS_THREADS; i++)
        ck_assert_int_eq(pthread_join(tid[i], NULL), 0);

    ck_assert_uint_eq(atomic_load(&st.errors), 0);
    unsigned long gets = atomic_load(&st.gets), puts = atomic_load(&st.puts);
    ck_assert_uint_ge(gets + puts, 1000000);

    unsigned long transit = 0;
    for (int i = 0; i < STRESS_SLOTS; i++) {
        struct token *t = atomic_exchange(&st.slot[i], NULL);
        if (t == NULL)
            continue;
        ck_assert_int_eq(atomic_exchange(&t->owner, MARK_FREE), MARK_TRANSIT);
        int cls = pool_classes_owner(st.s, t);
        ck_assert_int_ge(cls, 0);
        pool_classes_put(st.s, NULL, cls, t);
        transit++;
    }
    ck_assert_uint_eq(gets, puts + transit);

    uint64_t stat_gets = 0, stat_misses = 0;
    for (int k = 0; k < (int)N_ELEMS(stress_spec); k++) {
        struct pool_class_stats s = stats(st.s, k);
        ck_assert_uint_eq(pool_classes_available(st.s, k), s.capacity);
        ck_assert_uint_eq(s.available, s.capacity);
        ck_assert_uint_eq(s.in_use, 0);
        ck_assert_uint_le(s.peak_out, s.capacity);
        stat_gets += s.gets;
        stat_misses += s.misses;
    }
    ck_assert_uint_eq(stat_gets, gets);
    ck_assert_uint_eq(stat_misses, atomic_load(&st.empties));
    ck_assert(pool_classes_check(st.s));

    /* Every object accounted for exactly once, and free. */
    for (int k = 0; k < (int)N_ELEMS(stress_spec); k++) {
        size_t count = stats(st.s, k).capacity; /* classes come sorted */
        void **obj = take_all_sorted(st.s, NULL, k, count);
        for (size_t i = 0; i < count; i++)
            ck_assert_int_eq(atomic_load(&((struct token *)obj[i])->owner), MARK_FREE);
        put_all(st.s, NULL, k, obj, count);
        free(obj);
    }
    ck_assert(pool_classes_check(st.s));
    pool_classes_destroy(st.s);
}
END_TEST

/* ---- the suite ---- */

static Suite *classes_suite(void)
{
    Suite *s = suite_create("classes");

    TCase *tc = tcase_create("lookup");
    tcase_add_loop_test(tc, lookup_sizes, 0, (int)N_ELEMS(lookup_table));
    tcase_add_test(tc, lookup_matches_linear_scan);
    tcase_add_test(tc, lookup_size_max_class);
    suite_add_tcase(s, tc);

    tc = tcase_create("create");
    tcase_add_test(tc, create_sorts_classes);
    tcase_add_test(tc, create_max_classes);
    tcase_add_loop_test(tc, create_rejects_bad_spec, 0, (int)N_ELEMS(bad_specs));
    tcase_add_test(tc, create_destroy_leaks_nothing);
    tcase_add_test(tc, destroy_null_is_noop);
    suite_add_tcase(s, tc);

    tc = tcase_create("layout");
    tcase_add_test(tc, owner_from_address);
    tcase_add_test(tc, alignment);
    suite_add_tcase(s, tc);

    tc = tcase_create("get_put");
    tcase_add_loop_test(tc, exhaust_and_stats, 0, MODES);
    tcase_add_test(tc, cache_attach_detach);
    tcase_add_test(tc, cache_attaches_itself);
    tcase_add_test(tc, aux_counters);
    tcase_add_test(tc, snapshot_matches_stats);
    tcase_add_test(tc, cache_on_nocache_set_stays_uncached);
    tcase_add_loop_test(tc, cache_bounded, 0, (int)N_ELEMS(bounded_counts));
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_loop_test_raise_signal(tc, misuse_raises_sigabrt, SIGABRT, 0, MISUSE_KINDS);
    tcase_add_loop_test(tc, misuse_message, 0, MISUSE_KINDS);
    tcase_add_test(tc, checked_correct_use);
    suite_add_tcase(s, tc);

    tc = tcase_create("stress");
    tcase_set_timeout(tc, 30);
    tcase_add_loop_test(tc, stress_threads, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(classes_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
