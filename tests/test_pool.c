/* test_pool.c - the single pool (pool/pool.h): one Check suite, "pool".
 *
 * Every contract of pool.h has a named case here: creation and its errno
 * cases, init and zeroing, exhaustion and the exact counters, layout and
 * alignment, the reset hook, object contents, POOL_GUARD on each exit path,
 * pool_owns, misuse dying with SIGABRT and a "pool: " line on stderr, and a
 * threaded stress run that proves no object is handed out twice or lost.
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

#include "pool/pool.h"
#include "tests/stress.h"
#include "tests/checkutil.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

/* The documented stride: size rounded up to a multiple of 16. */
static size_t stride_of(size_t size)
{
    return (size + 15) & ~(size_t)15;
}

/* The documented alignment: the largest power of two dividing the stride, at
 * most the page size. */
static size_t align_of_stride(size_t stride)
{
    size_t a = stride & -stride;
    return a > tu_page_size() ? tu_page_size() : a;
}

/* Take every object of p (asserting there are exactly `count`), sorted by
 * address. The caller frees the array. */
static void **take_all_sorted(struct pool *p, size_t count)
{
    void **obj = calloc(count, sizeof *obj);
    ck_assert_ptr_nonnull(obj);
    for (size_t i = 0; i < count; i++) {
        obj[i] = pool_try_get(p);
        ck_assert_msg(obj[i] != NULL, "get %zu of %zu returned NULL", i + 1, count);
    }
    ck_assert_ptr_null(pool_try_get(p));
    qsort(obj, count, sizeof *obj, tu_cmp_ptr);
    return obj;
}

/* Index of the first byte of obj[0 .. size) that is not want(obj, j), or
 * SIZE_MAX. (ck_assert per byte would cost a message to the runner each.) */
static size_t first_mismatch(const void *obj, size_t size,
                             unsigned char (*want)(const void *obj, size_t j))
{
    const unsigned char *c = obj;
    for (size_t j = 0; j < size; j++)
        if (c[j] != want(obj, j))
            return j;
    return SIZE_MAX;
}

static unsigned char byte_zero(const void *obj, size_t j)
{
    (void)obj, (void)j;
    return 0;
}

static unsigned char byte_a5(const void *obj, size_t j)
{
    (void)obj, (void)j;
    return 0xa5;
}

static void put_all(struct pool *p, void **obj, size_t count)
{
    for (size_t i = 0; i < count; i++)
        pool_put(p, obj[i]);
}

/* Lines of /proc/self/maps, counted without allocating. */
static size_t maps_lines(void)
{
    static char buf[1 << 18];
    ssize_t len = tu_read_proc("/proc/self/maps", buf, sizeof buf);
    ck_assert_int_ge(len, 0);
    size_t lines = 0;
    for (ssize_t i = 0; i < len; i++)
        lines += buf[i] == '\n';
    return lines;
}

/* ---- geometries shared by the table-driven cases ---- */

static const struct geometry {
    size_t count, size;
} geometries[] = {
    {1, 1},    {1, 16},  {3, 24},     {100, 1}, {7, 100},  {64, 64},
    {17, 192}, {1000, 40}, {10, 4096}, {5, 4097}, {3, 65536}, {9, 48},
};

/* ---- creation ---- */

START_TEST(create_reports_geometry)
{
    const struct geometry *g = &geometries[_i];
    struct pool *p = pool_create(g->count, g->size, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(pool_capacity(p), g->count);
    ck_assert_uint_eq(pool_object_size(p), g->size);
    ck_assert_uint_eq(pool_available(p), g->count);
    size_t a = pool_alignment(p);
    ck_assert_uint_eq(a & (a - 1), 0);
    ck_assert_uint_ge(a, alignof(max_align_t));
    ck_assert_uint_le(a, tu_page_size());
    ck_assert_uint_eq(a, align_of_stride(stride_of(g->size)));
    pool_destroy(p);
}
END_TEST

static const struct bad_create {
    size_t count, size;
    int err;
} bad_creates[] = {
    {0, 16, EINVAL},
    {16, 0, EINVAL},
    {0, 0, EINVAL},
    {4, SIZE_MAX / 2 + 1, EINVAL},           /* count * size overflows */
    {SIZE_MAX / 2 + 1, 4, EINVAL},
    {2, SIZE_MAX, EINVAL},
    {0xfffffffeu, SIZE_MAX / 0xfffffffeu + 1, EINVAL}, /* count in range */
    {(size_t)UINT32_MAX, 1, EINVAL},         /* count above 2^32 - 2 */
    {SIZE_MAX, 1, EINVAL},
    /* Fit in size_t but not in the address space (47 bits on x86-64). */
    {2, (size_t)1 << 62, ENOMEM},
    {(size_t)1 << 16, (size_t)1 << 40, ENOMEM},
    {(size_t)1 << 24, (size_t)1 << 28, ENOMEM},
};

START_TEST(create_errno)
{
    const struct bad_create *b = &bad_creates[_i];
    long vm = tu_vm_size_kb();
    ck_assert_int_gt(vm, 0);
    size_t maps = maps_lines();
    errno = 0;
    struct pool *p = pool_create(b->count, b->size, NULL, NULL);
    int err = errno;
    ck_assert_msg(p == NULL, "pool_create(%zu, %zu) succeeded", b->count, b->size);
    ck_assert_msg(err == b->err, "pool_create(%zu, %zu): errno %d (%s), expected %d",
                  b->count, b->size, err, strerror(err), b->err);
    ck_assert_int_eq(tu_vm_size_kb(), vm);
    ck_assert_uint_eq(maps_lines(), maps);
}
END_TEST

/* count * size fits in size_t: the memory cannot be had, the request is not
 * invalid, even when rounding the size up to the stride would overflow. */
static const struct bad_create near_size_max[] = {
    {1, SIZE_MAX, ENOMEM},
    {1, SIZE_MAX - 15, ENOMEM},
    {3, SIZE_MAX / 3, ENOMEM},
};

START_TEST(create_near_size_max_is_enomem)
{
    const struct bad_create *b = &near_size_max[_i];
    long vm = tu_vm_size_kb();
    ck_assert_int_gt(vm, 0);
    errno = 0;
    struct pool *p = pool_create(b->count, b->size, NULL, NULL);
    int err = errno;
    ck_assert_ptr_null(p);
    ck_assert_msg(err == ENOMEM, "pool_create(%zu, %#zx): errno %d (%s), expected ENOMEM",
                  b->count, b->size, err, strerror(err));
    ck_assert_int_eq(tu_vm_size_kb(), vm);
}
END_TEST

START_TEST(create_destroy_leaks_nothing)
{
    pool_destroy(pool_create(8, 8, NULL, NULL)); /* first-use state, if any */
    long vm = tu_vm_size_kb(); /* (maps lines may merge or split: not compared) */
    ck_assert_int_gt(vm, 0);
    for (size_t i = 0; i < N_ELEMS(geometries); i++) {
        struct pool *p = pool_create(geometries[i].count, geometries[i].size, NULL, NULL);
        ck_assert_ptr_nonnull(p);
        void *o = pool_try_get(p);
        ck_assert_ptr_nonnull(o);
        pool_destroy(p); /* with an object still handed out */
    }
    ck_assert_int_eq(tu_vm_size_kb(), vm);
}
END_TEST

START_TEST(destroy_null_is_noop)
{
    pool_destroy(NULL);
}
END_TEST

/* ---- init ---- */

struct init_log {
    size_t calls, cap, size;
    void **seen;
    void *arg_seen;
};

static void log_init(void *obj, void *arg)
{
    struct init_log *l = arg;
    if (l->calls < l->cap)
        l->seen[l->calls] = obj;
    l->calls++;
    l->arg_seen = arg;
    memset(obj, 0xa5, l->size);
}

START_TEST(init_once_per_object)
{
    const struct geometry *g = &geometries[_i];
    struct init_log log = {0, g->count, g->size, calloc(g->count, sizeof(void *)), NULL};
    ck_assert_ptr_nonnull(log.seen);
    struct pool *p = pool_create(g->count, g->size, log_init, &log);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(log.calls, g->count);
    ck_assert_ptr_eq(log.arg_seen, &log);

    /* The objects init saw are exactly the objects the pool hands out. */
    qsort(log.seen, g->count, sizeof(void *), tu_cmp_ptr);
    void **obj = take_all_sorted(p, g->count);
    for (size_t i = 0; i < g->count; i++) {
        ck_assert_ptr_eq(obj[i], log.seen[i]);
        ck_assert_uint_eq(first_mismatch(obj[i], g->size, byte_a5), SIZE_MAX);
    }
    ck_assert_uint_eq(log.calls, g->count); /* get never calls init */
    put_all(p, obj, g->count);
    ck_assert_uint_eq(log.calls, g->count); /* nor does put */
    free(obj);
    free(log.seen);
    pool_destroy(p);
}
END_TEST

START_TEST(init_null_zeroes)
{
    const struct geometry *g = &geometries[_i];
    struct pool *p = pool_create(g->count, g->size, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    void **obj = take_all_sorted(p, g->count);
    for (size_t i = 0; i < g->count; i++) {
        size_t j = first_mismatch(obj[i], g->size, byte_zero);
        ck_assert_msg(j == SIZE_MAX, "object %zu byte %zu is not 0", i, j);
    }
    put_all(p, obj, g->count);
    free(obj);
    pool_destroy(p);
}
END_TEST

/* ---- exhaustion, counters, layout ---- */

START_TEST(exhaust_at_exactly_count)
{
    const struct geometry *g = &geometries[_i];
    struct pool *p = pool_create(g->count, g->size, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    void **obj = calloc(g->count, sizeof *obj);
    ck_assert_ptr_nonnull(obj);
    for (size_t i = 0; i < g->count; i++) {
        obj[i] = pool_try_get(p);
        ck_assert_msg(obj[i] != NULL, "get %zu of %zu returned NULL", i + 1, g->count);
        ck_assert_uint_eq(pool_available(p), g->count - i - 1);
        ck_assert_uint_eq(pool_capacity(p), g->count);
    }
    ck_assert_ptr_null(pool_try_get(p));
    ck_assert_ptr_null(pool_try_get(p));
    ck_assert_uint_eq(pool_available(p), 0);
    ck_assert_uint_eq(pool_capacity(p), g->count);
    for (size_t i = 0; i < g->count; i++) {
        pool_put(p, obj[i]);
        ck_assert_uint_eq(pool_available(p), i + 1);
    }
    /* Everything can be had again, and no more. */
    for (size_t i = 0; i < g->count; i++)
        ck_assert_ptr_nonnull(obj[i] = pool_try_get(p));
    ck_assert_ptr_null(pool_try_get(p));
    put_all(p, obj, g->count);
    ck_assert_uint_eq(pool_available(p), g->count);
    free(obj);
    pool_destroy(p);
}
END_TEST

START_TEST(layout_and_alignment)
{
    const struct geometry *g = &geometries[_i];
    size_t stride = stride_of(g->size);
    struct pool *p = pool_create(g->count, g->size, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    size_t align = pool_alignment(p);
    void **obj = take_all_sorted(p, g->count);
    /* One block: a page-aligned base, objects `stride` apart, so all
     * distinct and none overlapping. */
    ck_assert_uint_eq((uintptr_t)obj[0] % tu_page_size(), 0);
    for (size_t i = 0; i < g->count; i++) {
        uintptr_t a = (uintptr_t)obj[i];
        ck_assert_uint_eq(a, (uintptr_t)obj[0] + i * stride);
        ck_assert_uint_eq(a % alignof(max_align_t), 0);
        ck_assert_uint_eq(a % align, 0);
        if (stride % 64 == 0)
            ck_assert_uint_eq(a % 64, 0);
        if (stride % tu_page_size() == 0)
            ck_assert_uint_eq(a % tu_page_size(), 0);
        ck_assert(pool_owns(p, obj[i]));
    }
    put_all(p, obj, g->count);
    free(obj);
    pool_destroy(p);
}
END_TEST

/* ---- reset hook ---- */

struct reset_log {
    struct pool *p;
    size_t calls, available_at_call;
    void *last_obj, *last_arg;
};

struct item {
    int tag;
    int value;
};

static void log_reset(void *obj, void *arg)
{
    struct reset_log *l = arg;
    l->calls++;
    l->last_obj = obj;
    l->last_arg = arg;
    l->available_at_call = pool_available(l->p);
    ((struct item *)obj)->tag = 77;
}

START_TEST(reset_once_per_put)
{
    enum { COUNT = 12 };
    struct pool *p = pool_create(COUNT, sizeof(struct item), NULL, NULL);
    ck_assert_ptr_nonnull(p);
    struct reset_log log = {.p = p};
    pool_set_reset(p, log_reset, &log);
    void **obj = take_all_sorted(p, COUNT);
    ck_assert_uint_eq(log.calls, 0); /* get never resets */
    for (size_t i = 0; i < COUNT; i++) {
        ((struct item *)obj[i])->tag = 1;
        pool_put(p, obj[i]);
        ck_assert_uint_eq(log.calls, i + 1);
        ck_assert_ptr_eq(log.last_obj, obj[i]);
        ck_assert_ptr_eq(log.last_arg, &log);
        /* "first": the object is not free yet while the hook runs */
        ck_assert_uint_eq(log.available_at_call, i);
        ck_assert_uint_eq(pool_available(p), i + 1);
    }
    /* What the hook wrote is what the next holder finds. */
    for (size_t i = 0; i < COUNT; i++) {
        struct item *it = pool_try_get(p);
        ck_assert_ptr_nonnull(it);
        ck_assert_int_eq(it->tag, 77);
        obj[i] = it;
    }
    ck_assert_uint_eq(log.calls, COUNT);

    /* Cleared: puts no longer call it. */
    pool_set_reset(p, NULL, NULL);
    for (size_t i = 0; i < COUNT; i++) {
        ((struct item *)obj[i])->tag = 5;
        pool_put(p, obj[i]);
    }
    ck_assert_uint_eq(log.calls, COUNT);
    ck_assert_uint_eq(pool_available(p), COUNT);
    for (size_t i = 0; i < COUNT; i++) {
        struct item *it = pool_try_get(p);
        ck_assert_int_eq(it->tag, 5);
        obj[i] = it;
    }
    /* Set again: calls resume. */
    pool_set_reset(p, log_reset, &log);
    put_all(p, obj, COUNT);
    ck_assert_uint_eq(log.calls, 2 * COUNT);
    free(obj);
    pool_destroy(p);
}
END_TEST

/* ---- object contents ---- */

static unsigned char pattern(const void *obj, size_t j)
{
    return (unsigned char)(((uintptr_t)obj >> 4) * 31 + j * 7 + 1);
}

START_TEST(contents_survive_put_get)
{
    const struct geometry *g = &geometries[_i];
    struct pool *p = pool_create(g->count, g->size, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    void **obj = take_all_sorted(p, g->count);
    for (size_t i = 0; i < g->count; i++)
        for (size_t j = 0; j < g->size; j++)
            ((unsigned char *)obj[i])[j] = pattern(obj[i], j);
    for (int round = 0; round < 3; round++) {
        /* put back in reverse order, interleaved with gets of one object */
        for (size_t i = g->count; i-- > 0;) {
            pool_put(p, obj[i]);
            if (i % 2 == 0) {
                void *again = pool_try_get(p);
                ck_assert_ptr_nonnull(again);
                pool_put(p, again);
            }
        }
        free(obj);
        obj = take_all_sorted(p, g->count);
        for (size_t i = 0; i < g->count; i++) {
            size_t j = first_mismatch(obj[i], g->size, pattern);
            ck_assert_msg(j == SIZE_MAX, "round %d object %zu byte %zu changed", round, i, j);
        }
    }
    put_all(p, obj, g->count);
    free(obj);
    pool_destroy(p);
}
END_TEST

/* ---- POOL_GUARD ---- */

enum { GUARD_COUNT = 4 };
static struct pool *gp;

static void guard_setup(void)
{
    gp = pool_create(GUARD_COUNT, sizeof(struct item), NULL, NULL);
    ck_assert_ptr_nonnull(gp);
}

static void guard_teardown(void)
{
    pool_destroy(gp);
    gp = NULL;
}

START_TEST(guard_end_of_scope)
{
    {
        POOL_GUARD(struct item, it, gp);
        ck_assert_ptr_nonnull(it);
        ck_assert(pool_owns(gp, it));
        ck_assert_uint_eq(pool_available(gp), GUARD_COUNT - 1);
        it->value = 1;
    }
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

START_TEST(guard_two_in_one_scope)
{
    {
        POOL_GUARD(struct item, a, gp);
        POOL_GUARD(struct item, b, gp);
        ck_assert_ptr_nonnull(a);
        ck_assert_ptr_nonnull(b);
        ck_assert_ptr_ne(a, b);
        ck_assert_uint_eq(pool_available(gp), GUARD_COUNT - 2);
    }
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

static size_t guard_and_return(int early)
{
    POOL_GUARD(struct item, it, gp);
    if (it == NULL)
        return SIZE_MAX;
    if (early)
        return pool_available(gp);
    it->value = 2;
    return pool_available(gp) + 100;
}

START_TEST(guard_return)
{
    ck_assert_uint_eq(guard_and_return(1), GUARD_COUNT - 1);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
    ck_assert_uint_eq(guard_and_return(0), GUARD_COUNT - 1 + 100);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

START_TEST(guard_break)
{
    size_t inside[8] = {0};
    int i;
    for (i = 0; i < 8; i++) {
        POOL_GUARD(struct item, it, gp);
        inside[i] = pool_available(gp);
        if (i == 2)
            break;
        it->value = i;
    }
    ck_assert_int_eq(i, 2);
    for (int j = 0; j <= 2; j++) /* each iteration gave its object back */
        ck_assert_uint_eq(inside[j], GUARD_COUNT - 1);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

START_TEST(guard_continue)
{
    size_t inside[6] = {0};
    int skipped = 0;
    for (int i = 0; i < 6; i++) {
        POOL_GUARD(struct item, it, gp);
        inside[i] = pool_available(gp);
        if (i % 2 == 0) {
            skipped++;
            continue;
        }
        it->value = i;
    }
    ck_assert_int_eq(skipped, 3);
    for (int j = 0; j < 6; j++)
        ck_assert_uint_eq(inside[j], GUARD_COUNT - 1);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

START_TEST(guard_goto)
{
    size_t inside = 0;
    int passes = 0;
again:
    {
        POOL_GUARD(struct item, it, gp);
        inside = pool_available(gp);
        if (it != NULL && passes++ < 3)
            goto again; /* backwards, out of the guard's scope */
        if (it != NULL)
            goto out;   /* forwards, out of the guard's scope */
        inside = SIZE_MAX;
    }
out:
    ck_assert_int_eq(passes, 4);
    ck_assert_uint_eq(inside, GUARD_COUNT - 1);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

START_TEST(guard_null_when_exhausted)
{
    void *held[GUARD_COUNT];
    for (int i = 0; i < GUARD_COUNT; i++)
        ck_assert_ptr_nonnull(held[i] = pool_try_get(gp));
    {
        POOL_GUARD(struct item, it, gp);
        ck_assert_ptr_null(it);
    } /* nothing to put back: a put here would abort */
    ck_assert_uint_eq(pool_available(gp), 0);
    for (int i = 0; i < GUARD_COUNT; i++)
        pool_put(gp, held[i]);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

START_TEST(guard_keep_detaches)
{
    struct item *kept;
    {
        POOL_GUARD(struct item, it, gp);
        ck_assert_ptr_nonnull(it);
        struct item *was = it;
        kept = pool_keep(it);
        ck_assert_ptr_eq(kept, was);
        ck_assert_ptr_null(it);
    }
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT - 1);
    ck_assert(pool_owns(gp, kept));
    kept->value = 3; /* still ours */
    pool_put(gp, kept);
    ck_assert_uint_eq(pool_available(gp), GUARD_COUNT);
}
END_TEST

/* ---- pool_owns ---- */

enum owns_kind {
    OWNS_START, OWNS_FREE_START, OWNS_INTERIOR, OWNS_TAIL, OWNS_BEFORE,
    OWNS_AFTER, OWNS_NULL, OWNS_STACK, OWNS_MALLOC, OWNS_OTHER_POOL,
    OWNS_KINDS
};

START_TEST(owns)
{
    enum { COUNT = 10, SIZE = 40, STRIDE = 48 };
    struct pool *p = pool_create(COUNT, SIZE, NULL, NULL);
    ck_assert_ptr_nonnull(p);
    void **obj = take_all_sorted(p, COUNT);
    char *first = obj[0];
    int local;
    switch ((enum owns_kind)_i) {
    case OWNS_START:
        for (size_t i = 0; i < COUNT; i++)
            ck_assert(pool_owns(p, obj[i]));
        break;
    case OWNS_FREE_START: /* free or not */
        put_all(p, obj, COUNT);
        for (size_t i = 0; i < COUNT; i++)
            ck_assert(pool_owns(p, obj[i]));
        free(obj);
        obj = take_all_sorted(p, COUNT);
        break;
    case OWNS_INTERIOR:
        for (size_t i = 0; i < COUNT; i++) {
            ck_assert(!pool_owns(p, (char *)obj[i] + 1));
            ck_assert(!pool_owns(p, (char *)obj[i] + 16));
            ck_assert(!pool_owns(p, (char *)obj[i] + SIZE - 1));
        }
        break;
    case OWNS_TAIL: /* between the object's size and the next stride */
        for (size_t i = 0; i < COUNT; i++)
            ck_assert(!pool_owns(p, (char *)obj[i] + SIZE));
        break;
    case OWNS_BEFORE:
        ck_assert(!pool_owns(p, first - 1));
        ck_assert(!pool_owns(p, first - STRIDE));
        break;
    case OWNS_AFTER:
        ck_assert(!pool_owns(p, first + COUNT * STRIDE));
        ck_assert(!pool_owns(p, first + (COUNT + 1) * STRIDE));
        break;
    case OWNS_NULL:
        ck_assert(!pool_owns(p, NULL));
        break;
    case OWNS_STACK:
        ck_assert(!pool_owns(p, &local));
        break;
    case OWNS_MALLOC: {
        void *m = malloc(SIZE);
        ck_assert(!pool_owns(p, m));
        free(m);
        break;
    }
    case OWNS_OTHER_POOL: {
        struct pool *q = pool_create(COUNT, SIZE, NULL, NULL);
        ck_assert_ptr_nonnull(q);
        void *o = pool_try_get(q);
        ck_assert(pool_owns(q, o));
        ck_assert(!pool_owns(p, o));
        for (size_t i = 0; i < COUNT; i++)
            ck_assert(!pool_owns(q, obj[i]));
        pool_put(q, o);
        pool_destroy(q);
        break;
    }
    case OWNS_KINDS:
        break;
    }
    put_all(p, obj, COUNT);
    free(obj);
    pool_destroy(p);
}
END_TEST

/* ---- misuse ---- */

enum misuse {
    MISUSE_STACK, MISUSE_MALLOC, MISUSE_INTERIOR, MISUSE_BEFORE, MISUSE_AFTER,
    MISUSE_OTHER_POOL, MISUSE_DOUBLE_PUT, MISUSE_DOUBLE_PUT_LATER,
    MISUSE_NEVER_HANDED_OUT, MISUSE_KINDS
};

static const char *const misuse_names[] = {
    "stack pointer", "malloc pointer", "interior pointer", "one byte before",
    "first byte after", "another pool's object", "double put",
    "double put after other puts", "put of a free object never handed out",
};

/* Perform one misuse: it must not return. */
static void do_misuse(int kind, int addr_fd)
{
    struct pool *p = pool_create(8, 40, NULL, NULL);
    if (p == NULL)
        _exit(2);
    char *a = pool_try_get(p), *b = pool_try_get(p);
    int local = 0;
    void *bad = NULL;
    switch ((enum misuse)kind) {
    case MISUSE_STACK:
        bad = &local;
        break;
    case MISUSE_MALLOC:
        bad = malloc(40);
        break;
    case MISUSE_INTERIOR:
        bad = a + 16;
        break;
    case MISUSE_BEFORE: /* the block (8 * 48 bytes) starts on a page */
        bad = (char *)((uintptr_t)a & ~(uintptr_t)(tu_page_size() - 1)) - 1;
        break;
    case MISUSE_AFTER:
        bad = (char *)((uintptr_t)a & ~(uintptr_t)(tu_page_size() - 1)) + 8 * 48;
        break;
    case MISUSE_OTHER_POOL: {
        struct pool *q = pool_create(8, 40, NULL, NULL);
        if (q == NULL)
            _exit(2);
        bad = pool_try_get(q);
        break;
    }
    case MISUSE_DOUBLE_PUT:
        pool_put(p, a);
        bad = a;
        break;
    case MISUSE_DOUBLE_PUT_LATER:
        pool_put(p, a);
        pool_put(p, b);
        bad = a;
        break;
    case MISUSE_NEVER_HANDED_OUT: {
        /* a neighbour of a or b that neither is: still free */
        for (int d = -2; d <= 2 && bad == NULL; d++) {
            char *c = a + d * 48;
            if (c != a && c != b && pool_owns(p, c))
                bad = c;
        }
        break;
    }
    case MISUSE_KINDS:
        break;
    }
    tu_report_addr(addr_fd, bad);
    pool_put(p, bad);
}

START_TEST(misuse_raises_sigabrt)
{
    do_misuse(_i, -1);
}
END_TEST

START_TEST(misuse_message)
{
    struct tu_death d;
    ck_assert_msg(tu_fork_misuse(do_misuse, _i, &d) == 0, "%s: cannot run the child: %s",
                  misuse_names[_i], strerror(errno));
    ck_assert_msg(d.sig == SIGABRT, "%s: child ended with signal %d, stderr \"%s\"",
                  misuse_names[_i], d.sig, d.msg);
    ck_assert_msg(strncmp(d.msg, "pool: ", 6) == 0, "%s: message \"%s\"",
                  misuse_names[_i], d.msg);
    ck_assert_msg(strstr(d.msg, "pool_put()") != NULL, "%s: message \"%s\"",
                  misuse_names[_i], d.msg);
    /* exactly one line */
    size_t len = strlen(d.msg);
    ck_assert_msg(len > 0 && d.msg[len - 1] == '\n' && strchr(d.msg, '\n') == d.msg + len - 1,
                  "%s: not one line: \"%s\"", misuse_names[_i], d.msg);
    ck_assert_ptr_nonnull(d.addr);
    ck_assert_msg(tu_mentions_addr(d.msg, d.addr), "%s: \"%s\" does not name %p",
                  misuse_names[_i], d.msg, d.addr);
}
END_TEST

/* ---- threaded stress ---- */

enum { STRESS_OBJECTS = 32 };

static void *stress_get(void *p, void *ctx, uint64_t r)
{
    (void)ctx, (void)r;
    return pool_try_get(p);
}

static void stress_put(void *p, void *ctx, void *obj)
{
    (void)ctx;
    pool_put(p, obj);
}

static bool stress_owns(void *p, const void *obj)
{
    return pool_owns(p, obj);
}

START_TEST(stress_threads)
{
    struct pool *p = pool_create(STRESS_OBJECTS, sizeof(struct stress_token), NULL, NULL);
    ck_assert_ptr_nonnull(p);
    stress_run(&(struct stress_ops){.arg = p, .get = stress_get, .put = stress_put,
                                    .owns = stress_owns});
    ck_assert_uint_eq(pool_available(p), pool_capacity(p));

    /* Every object accounted for exactly once, and free. */
    void **obj = take_all_sorted(p, STRESS_OBJECTS);
    for (size_t i = 0; i < STRESS_OBJECTS; i++)
        ck_assert(pool_owns(p, obj[i]));
    stress_assert_free(obj, STRESS_OBJECTS);
    put_all(p, obj, STRESS_OBJECTS);
    ck_assert_uint_eq(pool_available(p), STRESS_OBJECTS);
    free(obj);
    pool_destroy(p);
}
END_TEST

/* ---- the suite ---- */

static void pool_cases(Suite *s)
{
    int ng = (int)N_ELEMS(geometries);

    TCase *tc = add_tcase(s, "create", 0, TC_PLAIN);
    tcase_add_loop_test(tc, create_reports_geometry, 0, ng);
    tcase_add_loop_test(tc, create_errno, 0, (int)N_ELEMS(bad_creates));
    tcase_add_loop_test(tc, create_near_size_max_is_enomem, 0, (int)N_ELEMS(near_size_max));
    add_tests(tc, create_destroy_leaks_nothing, destroy_null_is_noop);

    tc = add_tcase(s, "init", 0, TC_PLAIN);
    tcase_add_loop_test(tc, init_once_per_object, 0, ng);
    tcase_add_loop_test(tc, init_null_zeroes, 0, ng);

    tc = add_tcase(s, "get_put", 0, TC_PLAIN);
    tcase_add_loop_test(tc, exhaust_at_exactly_count, 0, ng);
    tcase_add_loop_test(tc, layout_and_alignment, 0, ng);
    add_tests(tc, reset_once_per_put);
    tcase_add_loop_test(tc, contents_survive_put_get, 0, ng);

    tc = add_tcase(s, "guard", 0, TC_PLAIN);
    tcase_add_checked_fixture(tc, guard_setup, guard_teardown);
    add_tests(tc, guard_end_of_scope, guard_two_in_one_scope, guard_return, guard_break,
              guard_continue, guard_goto, guard_null_when_exhausted, guard_keep_detaches);

    tc = add_tcase(s, "owns", 0, TC_PLAIN);
    tcase_add_loop_test(tc, owns, 0, OWNS_KINDS);

    tc = add_tcase(s, "misuse", 0, TC_PLAIN);
    tcase_add_loop_test_raise_signal(tc, misuse_raises_sigabrt, SIGABRT, 0, MISUSE_KINDS);
    tcase_add_loop_test(tc, misuse_message, 0, MISUSE_KINDS);

    add_tcase(s, "stress", 30, TC_PLAIN, stress_threads);
}

TU_SUITE("pool", pool_cases, 0);
